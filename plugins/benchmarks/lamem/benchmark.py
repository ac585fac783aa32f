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

from .shared import MIN_SHARED, kind_of, shared_source


def parse_splits(splits: Any, *, name: str = "LaMem", n: int = 5) -> list[int]:
    """Split numbers of data set ``name`` (LaMem's by default), which has splits 1..``n``: ``3``, ``"1,3"``,
    ``"1+3"`` → sorted unique numbers in 1..n."""
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
    if not out or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 or k > n for k in out):
        raise ValueError(f"{name} split numbers are 1..{n}")
    return sorted(set(out))


def split_parser(name: str, n: int):
    """:func:`parse_splits` for data set ``name`` with splits 1..``n`` (a declared argument's type)."""
    if (name, n) == ("LaMem", 5):
        return parse_splits

    def parse_splits_of(splits: Any) -> list[int]:
        return parse_splits(splits, name=name, n=n)

    parse_splits_of.__name__ = parse_splits_of.__qualname__ = "parse_splits"
    return parse_splits_of



def part_rows(part, row: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, scores) of a split part's images that are stimuli rows (``row``: id -> row, decodable only)."""
    keep = [(row[n], s) for n, s in zip(part.names, part.scores) if n in row]
    return np.array([i for i, _ in keep], dtype=np.int64), np.array([s for _, s in keep])


def splits_arg(help: str = "LaMem splits to average over", *, name: str = "LaMem", n: int = 5) -> Arg:
    """The ``splits`` argument every LaMem-split benchmark declares (1..5, default all); a data set with ``n``
    splits (SUN memorability: 25) declares its own, under its ``name``."""
    return Arg("splits", split_parser(name, n), ",".join(map(str, range(1, n + 1))), help,
               expect=f"split numbers 1..{n}, e.g. 1,3")


