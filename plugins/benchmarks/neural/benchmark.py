"""`neural-v1`, `neural-v2`, `neural-v4`, `neural-it`: every layer's Brain-Score neural predictivity.

The region's public recordings (V1/V2: FreemanZiemba2013.public, V4/IT: MajajHong2015.public; see
:mod:`.neural_data`) are averaged over the data set's time window and over repetitions. The stimuli are placed
on the model's screen (:mod:`.screen`: the data set's visual degrees inside the model's field, default 8°)
and fed to the activation engine in one pass for all scoreable layers, each PCA-reduced to at most 1000
dimensions on a reference set (default: the benchmark's own placed stimuli, at most ``reference_size``;
``reference=PATH`` takes a folder of images instead). The model's input is the whole screen resized to its
input size, as Brain-Score's PyTorch wrapper does (no centre crop).

Each layer is scored with the ``neural-pls`` metric, loaded by name (PLS-25, 10 stratified 90/10
splits, Pearson per site, median over sites, mean over splits) and normalised by the split-half ceiling
as ``brainscore_vision`` does today: ``r² / ceiling``. The model **commits** the layer with the highest raw r
to the region (``Score.meta["layer"]``); its ceiled value is the benchmark score.

``metric=`` swaps the comparison: ``ridgecv`` (the predictivity with ridge), ``rsa``/``cka``/``procrustes``
(similarities ceiled by their own split-half similarity), ``reverse`` (reverse predictivity, Muzellec & Kar 2026,
Brain-Score's ``reverse_pls``: the sites predict the units, Pearson per unit, median; ceiled r² / the
``predictor-consistency`` split-half ceiling, see :mod:`memscore_plugins.metrics.similarity.reverse`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from memscore.activations import Extractor
from memscore.arguments import Arg
from memscore.benchmark import RunOptions
from memscore.layerwise import Context, LayerBenchmark
from memscore.errors import DataError, OptionError
from memscore.fingerprint import DataInfo, digest
from memscore.model import Model
from memscore.scores import Score
from memscore.stimuli import Stimuli, reference_set


REGIONS = ("V1", "V2", "V4", "IT")
#: metric= values: a predictivity (a regression per fold, Pearson per site, median; ceiled r²/c), reverse predictivity
#: (sites -> units, Pearson per unit, median; ceiled r²/c with Brain-Score's predictor-consistency ceiling) or a
#: similarity without a fit (per fold on its test stimuli; ceiled value/c with its own split-half ceiling)
METRICS = ("pls", "ridgecv", "rsa", "cka", "procrustes", "reverse")
SIMILARITIES = ("rsa", "cka", "procrustes")
MODEL_DEGREES = 8  # Brain-Score's default field of view of a model


class ScreenExtractor(Extractor):
    """The engine with Brain-Score's screen input (whole image resized to the input size); keyed apart."""

    def __init__(self, model: Model, **kwargs):
        from memscore_plugins.benchmarks.neural.screen import screen_transform

        super().__init__(model, **kwargs)
        self.transform = screen_transform(model, self.image_size)

    def _model_key(self) -> dict:
        return {**super()._model_key(), "input": "screen-resize"}


def _window(value: Any) -> tuple[float, float] | None:
    if value in (None, "", "default"):
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = (float(v) for v in value)
    else:
        try:
            lo, hi = (float(v) for v in str(value).replace(":", "-").replace("+", "-").split("-"))
        except ValueError:
            raise ValueError("give <start>-<end> in ms") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        raise ValueError("the end must come after the start")
    return lo, hi


def _dataset(value: Any) -> str | None:
    """A built-in data set name or a BrainIO JSON manifest file."""
    if value in (None, ""):
        return None
    s = str(value)
    if s.endswith(".json") and not Path(s).expanduser().is_file():
        raise ValueError(f"no manifest file {s}")
    return s


