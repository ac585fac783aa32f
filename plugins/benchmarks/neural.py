"""`neural-v1`, `neural-v2`, `neural-v4`, `neural-it`: every layer's Brain-Score neural predictivity.

The region's public recordings (V1/V2: FreemanZiemba2013.public, V4/IT: MajajHong2015.public; see
:mod:`.neural_data`) are averaged over the data set's time window and over repetitions. The stimuli are placed
on the model's screen (:mod:`.screen`: the data set's visual degrees inside the model's field, default 8°)
and fed to the activation engine in one pass for all scoreable layers, each PCA-reduced to at most 1000
dimensions on a reference set (default: the benchmark's own placed stimuli, at most ``reference_size``;
``reference=PATH`` takes a folder of images instead). The model's input is the whole screen resized to its
input size, as Brain-Score's PyTorch wrapper does (no centre crop).

Each layer is scored with :mod:`memscore_plugins.metrics.neural_predictivity` (PLS-25, 10 stratified 90/10
splits, Pearson per site, median over sites, mean over splits) and normalised by the split-half ceiling
as ``brainscore_vision`` does today: ``r² / ceiling``. The model **commits** the layer with the highest raw r
to the region (``Score.meta["layer"]``); its ceiled value is the benchmark score.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from memscore.activations import Extractor
from memscore.arguments import Arg
from memscore.benchmark import Benchmark, RunOptions
from memscore.errors import DataError, OptionError
from memscore.fingerprint import DataInfo, digest
from memscore.model import MIN_UNITS, Model
from memscore.scores import Score
from memscore.stimuli import Stimuli, reference_set

from .lamem_pls import ENGINE_ARGS, check_layers, parse_layers

REGIONS = ("V1", "V2", "V4", "IT")
MODEL_DEGREES = 8  # Brain-Score's default field of view of a model


class ScreenExtractor(Extractor):
    """The engine with Brain-Score's screen input (whole image resized to the input size); keyed apart."""

    def __init__(self, model: Model, **kwargs):
        from memscore_plugins.benchmarks.screen import screen_transform

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


