"""`lamem-pls`: every layer's memorability accuracy (Harada & Sakai 2023, after Khosla et al. 2015).

For each scoreable layer and each LaMem split k: PLS regression (25 components) from the layer's
(PCA-reduced) activations to split k's train scores, then Spearman rho between predicted and true
scores on split k's test images. A layer's value is the mean over splits, its error the sample sd;
the model's score is its best layer.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from memscore.arguments import Arg
from memscore.benchmark import RunOptions
from memscore.errors import OptionError
from memscore.fingerprint import DataInfo, digest
from memscore.layerwise import Context, LayerBenchmark
from memscore.stimuli import Stimuli


def parse_splits(splits: Any) -> list[int]:
    """LaMem split numbers: ``3``, ``"1,3"``, ``"1+3"`` → sorted unique numbers in 1..5."""
    if isinstance(splits, bool):
        out = []
    elif isinstance(splits, int):
        out = [splits]
    elif isinstance(splits, (list, tuple)):
        out = list(splits)
    else:
        try:
            out = [int(s) for s in str(splits).replace("+", ",").replace(";", ",").split(",") if s.strip()]
        except ValueError:
            out = []
    if not out or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 or k > 5 for k in out):
        raise ValueError("LaMem split numbers are 1..5")
    return sorted(set(out))



class LamemPLS(LayerBenchmark):
    identifier = "lamem-pls"
    data_sets = ("lamem",)
    version = "1"
    arguments = (
        Arg("splits", parse_splits, "1,2,3,4,5", "LaMem splits to average over", expect="split numbers 1..5, e.g. 1,3"),
        Arg("n_components", int, 25, "PLS components", min=1),
        *LayerBenchmark.arguments,
        Arg("regression", str, "pls", "regression metric, by name (any registered regression metric)",
            keyed="changed"),
        Arg("correlation", str, "spearman", "correlation metric, by name", keyed="changed"),
    )

    # -- data ----------------------------------------------------------------------------------
    def load(self, options: RunOptions):
        """The LaMem data, the (train, test) parts of the chosen splits and the stimuli."""
        from memscore_plugins.benchmarks.lamem.data import LaMem

        data = LaMem(options.data_root)
        parts = {k: (data.read_part("train", k), data.read_part("test", k)) for k in self.splits}
        names = sorted({n for tr, te in parts.values() for n in (*tr.names, *te.names)})
        if options.limit:
            names = names[: int(options.limit)]
            kept = set(names)  # too few images left is said now, not after the forward passes
            for k, (tr, te) in parts.items():
                self._check_split(k, sum(n in kept for n in tr.names), sum(n in kept for n in te.names))
        return data, parts, Stimuli.from_paths([data.image_path(n) for n in names], names)

    def _check_split(self, k: int, n_train: int, n_test: int) -> None:
        if n_train <= self.n_components or n_test < 3:
            raise OptionError(f"split {k}: {n_train} train / {n_test} test images left "
                              f"(--limit too small?); need more than {self.n_components} train images")

    load_splits = LayerBenchmark.loaded  # (data, parts, stimuli)

    def stimuli(self, loaded, options: RunOptions) -> Stimuli:
        return loaded[2]

    def data_parts(self, loaded, options: RunOptions) -> dict[str, str]:
        """The parsed rows of the split files in use (the images' bytes are the stimuli's part)."""
        return {f"{p}_{k}": digest(part.names, np.asarray(part.scores, dtype=np.float64))
                for k, pair in loaded[1].items() for p, part in zip(("train", "test"), pair)}

    def data(self, options: RunOptions) -> DataInfo:
        info = super().data(options)
        data, parts, stimuli = self.loaded(options)
        info.parts["images"] = info.parts.pop("stimuli")
        info.fingerprint = digest(sorted(info.parts.items()))
        info.name, info.root = "lamem", str(data.root)
        info.counts = {"images": len(stimuli), **{f"{p}_{k}": len(part) for k, pair in parts.items()
                                                  for p, part in zip(("train", "test"), pair)}}
        return info

    # -- scoring -------------------------------------------------------------------------------
    def prepare(self, loaded, stimuli: Stimuli, context: Context, options: RunOptions) -> Context:
        """Split k fits on train_k and scores test_k, with split k's own scores (never merged)."""
        from memscore.metrics import Fold, load_metric_for

        data, parts, _ = loaded
        row = {sid: i for i, sid in enumerate(stimuli.ids) if context.keep[i]}

        def index(part) -> tuple[np.ndarray, np.ndarray]:
            keep = [(row[n], s) for n, s in zip(part.names, part.scores) if n in row]
            return np.array([i for i, _ in keep], dtype=np.int64), np.array([s for _, s in keep])

        plan, targets, sizes = [], [], []
        for k in self.splits:
            (tr_idx, tr_y), (te_idx, te_y) = index(parts[k][0]), index(parts[k][1])
            self._check_split(k, len(tr_idx), len(te_idx))
            y = np.full(len(stimuli), np.nan)
            y[tr_idx], y[te_idx] = tr_y, te_y
            plan.append(Fold(tr_idx, te_idx))
            targets.append(y)
            sizes.append((len(tr_idx), len(te_idx)))
        context.extra.update(
            plan=plan, targets=targets, sizes=sizes, root=str(data.root), n_stimuli=len(stimuli),
            regression=load_metric_for(self.regression, n_components=self.n_components, device=context.device),
            correlation=load_metric_for(self.correlation))
        return context

    def score_layer(self, X: np.ndarray, context: Context) -> dict[str, Any]:
        fits = context.regression(X, context.targets, context.plan)  # the run's device: PLS on the GPU too
        rhos = [r.value for r in context.correlation([f.prediction for f in fits], context.targets, context.plan)]
        return {"value": float(np.mean(rhos)), "error": float(np.std(rhos, ddof=1)) if len(rhos) > 1 else None,
                "splits": [float(r) for r in rhos]}

    def summary(self, best: dict[str, Any], context: Context) -> dict[str, Any]:
        return {"ceiling": None, "raw": best["value"],
                "splits": [{"split": k, "value": r, "n_train": ntr, "n_test": nte}
                           for k, r, (ntr, nte) in zip(self.splits, best["splits"], context.sizes)],
                "meta": {"n_stimuli": context.n_stimuli, "data_root": context.root}}