class LamemPLS(LayerBenchmark):
    identifier = "lamem-pls"
    data_sets = ("lamem",)
    version = "1"
    #: the data set's published human split-half consistency (Spearman rho between two halves of the
    #: participants) and its source: the score's ``ceiling``, ``meta.normalised`` = value / ceiling (the value
    #: stays the raw rho, the paper's). It describes the official data; a subset or a copy of other data is not it.
    human_consistency: tuple[float, str] | None = (
        0.68, "Khosla et al. 2015 (ICCV), LaMem: rank correlation between two halves of the participants")
    arguments = (
        splits_arg(),
        Arg("n_components", int, 25, "PLS components", min=1),
        *LayerBenchmark.arguments,
        Arg("regression", str, "pls", "regression metric, by name (any registered regression metric)",
            keyed="changed"),
        Arg("correlation", str, "spearman", "correlation metric, by name", keyed="changed"),
        Arg("select", str, "test", "which split picks the reported layer: test (the paper's best-on-test) or val "
            "(chosen on split k's val images, reported on its test images: no selection bias)",
            choices=("test", "val"), keyed="changed"),
        Arg("shared_with", shared_source, None, "score each split's test Spearman only over its test images that are "
            "also stimuli of this set (a neural data manifest .json, or a stimulus-set .csv with filename): same file "
            "name and same bytes; training unchanged",
            expect="a neural data manifest .json or a stimulus-set .csv", keyed=False),  # keyed by config()/data
    )

    # -- data ----------------------------------------------------------------------------------
    def open_data(self, options: RunOptions):
        """The data set on disk (a subclass scores another memorability set with the same protocol: anything
        with ``read_part(part, k)`` giving names and scores, ``image_path(name)`` and ``root``)."""
        from memscore_plugins.benchmarks.lamem.data import LaMem

        return LaMem(options.data_root)

    def load(self, options: RunOptions):
        """The data set, the (train, test) parts of the chosen splits, the stimuli and (select=val) the val parts."""
        data = self.open_data(options)
        parts = {k: (data.read_part("train", k), data.read_part("test", k)) for k in self.splits}
        vals = {k: data.read_part("val", k) for k in self.splits} if self.select == "val" else {}
        names = sorted({n for tr, te in parts.values() for n in (*tr.names, *te.names)}
                       | {n for va in vals.values() for n in va.names})
        if options.limit:
            names = names[: int(options.limit)]
            kept = set(names)  # too few images left is said now, not after the forward passes
            for k, (tr, te) in parts.items():
                self._check_split(k, sum(n in kept for n in tr.names), sum(n in kept for n in te.names),
                                  sum(n in kept for n in vals[k].names) if vals else None)
        return data, parts, Stimuli.from_paths([data.image_path(n) for n in names], names), vals

    def _check_split(self, k: int, n_train: int, n_test: int, n_val: int | None = None) -> None:
        if n_train <= self.n_components or n_test < 3:
            raise OptionError(f"split {k}: {n_train} train / {n_test} test images left "
                              f"(--limit too small?); need more than {self.n_components} train images")
        if n_val is not None and n_val < 3:
            raise OptionError(f"split {k}: {n_val} val images left (--limit too small?); select=val needs at "
                              f"least 3 to choose a layer on")

    load_splits = LayerBenchmark.loaded  # (data, parts, stimuli, val parts: {} unless select=val)

    def config(self) -> dict[str, Any]:
        """The declared arguments as keyed; ``shared_with`` (when given) as the kind of set, never its path: what
        it restricts the scoring to is keyed as data (:meth:`data_parts`)."""
        out = super().config()
        if getattr(self, "shared_with", None):
            out["shared_with"] = kind_of(self.shared_with)
        return out

    def shared(self, loaded):
        """The test images shared with ``shared_with``'s stimulus set (:mod:`.shared`), once per load; None
        without it. Too few in a split is one line, before any model runs."""
        if not getattr(self, "shared_with", None):
            return None
        memo = getattr(self, "_shared_memo", None)
        if memo is None or memo[0] is not loaded:
            from .shared import match, read_stimulus_set

            data, parts, stimuli, _ = loaded
            found = match(read_stimulus_set(self.shared_with), {n for _, te in parts.values() for n in te.names},
                          data.image_path)
            present = set(stimuli.ids)
            for k, (_, te) in parts.items():
                self._check_shared(k, sum(n in found.names and n in present for n in te.names), len(te), found)
            self._shared_memo = memo = (loaded, found)
        return memo[1]

    def _check_shared(self, k: int, n_shared: int, n_test: int, found) -> None:
        if n_shared < MIN_SHARED:
            other = (f"; {len(found.other_content)} more have a stimulus's name but other bytes"
                     if found.other_content else "")
            raise OptionError(f"{self.identifier} split {k}: {n_shared} of its {n_test} test images are stimuli of "
                              f"{found.set.name} (shared_with={found.set.source}){other}; need at least {MIN_SHARED}: "
                              f"give a stimulus set that shares more of this data set's images, other splits "
                              f"(splits=...), or no shared_with")

    def stimuli(self, loaded, options: RunOptions) -> Stimuli:
        return loaded[2]

    def data_parts(self, loaded, options: RunOptions) -> dict[str, str]:
        """The parsed rows of the split files in use (the images' bytes are the stimuli's part)."""
        parts = {f"{p}_{k}": digest(part.names, np.asarray(part.scores, dtype=np.float64))
                 for k, pair in loaded[1].items() for p, part in zip(("train", "test"), pair)}
        parts |= {f"val_{k}": digest(part.names, np.asarray(part.scores, dtype=np.float64))
                  for k, part in loaded[3].items()}
        shared = self.shared(loaded)
        if shared is not None:  # the test images scored: the shared ones, and the set they are shared with
            parts["shared_with"] = shared.digest
        return parts

    def data(self, options: RunOptions) -> DataInfo:
        info = super().data(options)
        data, parts, stimuli, _ = self.loaded(options)
        info.parts["images"] = info.parts.pop("stimuli")
        info.fingerprint = digest(sorted(info.parts.items()))
        info.name, info.root = self.data_sets[0], str(data.root)
        info.counts = {"images": len(stimuli), **{f"{p}_{k}": len(part) for k, pair in parts.items()
                                                  for p, part in zip(("train", "test"), pair)}}
        shared = self.shared(self.loaded(options))
        if shared is not None:
            info.counts["shared_test_images"] = len(shared.names)
        return info

    # -- scoring -------------------------------------------------------------------------------
    def prepare(self, loaded, stimuli: Stimuli, context: Context, options: RunOptions) -> Context:
        """Split k fits on train_k and scores test_k, with split k's own scores (never merged)."""
        from memscore.metrics import Fold, load_metric_for

        data, parts, _, vals = loaded
        shared = self.shared(loaded)
        row = {sid: i for i, sid in enumerate(stimuli.ids) if context.keep[i]}
        plan, tests, val_plan, targets, sizes, on_shared = [], [], [], [], [], []
        for k in self.splits:
            (tr_idx, tr_y), (te_idx, te_y) = part_rows(parts[k][0], row), part_rows(parts[k][1], row)
            if shared is not None:  # scored on the shared test images only; the readout's training is unchanged
                keep = np.array([stimuli.ids[i] in shared.names for i in te_idx], dtype=bool)
                self._check_shared(k, int(keep.sum()), len(te_idx), shared)
                on_shared.append({"split": k, "shared": int(keep.sum()), "test": len(te_idx)})
                te_idx, te_y = te_idx[keep], te_y[keep]
            va_idx, va_y = part_rows(vals[k], row) if vals else (np.empty(0, dtype=np.int64), np.empty(0))
            self._check_split(k, len(tr_idx), len(te_idx), len(va_idx) if vals else None)
            y = np.full(len(stimuli), np.nan)
            y[tr_idx], y[te_idx] = tr_y, te_y
            y[va_idx] = va_y  # a val image is in no other part of split k
            # the regression predicts test (and val) rows from one fit on train; scoring keeps them apart
            plan.append(Fold(tr_idx, np.concatenate([te_idx, va_idx])))
            tests.append(Fold(tr_idx, te_idx))
            val_plan.append(Fold(tr_idx, va_idx))
            targets.append(y)
            sizes.append((len(tr_idx), len(te_idx)))
        ids = [tuple(stimuli.ids[i] for i in f.test) for f in tests]  # shared by every layer's items
        context.extra.update(
            plan=plan, tests=tests, val_plan=val_plan, ids=ids, targets=targets, sizes=sizes, root=str(data.root),
            n_stimuli=len(stimuli), shared=shared, on_shared=on_shared,
            regression=load_metric_for(self.regression, n_components=self.n_components, device=context.device),
            correlation=load_metric_for(self.correlation))
        return context

    def predict(self, X: np.ndarray, context: Context) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per split, the layer's predictions for the test and for the val rows (empty unless select=val): the
        readout fitted on train_k, once for both."""
        fits = context.regression(X, context.targets, context.plan)  # the run's device: PLS on the GPU too
        preds = [np.asarray(f.prediction) for f in fits]
        n_test = [len(f.test) for f in context.tests]
        return [p[:n] for p, n in zip(preds, n_test)], [p[n:] for p, n in zip(preds, n_test)]

    def score_layer(self, X: np.ndarray, context: Context) -> dict[str, Any]:
        from memscore.items import items_of

        test_preds, val_preds = self.predict(X, context)
        rhos = [r.value for r in context.correlation(test_preds, context.targets, context.tests)]
        row = {"value": float(np.mean(rhos)), "error": float(np.std(rhos, ddof=1)) if len(rhos) > 1 else None,
               "splits": [float(r) for r in rhos]}
        if self.select == "val":
            val = [r.value for r in context.correlation(val_preds, context.targets, context.val_plan)]
            row["val"], row["val_splits"] = float(np.mean(val)), [float(r) for r in val]
        if self.correlation in ("spearman", "pearson"):  # per-item outputs, for CIs and paired comparisons
            row["_items"] = items_of([(k, ids, p, np.asarray(y)[f.test]) for k, ids, p, y, f in zip(
                self.splits, context.ids, test_preds, context.targets, context.tests)], layer=None,
                statistic=f"mean-{self.correlation}")
        return row

    def test_images(self, loaded) -> dict[str, set[str]]:
        shared = self.shared(loaded)
        return {self.data_sets[0]: {n for _, te in loaded[1].values() for n in te.names
                                    if shared is None or n in shared.names}}

    def part_images(self, loaded, data: str, split: int, part: str) -> set[str] | None:
        try:
            return set(loaded[0].read_part(part, int(split)).names) if data == self.data_sets[0] else None
        except Exception:  # noqa: BLE001 - a split this copy does not have: unknown, so the whole set counts
            return None

    def rank(self, row: dict[str, Any]) -> float:
        """select=test: the layer's test value (the paper's protocol); select=val: its val value."""
        return row["val"] if self.select == "val" else row["value"]

    def summary(self, best: dict[str, Any], context: Context) -> dict[str, Any]:
        shared = context.extra.get("shared")
        human = self.human_consistency if shared is None else None  # the published figure is for the whole set
        return {"ceiling": human[0] if human else None, "raw": best["value"],
                "splits": [{"split": k, "value": r, "n_train": ntr, "n_test": nte}
                           for k, r, (ntr, nte) in zip(self.splits, best["splits"], context.sizes)],
                "meta": {"n_stimuli": context.n_stimuli, "data_root": context.root, **self._selection(best, context),
                         **({"normalised": best["value"] / human[0], "ceiling_source": human[1]} if human else {}),
                         **({"shared_with": shared.record(context.on_shared)} if shared is not None else {})}}

    def _selection(self, best: dict[str, Any], context: Context) -> dict[str, Any]:
        """How the reported layer was chosen, and (select=val) the best-on-test layer beside it: the gap is
        the selection bias the paper's protocol carries."""
        if self.select != "val":
            return {"select": "test"}
        top = max(context.table, key=lambda r: r["value"] if np.isfinite(r["value"]) else -np.inf)
        return {"select": "val", "val_value": best["val"],
                "best_on_test": {"layer": top["layer"], "value": top["value"]}}
