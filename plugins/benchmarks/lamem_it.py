"""`lamem-it`: LaMem memorability (exactly as `lamem-pls`) at the one layer the model commits to IT.

The commitment is the stored current `neural-it` score of the same model, weights and model arguments
(:mod:`memscore.commitments`); when there is none, `neural-it` is scored first (and stored). The LaMem
activations of that layer come from the engine's cache when `lamem-pls` already ran with the same settings.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from memscore.benchmark import RunOptions
from memscore.model import MIN_UNITS, Model
from memscore.scores import Score

from .lamem_pls import LamemPLS


class LamemIT(LamemPLS):
    identifier = "lamem-it"
    version = "1"
    region = "IT"

    def __init__(self, splits: Any = "1,2,3,4,5", n_components: int = 25, pca: int = 1000,
                 reference: str | None = None, reference_size: int = 1000, min_units: int = MIN_UNITS,
                 image_size: int | None = None, neural_data_root: str | None = None, **neural: Any):
        """``neural_<key>=value`` passes ``<key>=value`` to `neural-it` (e.g. ``neural_dataset=PATH.json``)."""
        import inspect

        from memscore.errors import OptionError

        from .neural import NeuralBenchmark

        super().__init__(splits=splits, n_components=n_components, pca=pca, reference=reference,
                         reference_size=reference_size, min_units=min_units, layers=None, image_size=image_size)
        self.neural_data_root = neural_data_root
        valid = [n for n in inspect.signature(NeuralBenchmark).parameters if n != "region"]
        self._neural: dict[str, Any] = {}
        for key, value in neural.items():
            sub = key[len("neural_"):] if key.startswith("neural_") else None
            if sub not in valid:
                raise OptionError(f"--benchmark-args: unknown key {key!r}; lamem-it takes the lamem-pls keys, "
                                  f"neural_data_root, and neural_<key> for neural-it ({', '.join(valid)})")
            self._neural[sub] = value

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg.pop("layers", None)
        cfg.update({"region": self.region, "neural_args": self.neural_args()})
        return cfg

    def neural_args(self) -> dict[str, Any]:
        args = dict(self._neural)
        if args.get("dataset") and Path(str(args["dataset"])).expanduser().exists():
            args["dataset"] = str(Path(str(args["dataset"])).expanduser().resolve())
        return args

    def run(self, model: Model, options: RunOptions) -> Score:
        from memscore.commitments import commit

        neural_options = dataclasses.replace(  # the run's options, but the whole neural data set
            options, limit=None, extra={},
            data_root=Path(self.neural_data_root).expanduser() if self.neural_data_root else None)
        c = commit(model.identifier, self.region, weights=model.weights, model_args=model.meta.get("model_args"),
                   benchmark_args=self.neural_args() or None, options=neural_options)
        self.layer_names = [c.layer]
        score = super().run(model, options)
        score.meta.update({"layer": c.layer, "region": self.region, "commitment": c.to_dict()})
        return score
