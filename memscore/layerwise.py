"""The layer-by-layer benchmark, written once (as Brain-Score's ``NeuralBenchmark`` is shared).

A subclass supplies its data and how one layer is scored; this class runs the engine over every
scoreable layer in one pass, builds the per-layer table, picks the best layer and fills the score's
provenance. A whole benchmark::

    class MeanActivation(LayerBenchmark):
        identifier = "mean-activation"

        def load(self, options):
            return Stimuli.from_folder(options.data_root)

        def stimuli(self, loaded, options):
            return loaded

        def score_layer(self, X, context):
            return {"value": float(X[context.keep].mean())}

``data(options)`` defaults to the stimuli's content fingerprint plus :meth:`data_parts`.
"""
from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .arguments import Arg
from .benchmark import Benchmark, RunOptions
from .errors import OptionError
from .fingerprint import DataInfo, digest
from .model import LAYER_RULE, MIN_UNITS, Model
from .scores import Score
from .stimuli import Stimuli, reference_set

__all__ = ["LayerBenchmark", "Context", "ENGINE_ARGS", "LAYERS_ARG", "parse_layers", "check_layers",
           "canonical_layers"]


def parse_layers(layers: Any) -> list[str] | None:
    """``"layer1+layer4.1"`` (or a list) → ["layer1", "layer4.1"]; checked against the model when it runs."""
    if layers is None:
        return None
    if isinstance(layers, (list, tuple)):
        names = [str(s).strip() for s in layers if str(s).strip()]
    else:
        names = [s.strip() for s in str(layers).replace(";", "+").split("+") if s.strip()]
    if not names:
        raise ValueError("give layer names joined by +")
    return names


def reference_folder(value: Any) -> str | None:
    """A folder of reference images for the PCA fit (None: drawn from the stimuli)."""
    if value in (None, "stimuli"):
        return None
    p = Path(str(value)).expanduser()
    if not p.is_dir():
        raise ValueError(f"{p} is not a folder")
    return str(p.resolve())


def check_layers(model: Model, layers: Sequence[str], image_size: int | None = None) -> None:
    """Every requested layer is one of the model's modules with an output (one line naming the first that
    is not, with close matches); aliases are accepted (see :func:`canonical_layers`)."""
    known = [li.name for li in model.layer_info(image_size)]
    for name in layers:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise OptionError(f"--benchmark-args layers: {model.identifier} has no layer {name!r}{hint}")


def canonical_layers(model: Model, layers: Sequence[str], image_size: int | None = None) -> list[str]:
    """The requested layers under their canonical names, each once, in the order asked: an alias (a module
    handing on another layer's output unmodified, :func:`memscore.model.discover_layers`) is scored as its
    layer, with a one-line notice."""
    from .notice import notice

    out: list[str] = []
    for name in layers:
        canon = model.canonical(name, image_size)
        if canon != name:
            notice(f"layer {name} of {model.identifier} hands on the output of {canon} unmodified "
                   f"(an alias); scored as {canon}")
        if canon not in out:
            out.append(canon)
    return out


#: the engine's arguments, shared by every layer-by-layer benchmark
ENGINE_ARGS = (
    Arg("pca", int, 1000, "PCA components per layer (0: no reduction)", min=0),
    Arg("reference", reference_folder, None, "folder of images to fit the PCA on (default: drawn from the stimuli)",
        expect="a folder of images", keyed=lambda v: "folder" if v else "stimuli"),
    Arg("reference_size", int, 1000, "number of reference images", min=2),
    Arg("min_units", int, MIN_UNITS, "layers with fewer output units are not scored", min=1),
    Arg("image_size", int, None, "input size (default: the model's own)", min=8, max=4096),
)
LAYERS_ARG = Arg("layers", parse_layers, None, "score only these layers (joined by +; an alias is scored as its layer)",
                 expect="layer names joined by +")