class NeuralBenchmark(Benchmark):
    version = "1"
    arguments = (
        Arg("region", str, None, "brain region (fixed by the registration)", choices=REGIONS),
        Arg("dataset", _dataset, None, "data set name or BrainIO JSON manifest (default: the region's public one)",
            expect="a data set name or a manifest .json file"),
        Arg("source", str, "local", "read BrainIO files (local) or through brainscore_vision",
            choices=("local", "brainscore")),
        Arg("n_components", int, 25, "PLS components", min=1),
        Arg("splits", int, 10, "cross-validation splits (stratified 90/10)", min=2, max=1000),
        Arg("visual_degrees", float, MODEL_DEGREES, "the model's field of view in degrees", min=0.1, max=180),
        Arg("time_window", _window, None, "response window in ms, e.g. 70-170 (default: the data set's)",
            expect="<start>-<end> in ms, e.g. 70-170"),
        Arg("stratification", str, "default", "stimulus column to stratify splits by (none: plain splits)"),
        Arg("ceiling", str, "split-half", "ceiling (split-half: Brain-Score; none: raw r)",
            choices=("split-half", "none")),
        *ENGINE_ARGS,
        Arg("layers", parse_layers, None, "score only these layers (joined by +)", expect="layer names joined by +"),
        Arg("regression", str, "pls", "regression metric inside neural-pls, by name"),
    )

    def __init__(self, region: str, dataset: str | None = None, source: str = "local", pca: int = 1000,
                 reference: str | None = None, reference_size: int = 1000, n_components: int = 25,
                 splits: int = 10, visual_degrees: float = MODEL_DEGREES, time_window: Any = None,
                 stratification: str | None = "default", ceiling: str = "split-half", min_units: int = MIN_UNITS,
                 layers: Any = None, image_size: int | None = None, regression: str = "pls"):
        self.regression = regression
        region = str(region).upper()
        if region not in REGIONS:
            raise OptionError(f"region={region!r}: use one of {', '.join(REGIONS)}")
        self.region = region
        self.identifier = f"neural-{region.lower()}"
        self.dataset = str(dataset) if dataset else None
        self.source = source
        self.pca = int(pca or 0)
        self.reference = reference
        self.reference_size = int(reference_size)
        self.n_components = int(n_components)
        self.n_splits = int(splits)
        self.visual_degrees = float(visual_degrees)
        self.time_window = time_window if isinstance(time_window, tuple) or time_window is None \
            else _window(time_window)
        self.stratification = None if str(stratification).lower() in ("none", "") else stratification
        self.ceiling_mode = ceiling
        self.min_units = int(min_units)
        self.layer_names = parse_layers(layers)
        self.image_size = image_size
        self._loaded: dict = {}

    def config(self) -> dict[str, Any]:
        # no paths: which recordings a run read is keyed by their content (data())
        ds = self.dataset
        if ds and ds.endswith(".json"):
            ds = "manifest"
        return {"region": self.region, "dataset": ds, "source": self.source, "pca": self.pca,
                "reference": "folder" if self.reference else "stimuli",
                "reference_size": self.reference_size, "n_components": self.n_components,
                "splits": self.n_splits, "visual_degrees": self.visual_degrees,
                "time_window": list(self.time_window) if self.time_window else None,
                "stratification": self.stratification, "ceiling": self.ceiling_mode, "min_units": self.min_units,
                "layers": self.layer_names, "image_size": self.image_size,
                **({"regression": self.regression} if self.regression != "pls" else {})}

    # -- data ----------------------------------------------------------------------------------
    def load_data(self, options: RunOptions):
        """The region's data (loaded once per data root and limit) and its sites with missing responses."""
        from memscore_plugins.benchmarks.neural_data import load_region

        key = (str(options.data_root), options.limit)
        if key in self._loaded:
            return self._loaded[key]
        data = load_region(self.region, data_root=options.data_root, dataset=self.dataset, source=self.source,
                           time_window=self.time_window, stratification=self.stratification)
        if options.limit:
            data = data.subset(min(int(options.limit), len(data)))
        bad_sites = ~np.isfinite(data.responses).all(axis=0)
        if bad_sites.all():
            raise DataError(f"{data.source}: every {self.region} site has missing responses")
        self._loaded = {key: (data, bad_sites)}
        return data, bad_sites

    def data(self, options: RunOptions) -> DataInfo:
        """The recordings' fingerprint: the responses as read (time window and repetitions applied), the
        sites, the stimulus images' bytes and their visual degrees, the PCA reference folder's images."""
        data, bad_sites = self.load_data(options)
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

    # -- run -----------------------------------------------------------------------------------
    def run(self, model: Model, options: RunOptions) -> Score:
        from memscore import paths
        from memscore.metrics import Fold, load_metric_for
        from memscore_plugins.benchmarks.screen import place_on_screen
        from memscore_plugins.metrics import neural_predictivity as npred

        t_all = time.perf_counter()
        data, bad_sites = self.load_data(options)
        Y = data.responses[:, ~bad_sites]
        sites = [s for s, b in zip(data.site_ids, bad_sites) if not b]
        # ceiling (model-independent), a metric loaded by name like the predictivity
        ceil = None
        if self.ceiling_mode == "split-half":
            if data.trial_repetition is None:
                raise DataError(f"{data.source} has no 'repetition' coordinate on presentation: the split-half "
                                f"ceiling needs single-trial responses; use the un-averaged assembly, or "
                                f"--benchmark-args ceiling=none to report raw r only")
            labels = np.column_stack([data.trial_stimulus, data.trial_repetition])
            plan = npred.ceiling_folds(data.trial_repetition, n_splits=self.n_splits)
            ceil = npred.Ceiling(np.stack([r.per_target for r in
                                           load_metric_for("split-half")(data.trials[:, ~bad_sites], labels, plan)]))
            if not np.isfinite(ceil.value) or ceil.value <= 0:
                raise DataError(f"{data.source}: the {self.region} split-half ceiling is {ceil.value:.3f}; the "
                                f"responses are not reliable across repetitions")

        if len(data) < 30:
            raise OptionError(f"{self.identifier}: only {len(data)} stimuli (--limit too small?); the 10% test "
                              f"sets need at least 30")

        # stimuli on the screen, one engine pass over all layers
        cache = Path(options.cache_dir) if options.cache_dir else paths.cache_dir()
        placed = place_on_screen(data.stimuli, data.spec.visual_degrees, self.visual_degrees, cache,
                                 name=data.spec.identifier, progress=options.progress)
        layers = self.layer_names or model.layers(self.min_units, self.image_size)
        check_layers(model, layers, self.image_size)
        excluded = model.excluded_layers(self.min_units, self.image_size)
        extractor = ScreenExtractor.for_run(
            model, options, n_components=self.pca or None,
            reference=self.reference_set(placed) if self.pca else None, image_size=self.image_size)
        acts = extractor.extract(placed, layers)
        bad_ids = set(acts.bad)
        keep = np.array([sid not in bad_ids for sid in placed.ids])
        idx = np.flatnonzero(keep)
        strata = None if data.strata is None else data.strata[idx]
        try:
            cv = npred.splits(len(idx), strata, n_splits=self.n_splits)
        except ValueError as exc:  # sklearn: too few stimuli per class for stratified 90/10 splits
            if strata is None:
                raise
            raise DataError(f"{data.spec.identifier}: {len(idx)} stimuli in {len(set(strata.tolist()))} "
                            f"{self.stratification or 'stratification'} classes cannot be split 90/10 with every "
                            f"class in each test set ({str(exc).splitlines()[0][:80]}); use more stimuli or "
                            f"--benchmark-args stratification=none") from None

        from tqdm.auto import tqdm

        metric = load_metric_for("neural-pls", regression=self.regression, n_components=self.n_components,
                                 device=extractor.device)
        folds = [Fold(tr, te) for tr, te in cv]
        t0 = time.perf_counter()
        table = []
        results = {}
        for name in tqdm(layers, desc=f"{model.identifier}: {self.identifier} PLS", unit="layer",
                         disable=not options.progress, leave=False):
            X = np.asarray(acts[name])[idx]
            res = npred.Predictivity(np.stack([r.per_target for r in metric(X, Y[idx], folds)]))
            results[name] = res
            ceiled = npred.explained_variance(res.value, ceil.value) if ceil else res.value
            table.append({"layer": name, "value": ceiled, "error": res.error, "raw": res.value,
                          "splits": [float(v) for v in res.split_values], "dims": int(acts[name].shape[1])})
        pls_s = time.perf_counter() - t0
        best = max(table, key=lambda r: -np.inf if not np.isfinite(r["raw"]) else r["raw"])
        res = results[best["layer"]]
        try:
            penultimate = model.penultimate_layer
        except Exception:  # noqa: BLE001 - a model without a clear head
            penultimate = None
        split_rows = [{"split": i, "value": float(v), "n_train": len(tr), "n_test": len(te)}
                      for i, (v, (tr, te)) in enumerate(zip(res.split_values, cv))]
        return Score(
            model=model.identifier, benchmark=self.identifier, benchmark_version=self.version,
            value=best["value"], error=best["error"], ceiling=ceil.value if ceil else None, raw=best["raw"],
            layers=table, splits=split_rows,
            meta={
                "layer": best["layer"], "region": self.region, "penultimate_layer": penultimate,
                "dataset": data.spec.identifier, "source": data.source,
                "normalisation": ("r^2 / ceiling (brainscore_vision explained_variance)" if ceil
                                  else "none (raw Pearson r)"),
                "ceiling_error": ceil.error if ceil else None,
                "ceiling_splits": [float(v) for v in ceil.split_values] if ceil else None,
                "n_stimuli": int(len(idx)), "n_sites": len(sites), "dropped_sites": int(bad_sites.sum()),
                "sites": [{"site": s, "r": float(r)} for s, r in zip(sites, res.per_site)],
                "visual_degrees": {"stimuli": data.spec.visual_degrees, "model": self.visual_degrees},
                "time_bins": [list(b) for b in data.time_bins], "stratification": data.meta.get("stratification"),
                "skipped_images": sorted(acts.bad),
                "excluded_layers": [{"layer": n, "units": u} for n, u in excluded],
                "timings": {**extractor.timings, "pls_s": pls_s, "total_s": time.perf_counter() - t_all},
                "activation_passes": extractor.passes,
            },
        )
