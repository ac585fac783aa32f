"""`lamem-pls`: every layer's memorability accuracy (Harada & Sakai 2023, after Khosla et al. 2015).

For each scoreable layer and each LaMem split k: PLS regression (25 components) from the layer's
(PCA-reduced) activations to split k's train scores, then Spearman rho between predicted and true
scores on split k's test images. A layer's value is the mean over splits, its error the sample sd;
the model's score is its best layer.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from memscore.activations import Extractor
from memscore.benchmark import Benchmark, RunOptions
from memscore.errors import OptionError
from memscore.model import MIN_UNITS, Model
from memscore.scores import Score
from memscore.stimuli import Stimuli, reference_set


def parse_splits(splits: Any) -> list[int]:
    if isinstance(splits, int):
        out = [splits]
    else:
        try:
            out = [int(s) for s in str(splits).replace("+", ",").replace(";", ",").split(",") if s.strip()]
        except ValueError:
            out = []
    if not out or any(k < 1 or k > 5 for k in out):
        raise OptionError(f"splits={splits!r}: give LaMem split numbers 1..5, e.g. splits=1,3")
    return sorted(set(out))


class LamemPLS(Benchmark):
    identifier = "lamem-pls"
    version = "1"

    def __init__(self, splits: Any = "1,2,3,4,5", n_components: int = 25, pca: int = 1000,
                 reference: str | None = None, reference_size: int = 1000, min_units: int = MIN_UNITS,
                 layers: str | None = None, image_size: int | None = None):
        self.splits = parse_splits(splits)
        if n_components < 1:
            raise OptionError(f"n_components={n_components}: must be >= 1")
        self.n_components = int(n_components)
        self.pca = int(pca or 0)
        self.reference = reference
        self.reference_size = int(reference_size)
        self.min_units = int(min_units)
        self.layer_names = [s for s in str(layers).replace(";", "+").split("+") if s] if layers else None
        self.image_size = image_size

    def config(self) -> dict[str, Any]:
        return {"splits": self.splits, "n_components": self.n_components, "pca": self.pca,
                "reference": str(Path(self.reference).resolve()) if self.reference else "stimuli",
                "reference_size": self.reference_size, "min_units": self.min_units,
                "layers": self.layer_names, "image_size": self.image_size}

    # -- data ----------------------------------------------------------------------------------
    def load_splits(self, options: RunOptions):
        from memscore_plugins.benchmarks.lamem_data import LaMem

        data = LaMem(options.data_root)
        parts = {k: (data.read_part("train", k), data.read_part("test", k)) for k in self.splits}
        names = sorted({n for tr, te in parts.values() for n in (*tr.names, *te.names)})
        if options.limit:
            names = names[: int(options.limit)]
        stimuli = Stimuli.from_paths([data.image_path(n) for n in names], names)
        return data, parts, stimuli

    def reference_set(self, stimuli: Stimuli) -> Stimuli:
        return reference_set(stimuli, self.reference, self.reference_size)

    # -- run -----------------------------------------------------------------------------------
    def run(self, model: Model, options: RunOptions) -> Score:
        from memscore_plugins.metrics.correlation import spearman
        from memscore_plugins.metrics.pls import Fold, fit_predict

        data, parts, stimuli = self.load_splits(options)
        layers = self.layer_names or model.layers(self.min_units, self.image_size)
        excluded = model.excluded_layers(self.min_units, self.image_size)
        extractor = Extractor.for_run(
            model, options, n_components=self.pca or None,
            reference=self.reference_set(stimuli) if self.pca else None, image_size=self.image_size)
        acts = extractor.extract(stimuli, layers)
        bad = set(acts.bad)
        row = {sid: i for i, sid in enumerate(stimuli.ids) if sid not in bad}

        def index(part) -> tuple[np.ndarray, np.ndarray]:
            keep = [(row[n], s) for n, s in zip(part.names, part.scores) if n in row]
            return np.array([i for i, _ in keep], dtype=np.int64), np.array([s for _, s in keep])

        folds, truths, sizes = [], [], []
        for k in self.splits:
            tr_idx, tr_y = index(parts[k][0])
            te_idx, te_y = index(parts[k][1])
            if len(tr_idx) <= self.n_components or len(te_idx) < 3:
                raise OptionError(f"split {k}: {len(tr_idx)} train / {len(te_idx)} test images left "
                                  f"(--limit too small?); need more than {self.n_components} train images")
            folds.append(Fold(train=tr_idx, y_train=tr_y, test=te_idx))
            truths.append(te_y)
            sizes.append((len(tr_idx), len(te_idx)))

        from tqdm.auto import tqdm

        t0 = time.perf_counter()
        table = []
        for name in tqdm(layers, desc=f"{model.identifier}: PLS", unit="layer", disable=not options.progress,
                         leave=False):
            preds = fit_predict(np.asarray(acts[name]), folds, n_components=self.n_components,
                                device=extractor.device)  # the run's device: PLS on the GPU too
            rhos = [spearman(p, t) for p, t in zip(preds, truths)]
            table.append({"layer": name, "value": float(np.mean(rhos)),
                          "error": float(np.std(rhos, ddof=1)) if len(rhos) > 1 else None,
                          "splits": [float(r) for r in rhos], "dims": int(acts[name].shape[1])})
        pls_s = time.perf_counter() - t0
        best = max(table, key=lambda r: -np.inf if np.isnan(r["value"]) else r["value"])
        splits = [{"split": k, "value": r, "n_train": ntr, "n_test": nte}
                  for k, r, (ntr, nte) in zip(self.splits, best["splits"], sizes)]
        return Score(
            model=model.identifier, benchmark=self.identifier, benchmark_version=self.version,
            value=best["value"], error=best["error"], ceiling=None, raw=best["value"],
            layers=table, splits=splits,
            meta={"layer": best["layer"], "n_stimuli": len(stimuli), "skipped_images": sorted(bad),
                  "excluded_layers": [{"layer": n, "units": u} for n, u in excluded],
                  "data_root": str(data.root), "timings": {**extractor.timings, "pls_s": pls_s},
                  "activation_passes": extractor.passes},
        )
