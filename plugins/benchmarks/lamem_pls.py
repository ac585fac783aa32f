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
from memscore.arguments import Arg
from memscore.benchmark import Benchmark, RunOptions
from memscore.errors import OptionError
from memscore.fingerprint import DataInfo, digest
from memscore.model import MIN_UNITS, Model
from memscore.scores import Score
from memscore.stimuli import Stimuli, reference_set


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


def parse_layers(layers: Any) -> list[str] | None:
    """``"layer1+layer4.1"`` → ["layer1", "layer4.1"] (checked against the model when it runs)."""
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


#: the arguments of the layer-by-layer benchmarks that run the activation engine (shared with lamem-it)
ENGINE_ARGS = (
    Arg("pca", int, 1000, "PCA components per layer (0: no reduction)", min=0),
    Arg("reference", reference_folder, None, "folder of images to fit the PCA on (default: drawn from the stimuli)",
        expect="a folder of images"),
    Arg("reference_size", int, 1000, "number of reference images", min=2),
    Arg("min_units", int, MIN_UNITS, "layers with fewer output units are not scored", min=1),
    Arg("image_size", int, None, "input size (default: the model's own)", min=8, max=4096),
)


def check_layers(model: Model, layers: Sequence[str], image_size: int | None = None) -> None:
    """Every requested layer is one of the model's modules with an output (one line naming the first
    that is not, with close matches)."""
    import difflib

    known = [li.name for li in model.layer_info(image_size)]
    for name in layers:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise OptionError(f"--benchmark-args layers: {model.identifier} has no layer {name!r}{hint}")


class LamemPLS(Benchmark):
    identifier = "lamem-pls"
    version = "1"
    arguments = (
        Arg("splits", parse_splits, "1,2,3,4,5", "LaMem splits to average over", expect="split numbers 1..5, e.g. 1,3"),
        Arg("n_components", int, 25, "PLS components", min=1),
        *ENGINE_ARGS,
        Arg("layers", parse_layers, None, "score only these layers (joined by +)", expect="layer names joined by +"),
        Arg("regression", str, "pls", "regression metric, by name (any registered regression metric)"),
        Arg("correlation", str, "spearman", "correlation metric, by name"),
    )

    def __init__(self, splits: Any = "1,2,3,4,5", n_components: int = 25, pca: int = 1000,
                 reference: str | None = None, reference_size: int = 1000, min_units: int = MIN_UNITS,
                 layers: Any = None, image_size: int | None = None, regression: str = "pls",
                 correlation: str = "spearman"):
        self.regression, self.correlation = regression, correlation
        self.splits = splits if isinstance(splits, list) else parse_splits(splits)
        self.n_components = int(n_components)
        self.pca = int(pca or 0)
        self.reference = reference
        self.reference_size = int(reference_size)
        self.min_units = int(min_units)
        self.layer_names = parse_layers(layers)
        self.image_size = image_size
        self._loaded: dict = {}

    def config(self) -> dict[str, Any]:
        # no paths: the data a run reads (the reference folder included) is keyed by its content (data())
        return {"splits": self.splits, "n_components": self.n_components, "pca": self.pca,
                "reference": "folder" if self.reference else "stimuli",
                "reference_size": self.reference_size, "min_units": self.min_units,
                "layers": self.layer_names, "image_size": self.image_size,
                **({"regression": self.regression} if self.regression != "pls" else {}),
                **({"correlation": self.correlation} if self.correlation != "spearman" else {})}

    # -- data ----------------------------------------------------------------------------------
    def load_splits(self, options: RunOptions):
        """The LaMem data, the (train, test) parts of the chosen splits and the stimuli (loaded once)."""
        from memscore_plugins.benchmarks.lamem_data import LaMem

        key = (str(options.data_root), options.limit)
        if key not in self._loaded:
            data = LaMem(options.data_root)
            parts = {k: (data.read_part("train", k), data.read_part("test", k)) for k in self.splits}
            names = sorted({n for tr, te in parts.values() for n in (*tr.names, *te.names)})
            if options.limit:
                names = names[: int(options.limit)]
            stimuli = Stimuli.from_paths([data.image_path(n) for n in names], names)
            self._loaded = {key: (data, parts, stimuli)}
        return self._loaded[key]

    def reference_set(self, stimuli: Stimuli) -> Stimuli:
        return reference_set(stimuli, self.reference, self.reference_size)

    def data(self, options: RunOptions) -> DataInfo:
        """LaMem's fingerprint: the parsed rows of the split files in use, the images' bytes, the PCA
        reference set's (when it is a folder of its own)."""
        data, parts, stimuli = self.load_splits(options)
        rows = {f"{p}_{k}": digest(part.names, np.asarray(part.scores, dtype=np.float64))
                for k, pair in parts.items() for p, part in zip(("train", "test"), pair)}
        pieces = {**rows, "images": stimuli.digest()}
        if self.pca and self.reference:
            pieces["reference"] = self.reference_set(stimuli).digest()
        return DataInfo(name="lamem", fingerprint=digest(sorted(pieces.items())), root=str(data.root),
                        counts={"images": len(stimuli), **{f"{p}_{k}": len(part) for k, pair in parts.items()
                                                              for p, part in zip(("train", "test"), pair)}},
                        parts=pieces)

    # -- run -----------------------------------------------------------------------------------
    def run(self, model: Model, options: RunOptions) -> Score:
        from memscore.metrics import Fold, load_metric_for

        data, parts, stimuli = self.load_splits(options)
        layers = self.layer_names or model.layers(self.min_units, self.image_size)
        check_layers(model, layers, self.image_size)
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

        # the cross-validation plan: split k fits on train_k and scores test_k, with split k's own scores
        plan, targets, sizes = [], [], []
        for k in self.splits:
            (tr_idx, tr_y), (te_idx, te_y) = (index(parts[k][0]), index(parts[k][1]))
            if len(tr_idx) <= self.n_components or len(te_idx) < 3:
                raise OptionError(f"split {k}: {len(tr_idx)} train / {len(te_idx)} test images left "
                                  f"(--limit too small?); need more than {self.n_components} train images")
            y = np.full(len(stimuli), np.nan)
            y[tr_idx], y[te_idx] = tr_y, te_y
            plan.append(Fold(tr_idx, te_idx))
            targets.append(y)
            sizes.append((len(tr_idx), len(te_idx)))
        regression = load_metric_for(self.regression, n_components=self.n_components, device=extractor.device)
        correlation = load_metric_for(self.correlation)

        from tqdm.auto import tqdm

        t0 = time.perf_counter()
        table = []
        for name in tqdm(layers, desc=f"{model.identifier}: PLS", unit="layer", disable=not options.progress,
                         leave=False):
            fits = regression(np.asarray(acts[name]), targets, plan)  # the run's device: PLS on the GPU too
            rhos = [r.value for r in correlation([f.prediction for f in fits], targets, plan)]
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