class NeuralBenchmark(LayerBenchmark):
    version = "1"
    extractor_class = ScreenExtractor
    arguments = (
        Arg("region", str, None, "brain region (fixed by the registration)", choices=REGIONS),
        Arg("dataset", _dataset, None, "data set name or BrainIO JSON manifest (default: the region's public one)",
            expect="a data set name or a manifest .json file",
            keyed=lambda v: "manifest" if v and str(v).endswith(".json") else v),  # a manifest by its content
        Arg("source", str, "local", "read BrainIO files (local) or through brainscore_vision",
            choices=("local", "brainscore")),
        Arg("n_components", int, 25, "PLS components", min=1),
        Arg("folds", int, 10, "cross-validation folds: random stratified 90/10 splits (Brain-Score's 10)",
            min=2, max=1000),
        Arg("visual_degrees", float, MODEL_DEGREES, "the model's field of view in degrees", min=0.1, max=180),
        Arg("time_window", _window, None, "response window in ms, e.g. 70-170 (default: the data set's)",
            expect="<start>-<end> in ms, e.g. 70-170", keyed=lambda v: list(v) if v else None),
        Arg("stratification", str, "default", "stimulus column to stratify splits by (none: plain splits)",
            keyed=lambda v: None if str(v).lower() in ("none", "") else v),
        Arg("ceiling", str, "split-half", "ceiling (split-half: Brain-Score; none: raw r)",
            choices=("split-half", "none")),
        *LayerBenchmark.arguments,
        Arg("regression", str, "pls", "regression metric inside neural-pls, by name", keyed="changed"),
        Arg("metric", str, "pls", "how a layer is compared with the sites: pls (Brain-Score's, default), ridgecv "
            "(predictivity with ridge), rsa, cka, procrustes, reverse (the sites predict the units: Brain-Score's "
            "reverse_pls); several (metric=pls,rsa,cka) store one run each from one activation pass",
            choices=METRICS, keyed="changed"),
    )
    fans_out = "metric"

    def __init__(self, **args: Any):
        super().__init__(**args)  # the declared arguments become attributes (memscore.benchmark.Benchmark)
        self.identifier = f"neural-{str(self.region).lower()}"  # the region names it: neural-v1 ... neural-it

    @property
    def strata_column(self) -> str | None:
        """The stimulus column the folds are stratified by (None: plain splits; "default": the data set's)."""
        return None if str(self.stratification).lower() in ("none", "") else self.stratification

    @property
    def regression_metric(self) -> str:
        """The regression inside the predictivity: ``metric=ridgecv`` is the predictivity with ridge."""
        return "ridgecv" if self.metric == "ridgecv" else self.regression

    # -- data ----------------------------------------------------------------------------------
    @property
    def data_sets(self) -> tuple[str, ...]:
        """``--data-root NAME=PATH`` names of the recordings: the built-in data set's key (majajhong2015,
        freemanziemba2013) or the manifest's identifier."""
        from memscore_plugins.benchmarks.neural.data import DATASETS, manifest_identifier, spec_for_region

        ds = self.dataset
        if ds and (ds.endswith(".json") or Path(ds).expanduser().is_file()):
            return (manifest_identifier(ds),)
        spec = DATASETS.get(ds) if ds else spec_for_region(self.region)
        return (spec.key,) if spec is not None else ()

    def where(self, options: RunOptions) -> tuple[str | None, Path | None]:
        """(dataset, folder) to read: ``dataset=`` as given; else a JSON manifest given as the root (named
        after this benchmark or its data set, or unnamed), or as ``NAME=PATH.json`` where NAME is the
        manifest's own identifier; else the built-in data set in the resolved folder."""
        from memscore_plugins.benchmarks.neural.data import manifest_identifier

        root = options.data_root
        if self.dataset:
            return self.dataset, root
        if root is not None and Path(root).suffix.lower() == ".json":
            return str(root), None
        if root is None:
            for name, path in options.data_roots.items():
                if path.suffix.lower() == ".json" and path.is_file() and \
                        manifest_identifier(path).lower() == name.lower():
                    options.data_roots.claim(name)
                    return str(path), None
        return None, root

    def load(self, options: RunOptions):
        """The region's data, its sites with missing responses, and the ceiling (model-independent: a bad
        ceiling fails before any model runs)."""
        from memscore.metrics import load_metric_for, shuffle_split, summarize
        from memscore_plugins.benchmarks.neural.data import load_region

        dataset, root = self.where(options)
        data = load_region(self.region, data_root=root, dataset=dataset, source=self.source,
                           time_window=self.time_window, stratification=self.strata_column)
        if options.limit:
            data = data.subset(min(int(options.limit), len(data)))
        bad_sites = ~np.isfinite(data.responses).all(axis=0)
        if bad_sites.all():
            raise DataError(f"{data.source}: every {self.region} site has missing responses")
        ceil = None
        if self.ceiling == "split-half":  # a metric loaded by name like the predictivity
            if data.trial_repetition is None:
                raise DataError(f"{data.source} has no 'repetition' coordinate on presentation: the split-half "
                                f"ceiling needs single-trial responses; use the un-averaged assembly, or "
                                f"--benchmark-args ceiling=none to report raw r only")
            reps = np.unique(data.trial_repetition)
            if len(reps) < 2:
                raise DataError(f"{data.source}: {len(reps)} repetition value(s); a split-half ceiling needs at "
                                f"least 2 (or --benchmark-args ceiling=none)")
            labels = np.column_stack([data.trial_stimulus, data.trial_repetition])
            plan = shuffle_split(len(reps), n_splits=self.folds, train_size=0.5)  # halves of the repetitions
            if self.metric in SIMILARITIES:
                ceil = summarize(_similarity_ceiling(self.metric, data, bad_sites, plan))
            elif self.metric == "reverse":  # Brain-Score's reverse_pls ceiling: each image's repetitions halved
                from memscore_plugins.metrics.similarity.reverse import predictor_consistency_folds

                halves = predictor_consistency_folds(data.trial_stimulus, data.trial_repetition, n_splits=self.folds)
                ceil = summarize(load_metric_for("predictor-consistency")(data.trials[:, ~bad_sites],
                                                                          data.trial_stimulus, halves))
            else:
                ceil = summarize(load_metric_for("split-half")(data.trials[:, ~bad_sites], labels, plan))
            if not np.isfinite(ceil.value) or ceil.value <= 0:
                raise DataError(f"{data.source}: the {self.region} split-half ceiling is {ceil.value:.3f}; the "
                                f"responses are not reliable across repetitions")
        if len(data) < 30:
            raise OptionError(f"{self.identifier}: only {len(data)} stimuli (--limit too small?); the 10% test "
                              f"sets need at least 30")
        return data, bad_sites, ceil

    def load_data(self, options: RunOptions):
        data, bad_sites, _ = self.loaded(options)
        return data, bad_sites

    def stimuli(self, loaded, options: RunOptions) -> Stimuli:
        """The stimuli placed on the model's screen (cached)."""
        from memscore import paths
        from memscore_plugins.benchmarks.neural.screen import place_on_screen

        data = loaded[0]
        if "placed" not in data.meta:
            cache = Path(options.cache_dir) if options.cache_dir else paths.cache_dir()
            data.meta["placed"] = place_on_screen(data.stimuli, data.spec.visual_degrees, self.visual_degrees, cache,
                                                  name=data.spec.identifier, progress=options.progress)
        return data.meta["placed"]

    def data(self, options: RunOptions) -> DataInfo:
        """The recordings' fingerprint: the responses as read (time window and repetitions applied), the
        sites, the stimulus images' bytes and their visual degrees, the PCA reference folder's images."""
        data, bad_sites, _ = self.loaded(options)
        pieces = {
            "responses": digest(data.responses, data.trials, data.trial_stimulus, data.trial_repetition,
                                [str(s) for s in data.site_ids], data.strata,
                                [list(b) for b in data.time_bins]),
            "stimuli": data.stimuli.digest(),
            "visual_degrees": digest(data.spec.visual_degrees),
        }
        if self.pca and self.reference:
            pieces["reference"] = Stimuli.from_folder(self.reference, limit=self.reference_size).digest()
        return DataInfo(name=data.spec.identifier, fingerprint=digest(sorted(pieces.items())), root=str(data.source),
                        counts={"stimuli": len(data), "sites": int(len(data.site_ids)),
                                "presentations": int(len(data.trial_stimulus))}, parts=pieces)

    def reference_set(self, stimuli: Stimuli) -> Stimuli:
        return reference_set(stimuli, self.reference, self.reference_size)

    # -- scoring -------------------------------------------------------------------------------
    def prepare(self, loaded, stimuli: Stimuli, context: Context, options: RunOptions) -> Context:
        from memscore.metrics import Fold, load_metric_for, shuffle_split

        data, bad_sites, ceil = loaded
        idx = np.flatnonzero(context.keep)
        strata = None if data.strata is None else data.strata[idx]
        try:
            cv = [(f.train, f.test) for f in shuffle_split(len(idx), strata, n_splits=self.folds)]
        except ValueError as exc:  # sklearn: too few stimuli per class for stratified 90/10 splits
            if strata is None:
                raise
            raise DataError(f"{data.spec.identifier}: {len(idx)} stimuli in {len(set(strata.tolist()))} "
                            f"{self.strata_column or 'stratification'} classes cannot be split 90/10 with every "
                            f"class in each test set ({str(exc).splitlines()[0][:80]}); use more stimuli or "
                            f"--benchmark-args stratification=none") from None
        context.extra.update(
            idx=idx, cv=cv, folds=[Fold(tr, te) for tr, te in cv], ceil=ceil, data=data,
            Y=data.responses[:, ~bad_sites][idx], sites=[s for s, b in zip(data.site_ids, bad_sites) if not b],
            bad_sites=bad_sites, seed=options.seed, ids=[stimuli.ids[i] for i in idx],
            metric=load_metric_for(self.metric, device=context.device) if self.metric in SIMILARITIES else
            load_metric_for("reverse" if self.metric == "reverse" else "neural-pls", regression=self.regression_metric,
                            n_components=self.n_components, device=context.device))
        return context

    def score_layer(self, X: np.ndarray, context: Context) -> dict[str, Any]:
        from memscore.metrics import summarize

        fits = context.metric(X[context.idx], context.Y, context.folds)
        res = summarize(fits)
        if self.metric in SIMILARITIES:  # a similarity against its own split-half similarity: value / ceiling
            ceiled = res.value / context.ceil.value if context.ceil else res.value
        else:  # Brain-Score's normalisation (explained_variance): r² / ceiling
            ceiled = res.value ** 2 / context.ceil.value if context.ceil else res.value
        row = {"value": ceiled, "error": res.error, "raw": res.value,
               "splits": [float(v) for v in res.split_values], "_result": res}
        # the predictions of the best layer so far (the committed one: the highest raw r, the first on ties), for
        # the reported CI; one layer's at a time, whatever the model's depth
        best = context.extra.get("best_raw")
        if self.metric not in SIMILARITIES and fits and fits[0].prediction is not None and np.isfinite(res.value) \
                and (best is None or res.value > best):
            context.extra.update(best_raw=res.value, best_predictions=(context.layer, [
                np.asarray(f.prediction, dtype=np.float32).reshape(len(fold.test), -1)
                for f, fold in zip(fits, context.folds)]))
            if self.metric == "reverse":  # what reverse predicts: the layer's units on each fold's test stimuli
                units = np.asarray(X[context.idx], dtype=np.float32)
                context.extra["best_truth"] = [units[fold.test].reshape(len(fold.test), -1) for fold in context.folds]
        return row

    def rank(self, row: dict[str, Any]) -> float:
        return row["raw"]  # the layer committed to the region: the best raw r

    def summary(self, best: dict[str, Any], context: Context) -> dict[str, Any]:
        res = context.kept[best["layer"]]["_result"]
        data, ceil = context.data, context.ceil
        layer, preds = context.extra.get("best_predictions") or (None, None)
        preds = preds if layer == best["layer"] else None
        if preds is not None:  # per-item outputs: each fold's test stimuli x sites (units for reverse), float32;
            from memscore.items import items_of  # the run's CI resamples each fold's stimuli, sites kept whole

            truth = (context.extra["best_truth"] if self.metric == "reverse"  # reverse predicts the units
                     else [context.Y[f.test] for f in context.folds])
            context.kept[best["layer"]]["_items"] = items_of(
                [(k, [context.ids[i] for i in f.test], p, t) for k, (f, p, t) in enumerate(zip(context.folds, preds,
                                                                                              truth))],
                layer=best["layer"], statistic="median-pearson", ceiling=ceil.value if ceil else None)
        return {
            "value": best["value"], "error": best["error"], "ceiling": ceil.value if ceil else None, "raw": best["raw"],
            "splits": [{"split": i, "value": float(v), "n_train": len(tr), "n_test": len(te)}
                       for i, (v, (tr, te)) in enumerate(zip(res.split_values, context.cv))],
            "meta": {
                "region": self.region, "dataset": data.spec.identifier, "source": data.source,
                "metric": self.metric,
                **({"bootstrap": {"n_boot": 1000, "seed": context.seed, "level": 0.95,
                                  "over": "each fold's test stimuli ({} kept whole), ceiled as the value".format(
                                      "units" if self.metric == "reverse" else "sites")}}
                   if preds is not None else {}),
                "normalisation": ((f"{self.metric} / its split-half {self.metric} (repetition halves)"
                                   if self.metric in SIMILARITIES else
                                   "r^2 / predictor-consistency ceiling (brainscore_vision reverse_pls: "
                                   "explained_variance, SplitHalfPredictorConsistency)" if self.metric == "reverse" else
                                   "r^2 / ceiling (brainscore_vision explained_variance)") if ceil
                                  else f"none (raw {'Pearson r' if self.metric not in SIMILARITIES else self.metric})"),
                "ceiling_error": ceil.error if ceil else None,
                "ceiling_splits": [float(v) for v in ceil.split_values] if ceil else None,
                "n_sites": len(context.sites), "dropped_sites": int(context.bad_sites.sum()),
                "sites": ([{"site": s, "r": float(r)} for s, r in zip(context.sites, res.per_target)]
                          if res.per_target is not None and self.metric != "reverse" else None),
                **({"unit_r": [float(r) for r in res.per_target] if res.per_target is not None else None}
                   if self.metric == "reverse" else {}),
                "visual_degrees": {"stimuli": data.spec.visual_degrees, "model": self.visual_degrees},
                "time_bins": [list(b) for b in data.time_bins], "stratification": data.meta.get("stratification"),
            },
        }

    def run(self, model: Model, options: RunOptions) -> Score:
        score = super().run(model, options)
        try:
            score.meta["penultimate_layer"] = model.penultimate_layer
        except Exception:  # noqa: BLE001 - a model without a clear head
            score.meta["penultimate_layer"] = None
        return score


def _similarity_ceiling(metric: str, data, bad_sites: np.ndarray, plan) -> list:
    """The split-half ceiling of a similarity metric: per plan fold, the responses averaged over each half of
    the repetitions, and the metric between the two halves over all stimuli (what a perfect model's
    similarity is bounded by, given the recordings' noise)."""
    from memscore.metrics import Fold, FoldResult, load_metric_for, mean_by

    reps = np.unique(data.trial_repetition)
    _, stim = np.unique(data.trial_stimulus, return_inverse=True)
    n = int(stim.max()) + 1
    trials = np.asarray(data.trials, dtype=np.float64)[:, ~bad_sites]
    measure = load_metric_for(metric)
    out = []
    for fold in plan:
        first = np.isin(data.trial_repetition, reps[np.asarray(fold.train)])
        a, b = mean_by(trials[first], stim[first], n), mean_by(trials[~first], stim[~first], n)
        ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
        out.append(FoldResult(value=measure(a[ok], b[ok], [Fold.all(int(ok.sum()))])[0].value))
    return out
