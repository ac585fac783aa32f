"""`lamem-magnitude`: how well a layer's response *magnitude* alone tracks memorability — no fitting.

Jaegle et al. (2019, eLife) relate image memorability to the magnitude of IT responses. Per layer and LaMem
split k: Spearman's rho between each test image's L2 norm of the layer's whole output (no PCA: the engine
reduces each layer to that one number per image) and its test_k score; a layer's value is the mean over
splits. ``select=val`` picks the reported layer on the val images as `lamem-pls` does.
"""
from __future__ import annotations

import numpy as np

from memscore.arguments import Arg
from memscore.layerwise import LAYERS_ARG, Context
from memscore.model import MIN_UNITS
from memscore_plugins.benchmarks.lamem.benchmark import LamemPLS, splits_arg


class LamemMagnitude(LamemPLS):
    identifier = "lamem-magnitude"
    version = "1"
    reducer = "norm"
    pca, reference, reference_size = 0, None, 0  # no PCA: the norm of the whole output
    regression, n_components = "pls", 1  # (LamemPLS's plan is reused; nothing is fitted)
    arguments = (
        splits_arg(),
        Arg("min_units", int, MIN_UNITS, "layers with fewer output units are not scored", min=1),
        Arg("image_size", int, None, "input size (default: the model's own)", min=8, max=4096),
        LAYERS_ARG,
        Arg("correlation", str, "spearman", "correlation metric, by name", keyed="changed"),
        Arg("select", str, "test", "which split picks the reported layer: test or val", choices=("test", "val"),
            keyed="changed"),
    )

    def predict(self, X: np.ndarray, context: Context) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The "prediction" is the image's response magnitude itself (X holds one L2 norm per image)."""
        norm = np.asarray(X, dtype=np.float64)[:, 0]
        return [norm[f.test] for f in context.tests], [norm[f.test] for f in context.val_plan]