@dataclass
class Context:
    """What :meth:`LayerBenchmark.prepare` hands each layer's scoring: the rows that decoded (``keep``) and
    whatever the benchmark prepared once for all layers (targets, folds, metrics)."""

    keep: np.ndarray  # bool per stimulus: False where the image could not be decoded (--skip-bad-images)
    device: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: activations of :meth:`LayerBenchmark.other_stimuli`, by name
    other: dict[str, Any] = field(default_factory=dict)
    layer: str | None = None  # the layer being scored
    table: list[dict[str, Any]] = field(default_factory=list)  # every layer's row, once all are scored
    #: per layer, what its :meth:`LayerBenchmark.score_layer` returned under keys starting with "_" (kept for
    #: :meth:`LayerBenchmark.summary`, never stored in the table): ``kept[layer]["_items"]``
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["extra"][name]
        except KeyError:
            raise AttributeError(name) from None


class LayerBenchmark(Benchmark):
    """Base class of benchmarks that score every layer; see the module docstring."""

    arguments = (*ENGINE_ARGS, LAYERS_ARG)
    #: the engine class (a subclass may present stimuli differently, e.g. on a screen)
    extractor_class = None
    #: how the engine reduces each layer: "pca" (the PCA-k projection) or "norm" (one L2 norm per stimulus)
    reducer = "pca"

    def __init__(self, **args: Any):
        self.layers: list[str] | None = None  # every scoreable layer, unless the benchmark declares `layers`
        super().__init__(**args)
        self._loaded: dict = {}

    @property
    def layer_names(self) -> list[str] | None:
        """The layers asked for (the ``layers`` argument), None for every scoreable layer."""
        return self.layers

    @layer_names.setter
    def layer_names(self, names: list[str] | None) -> None:
        self.layers = names

    def engine_config(self) -> dict[str, Any]:
        """The engine's settings as keyed (no paths: a reference folder is keyed by its content). ``layer_rule``
        keys which modules are layers (:data:`memscore.model.LAYER_RULE`): a stored score whose table was
        built under another rule is never served."""
        engine = {a.name for a in (*ENGINE_ARGS, LAYERS_ARG)}
        return {k: v for k, v in Benchmark.config(self).items() if k in engine} | {"layer_rule": LAYER_RULE}

    def config(self) -> dict[str, Any]:
        """Every declared argument as keyed, and which modules are layers."""
        return {**Benchmark.config(self), "layer_rule": LAYER_RULE}

    # -- what a subclass supplies ------------------------------------------------------------------
    def load(self, options: RunOptions) -> Any:
        """Read the data set (once per data root and ``--limit``; :meth:`loaded` caches it)."""
        raise NotImplementedError

    def stimuli(self, loaded: Any, options: RunOptions) -> Stimuli:
        """The images to run through the model."""
        raise NotImplementedError

    def other_stimuli(self, loaded: Any, options: RunOptions) -> dict[str, Stimuli]:
        """Further image sets to run through the model with the same engine (PCA basis, caches), each by a
        name: a transfer benchmark's target set. Their activations reach :meth:`score_layer` as
        ``context.other[name]`` (an :class:`~memscore.activations.Activations`; ``context.layer`` names the
        layer being scored). Default: none."""
        return {}

    def test_images(self, loaded: Any) -> dict[str, set[str]]:
        """The images each data set's score is computed on, by data set name (for training-data marks):
        ``{"lamem": {...test_k names...}}``. Default: none (no mark is possible)."""
        return {}

    def part_images(self, loaded: Any, data: str, split: int, part: str) -> set[str] | None:
        """The images of ``part`` of split ``split`` of data set ``data`` (a model trained on them declares
        so); None where unknown (the whole data set then counts as seen)."""
        return None

    def prepare(self, loaded: Any, stimuli: Stimuli, context: Context, options: RunOptions) -> Context:
        """Anything computed once for all layers (targets, cross-validation plan, metrics)."""
        return context

    def score_layer(self, X: np.ndarray, context: Context) -> dict[str, Any]:
        """One layer's row: at least ``value``; ``error``, ``raw``, ``splits`` and more as the benchmark has them.
        ``X`` is (stimuli × features), zeros in the rows ``context.keep`` marks as undecodable."""
        raise NotImplementedError

    def rank(self, row: dict[str, Any]) -> float:
        """What picks the best layer (default: its value)."""
        return row["value"]

    def summary(self, best: dict[str, Any], context: Context) -> dict[str, Any]:
        """The score's fields from the best layer's row: value, error, ceiling, raw, splits, meta."""
        return {}

    def data_parts(self, loaded: Any, options: RunOptions) -> dict[str, str]:
        """Fingerprints of what besides the stimuli' bytes a run reads (targets, recordings)."""
        return {}

    # -- written once ------------------------------------------------------------------------------
    def loaded(self, options: RunOptions) -> Any:
        key = (str(options.data_root), options.limit)
        if key not in self._loaded:
            try:
                self._loaded = {key: self.load(options)}
            except (OSError, ValueError, IndexError, KeyError, TypeError, AttributeError) as exc:
                from .errors import DataError  # a plugin's own reading: one line

                name = (self.data_sets or (self.identifier,))[0]
                if options.data_root is None and isinstance(exc, (TypeError, AttributeError)):
                    raise DataError(f"{self.identifier}: no data folder was given; give --data-root "
                                    f"{name}=PATH (or --data-root PATH)") from None
                if isinstance(exc, (TypeError, AttributeError)):
                    raise
                what = getattr(exc, "filename", None) or options.data_root
                why = getattr(exc, "strerror", None) or f"{type(exc).__name__}: {exc}"
                at = f" at {what}" if what is not None else ""  # never "at None": no root was given
                raise DataError(f"{self.identifier}: cannot read its data{at} ({why}); check --data-root "
                                f"{name}=PATH and its data arguments (--benchmark-args)") from None
        return self._loaded[key]

    def reference_set(self, stimuli: Stimuli) -> Stimuli:
        return reference_set(stimuli, self.reference, self.reference_size)

    def data(self, options: RunOptions) -> DataInfo:
        loaded = self.loaded(options)
        stimuli = self.stimuli(loaded, options)
        pieces = {"stimuli": stimuli.digest(), **self.data_parts(loaded, options),
                  **{f"stimuli:{n}": s.digest() for n, s in self.other_stimuli(loaded, options).items()}}
        if self.pca and self.reference:
            pieces["reference"] = self.reference_set(stimuli).digest()
        return DataInfo(name=self.identifier, fingerprint=digest(sorted(pieces.items())),
                        counts={"stimuli": len(stimuli)}, root=str(options.data_root or ""), parts=pieces)

    def _engine(self, model: Model, options: RunOptions, stimuli: Stimuli):
        """(the layers to score under their canonical names, the engine set up for this run)."""
        from .activations import Extractor

        layers = self.layer_names or model.layers(self.min_units, self.image_size)
        check_layers(model, layers, self.image_size)
        layers = canonical_layers(model, layers, self.image_size)
        engine = (self.extractor_class or Extractor).for_run(
            model, options, n_components=self.pca or None,
            reference=self.reference_set(stimuli) if self.pca and self.reducer == "pca" else None,
            image_size=self.image_size, reducer=self.reducer)
        return layers, engine

    def estimate(self, model: Model, options: RunOptions) -> list[dict[str, Any]]:
        """What a run would compute, write, hold and take, per stimulus set, without running it (``--dry-run``)."""
        from .cost import estimate_seconds

        loaded = self.loaded(options)
        stimuli = self.stimuli(loaded, options)
        layers, engine = self._engine(model, options, stimuli)
        out = []
        for name, s in {self.identifier: stimuli, **self.other_stimuli(loaded, options)}.items():
            cost = engine.plan(s, layers)
            out.append({"stimuli": name, "cost": cost, "seconds": estimate_seconds(engine, cost, layers)})
        return out

    def run(self, model: Model, options: RunOptions) -> Score:
        from tqdm.auto import tqdm

        t_all = time.perf_counter()
        loaded = self.loaded(options)
        stimuli = self.stimuli(loaded, options)
        layers, engine = self._engine(model, options, stimuli)
        info = {li.name: li for li in model.layer_info(self.image_size)}
        excluded = model.excluded_layers(self.min_units, self.image_size)
        acts = engine.extract(stimuli, layers)
        other = {name: engine.extract(s, layers) for name, s in self.other_stimuli(loaded, options).items()}
        bad = set(acts.bad)
        context = Context(np.array([s not in bad for s in stimuli.ids], dtype=bool), engine.device, other=other)
        context = self.prepare(loaded, stimuli, context, options)
        t0 = time.perf_counter()
        table = []
        for name in tqdm(layers, desc=f"{model.identifier}: {self.identifier}", unit="layer",
                         disable=not options.progress, leave=False):
            context.layer = name
            row = self.score_layer(np.asarray(acts[name]), context)
            # keys starting with "_" (per-item outputs, a metric's full result) are kept aside, not in the table
            context.kept[name] = {k: row.pop(k) for k in [k for k in row if k.startswith("_")]}
            table.append({"layer": name, **row, "dims": int(acts[name].shape[1]),
                          "depth": info[name].depth, "aliases": list(info[name].aliases)})
        score_s = time.perf_counter() - t0
        best = max(table, key=lambda r: r_ if np.isfinite(r_ := _num(self.rank(r))) else -np.inf)
        context.table = table
        out = self.summary(best, context)
        meta = {"layer": best["layer"], "n_stimuli": int(context.keep.sum()), "skipped_images": sorted(bad),
                "excluded_layers": [{"layer": n, "units": u} for n, u in excluded],
                "timings": {**engine.timings, "pls_s": score_s, "total_s": time.perf_counter() - t_all},
                "activation_passes": engine.passes, **out.get("meta", {})}
        seen = training_marks(self, model, loaded)
        if seen:
            meta["saw_test_images"] = seen
        reported = context.kept[best["layer"]].get("_items")
        ci = None
        if reported is not None:  # a seeded bootstrap over the reported layer's test items
            from .stats import LEVEL, N_BOOT, bootstrap_ci

            ci = bootstrap_ci(reported, seed=options.seed)
            meta.setdefault("bootstrap", {"n_boot": N_BOOT, "seed": options.seed, "level": LEVEL,
                                          "over": "test items"})
        return Score(model=model.identifier, benchmark=self.identifier, benchmark_version=str(self.version),
                     value=out.get("value", best["value"]), error=out.get("error", best.get("error")),
                     ceiling=out.get("ceiling"), raw=out.get("raw", best.get("raw", best["value"])),
                     layers=table, splits=out.get("splits", []), meta=meta, ci=out.get("ci", ci),
                     items=reported.to_dict() if reported is not None else None)


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def training_marks(bench: "LayerBenchmark", model: Model, loaded: Any) -> list[dict[str, Any]]:
    """What of the benchmark's test images the model was trained on, from its ``meta["trained_on"]``
    (``{"data": "lamem", "split": 1, "parts": ["train", "val"]}``; a bare data set name or an entry without a
    split: the whole set): one entry per data set it saw test images of, with how many (None: unknown)."""
    tests = bench.test_images(loaded)
    out = []
    for entry in model.meta.get("trained_on") or []:
        entry = {"data": entry} if isinstance(entry, str) else dict(entry)
        test = tests.get(entry.get("data"))
        if not test:
            continue
        split, parts = entry.get("split"), entry.get("parts") or ["train"]
        seen: set[str] | None = set()
        for part in parts:
            names = bench.part_images(loaded, entry["data"], split, part) if split is not None else None
            if names is None:
                seen = None
                break
            seen |= names & test
        if seen is None or seen:
            out.append({**entry, "test_images_seen": None if seen is None else len(seen), "test_images": len(test)})
    return out
