"""`lamem-finetune`: the paper's fine-tuning benchmark, and fine-tuned models as first-class models.

For each LaMem split k (all five by default): the model's classifier is replaced by one output unit,
all layers are trained on ``train_k`` with the paper's recipe (see
:mod:`memscore_plugins.benchmarks.finetune.trainer`), early-stopped on ``val_k``'s Spearman rho, and
the best epoch's weights are scored once on ``test_k`` — read only after training ends. The score is
the mean test rho over splits, its error the sample sd; ``Score.splits`` has one row per split.

On disk (``$MEMSCORE_HOME``)::

    finetune/<model>/<train-hash>/config.json          what the hash stands for
    finetune/<model>/<train-hash>/split<k>/checkpoint.pt   after every epoch (deleted when done)
    finetune/<model>/<train-hash>/split<k>/best-e<E>.pt    best weights so far
    finetune/<model>/<train-hash>/split<k>/result.json     a finished split: never retrained
    finetune/<model>/<train-hash>/split<k>/best.pt         its best weights (hard link of the export)
    finetuned/<model>@lamem<k>[-<hash8>].pt (+ .json)      the fine-tuned model, as a model name

``<train-hash>`` covers everything that changes a split's training: benchmark version, recipe, seed,
``--limit``, ``--skip-bad-images``, the base model's name, weights and parameter fingerprint (so a new
head initialisation or other weights never reuse a checkpoint). Speed options (workers, cache, device
batching) are not in it. A fine-tuned model is named ``finetuned:<model>@lamem<k>`` when it was trained
with the paper's recipe (defaults, seed 0, no ``--limit``) from non-random weights, else
``finetuned:<model>@lamem<k>-<hash8>``. An existing file for a name is never overwritten silently: a
file from a different training moves to ``finetuned/history/`` (with a warning) before the new one lands.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from memscore.arguments import Arg
from memscore.benchmark import Benchmark, RunOptions
from memscore.errors import MemscoreError, OptionError
from memscore.fingerprint import DataInfo, digest
from memscore.stimuli import Stimuli
from memscore.model import Model
from memscore.scores import Score

from memscore_plugins.benchmarks.finetune.store import OUTPUT
from memscore_plugins.benchmarks.finetune.store import _stem
from memscore_plugins.benchmarks.finetune.store import available_finetuned
from memscore_plugins.benchmarks.finetune.store import export_finetuned
from memscore_plugins.benchmarks.finetune.trainer import AUGMENTS
from memscore_plugins.benchmarks.finetune.trainer import Recipe
from memscore_plugins.benchmarks.lamem.benchmark import parse_splits, splits_arg

# =============================================================================================
# the benchmark
# =============================================================================================
class LamemFinetune(Benchmark):
    identifier = "lamem-finetune"
    data_sets = ("lamem",)
    version = "1"
    description = "the paper's fine-tuning recipe on each LaMem split; Spearman rho on test_k"
    arguments = (
        splits_arg("LaMem splits to train and test on"),
        Arg("epochs", int, 100, "at most this many epochs", min=1),
        Arg("patience", int, 10, "stop after this many epochs without a better val rho", min=1),
        Arg("lr", float, 1e-3, "initial learning rate", min=1e-12),
        Arg("momentum", float, 0.9, "SGD momentum", min=0),
        Arg("nesterov", bool, True, "Nesterov momentum"),
        Arg("step", int, 10, "multiply the lr by gamma every this many epochs", min=1),
        Arg("gamma", float, 0.1, "lr decay factor", min=0),
        Arg("batch_size", int, 32, "training batch size", min=1),
        Arg("weight_decay", float, 0.0, "L2 weight decay", min=0),
        Arg("augment", str, "resize-crop", "training augmentation", choices=AUGMENTS),
        Arg("image_size", int, None, "crop size (default: the model's own)", min=8, max=4096),
        Arg("seed", int, None, "training seed (default: --seed)"),
        Arg("num_workers", int, None, "DataLoader workers (speed only; not keyed)", min=0),
        Arg("cache", bool, False, "decode each image once into a uint8 memory map (speed only; not keyed)"),
    )

    def __init__(self, splits: Any = "1,2,3,4,5", epochs: int = 100, patience: int = 10, lr: float = 1e-3,
                 momentum: float = 0.9, nesterov: bool = True, step: int = 10, gamma: float = 0.1,
                 batch_size: int = 32, weight_decay: float = 0.0, augment: str = "resize-crop",
                 image_size: int | None = None, seed: int | None = None, num_workers: int | None = None,
                 cache: bool = False):
        self.splits = splits if isinstance(splits, list) else parse_splits(splits)
        self.recipe = Recipe(epochs=epochs, patience=patience, lr=lr, momentum=momentum, nesterov=nesterov,
                             step=step, gamma=gamma, batch_size=batch_size, weight_decay=weight_decay,
                             augment=augment, image_size=image_size).check()
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise OptionError(f"--benchmark-args seed={seed!r}: must be an integer (default: --seed)")
        self.seed = seed
        if num_workers is not None and (isinstance(num_workers, bool) or not isinstance(num_workers, int)
                                        or num_workers < 0):
            raise OptionError(f"--benchmark-args num_workers={num_workers!r}: must be an integer >= 0")
        self.num_workers = num_workers
        if not isinstance(cache, bool):
            raise OptionError(f"--benchmark-args cache={cache!r}: must be true or false")
        self.cache = cache
        self._data: dict = {}

    def config(self) -> dict[str, Any]:
        # speed-only options (num_workers, cache) change no result and are not keyed
        return {"splits": self.splits, **self.recipe.to_dict(), "seed": self.seed}

    # -- keys ------------------------------------------------------------------------------------
    def data(self, options: RunOptions) -> DataInfo:
        """LaMem's fingerprint for fine-tuning: the train/val rows of the chosen splits (after ``--limit``),
        the test files' bytes (not parsed: the test split is read once, after training) and the bytes of
        every image in the images folder."""
        from memscore.fingerprint import file_sha1

        from memscore_plugins.benchmarks.lamem.data import LaMem

        key = (str(options.data_root), options.limit)
        if key not in self._data:
            data = LaMem(options.data_root)
            pieces, counts = {}, {}
            for k in self.splits:
                for part in ("train", "val"):
                    n, sc = _limit(data.read_part(part, k), options.limit)
                    pieces[f"{part}_{k}"] = _digest(n, sc)
                    counts[f"{part}_{k}"] = len(n)
                pieces[f"test_{k}"] = file_sha1(data.split_path("test", k))
            pieces["images"] = Stimuli.from_folder(data.images_dir).digest()
            self._data = {key: DataInfo("lamem", digest(sorted(pieces.items())), counts, str(data.root), pieces)}
        return self._data[key]

    def train_key(self, model: Model, seed: int, options: RunOptions) -> dict[str, Any]:
        from memscore.activations import model_fingerprint

        return {"benchmark": self.identifier, "version": str(self.version), "recipe": self.recipe.to_dict(),
                "data": self.data(options).fingerprint,
                "seed": seed, "limit": options.limit, "skip_bad_images": bool(options.skip_bad_images),
                "bf16": bool(options.bf16) and _on_cuda(options.device),
                "model": model.identifier, "weights": model.weights,
                "model_args": model.meta.get("model_args", {}), "fingerprint": model_fingerprint(model)}

    def is_paper_config(self, model: Model, seed: int, options: RunOptions) -> bool:
        return (self.recipe.to_dict() == Recipe().to_dict() and seed == 0 and not options.limit
                and not options.skip_bad_images and not str(model.weights).startswith("none"))

    # -- run -------------------------------------------------------------------------------------
    def run(self, model: Model, options: RunOptions) -> Score:
        import torch
        from tqdm.auto import tqdm

        from memscore.paths import cache_dir, home

        from memscore_plugins.benchmarks.finetune.trainer import Finetuner
        from memscore_plugins.benchmarks.finetune.trainer import Geometry
        from memscore_plugins.benchmarks.finetune.trainer import ImageCache
        from memscore_plugins.benchmarks.finetune.trainer import atomic_write_text
        from memscore_plugins.benchmarks.finetune.trainer import cpu_state
        from memscore_plugins.benchmarks.finetune.trainer import rho_of
        from memscore_plugins.benchmarks.lamem.data import LaMem

        seed = options.seed if self.seed is None else int(self.seed)
        data = LaMem(options.data_root)
        torch.manual_seed(seed)  # the new head's initialisation
        model.replace_head(1)
        model.meta.pop("_fingerprint", None)
        key = self.train_key(model, seed, options)
        train_hash = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
        base_dir = home() / "finetune" / _stem(model.identifier) / train_hash
        base_dir.mkdir(parents=True, exist_ok=True)
        if not (base_dir / "config.json").exists():
            atomic_write_text(json.dumps(key, indent=1, default=str), base_dir / "config.json")
        init_state = cpu_state(model.module)
        geom = Geometry.of(model, self.recipe.image_size)
        paper = self.is_paper_config(model, seed, options)
        num_workers = options.num_workers if self.num_workers is None else self.num_workers
        if self.num_workers is None and not num_workers and _on_cuda(options.device):
            num_workers = max(1, min(8, (os.cpu_count() or 2) - 1))  # decoding must keep up with a GPU
        cache = (ImageCache(data.images_dir, geom.resize, geom.interpolation, options.cache_dir or cache_dir())
                 if self.cache else None)

        rows, skipped = [], set()
        for k in self.splits:
            split_dir = base_dir / f"split{k}"
            result_path = split_dir / "result.json"
            if result_path.exists():  # finished: never retrained
                row = json.loads(result_path.read_text())
                row["from_store"] = True
                rows.append(row)
                skipped.update(row.get("skipped_images", []))
                continue
            t0 = time.perf_counter()
            model.module.load_state_dict(init_state)
            train, val = data.read_part("train", k), data.read_part("val", k)
            tr_names, tr_scores = _limit(train, options.limit)
            va_names, va_scores = _limit(val, options.limit)
            if len(tr_names) < 2 or len(va_names) < 3:
                raise OptionError(f"split {k}: {len(tr_names)} train / {len(va_names)} val images "
                                  f"(--limit too small?); need at least 2 train and 3 val images")
            split_dir.mkdir(parents=True, exist_ok=True)
            with _lock(split_dir):  # held until this split is done; a killed process releases it
                if result_path.exists():  # another process finished it while we waited for the data
                    rows.append({**json.loads(result_path.read_text()), "from_store": True})
                    continue
                _check_data(split_dir, {"train": _digest(tr_names, tr_scores),
                                        "val": _digest(va_names, va_scores)})
                trainer = Finetuner(model, self.recipe, seed=seed, split=k, device=options.device,
                                    bf16=options.bf16, num_workers=num_workers, progress=options.progress,
                                    cache=cache, skip_bad_images=options.skip_bad_images, desc=model.identifier,
                                    identity={k: key[k] for k in ("data", "model", "weights", "fingerprint",
                                                                  "seed", "limit")})
                fit = trainer.fit([data.image_path(n) for n in tr_names], tr_scores,
                                  [data.image_path(n) for n in va_names], va_scores, split_dir)
                # the test split is read once, here, after training has ended
                test = data.read_part("test", k)
                te_names, te_scores = _limit(test, options.limit)
                t_test = time.perf_counter()
                te_pred = trainer.predict([data.image_path(n) for n in te_names], desc="test")
                test_rho = rho_of(te_pred, te_scores)
                test_s = time.perf_counter() - t_test
                name = f"{model.identifier}@lamem{k}" + ("" if paper else f"-{train_hash[:8]}")
                meta = {
                    "name": name, "base_model": model.identifier, "base_weights": model.weights,
                    "model_args": model.meta.get("model_args", {}), "head": model.head,
                    "preprocessing": {**model.preprocessing.to_dict(), "crop_size": geom.crop,
                                      "resize_size": geom.resize},
                    "output": OUTPUT, "benchmark": self.identifier, "benchmark_version": str(self.version),
                    "split": k, "recipe": self.recipe.to_dict(), "seed": seed, "limit": options.limit,
                    "train_hash": train_hash, "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run,
                    "val_rho": _num(fit.best_val), "test_rho": _num(test_rho), "created": time.time(),
                }
                export = export_finetuned(name, cpu_state(model.module), meta)
                atomic_write_text("name,score,prediction\n" + "".join(
                    f"{n},{s!r},{p!r}\n" for n, s, p in zip(te_names, te_scores.tolist(), te_pred.tolist())),
                    split_dir / "test_predictions.csv")
                _link(export, split_dir / "best.pt")
                row = {"split": k, "value": _num(test_rho), "test_rho": _num(test_rho),
                       "val_rho": _num(fit.best_val), "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run,
                       "stopped_early": fit.stopped_early,
                       "time_s": round(fit.train_s + test_s, 3), "train_s": round(fit.train_s, 3),
                       "test_s": round(test_s, 3), "wall_s": round(time.perf_counter() - t0, 3),
                       "resumed_from": fit.resumed_from,
                       "n_train": len(tr_names), "n_val": len(va_names), "n_test": len(te_names),
                       "n_test_scored": int(np.isfinite(te_pred).sum()),
                       "model": f"finetuned:{name}", "weights": str(export),
                       "test_data": _digest(te_names, te_scores),
                       "skipped_images": sorted(set(fit.skipped) | set(trainer.skipped)),
                       "history": fit.history}
                atomic_write_text(json.dumps(row, indent=1), result_path)
                (split_dir / "checkpoint.pt").unlink(missing_ok=True)
                for f in split_dir.glob("best-e*.pt"):
                    f.unlink(missing_ok=True)
                skipped.update(row["skipped_images"])
                rows.append(row)
            if options.progress:
                tqdm.write(f"{model.identifier} split {k}: test rho {test_rho:.4f} (val {fit.best_val:.4f}, "
                           f"best epoch {fit.best_epoch} of {fit.epochs_run}) -> finetuned:{name}",
                           file=sys.stderr)

        values = np.array([np.nan if r["value"] is None else r["value"] for r in rows], dtype=float)
        value = float(values.mean())
        error = float(values.std(ddof=1)) if len(values) > 1 else None
        return Score(
            model=model.identifier, benchmark=self.identifier, benchmark_version=str(self.version),
            value=value, error=error, ceiling=None, raw=value, layers=[], splits=rows,
            meta={"train_hash": train_hash, "workdir": str(base_dir), "recipe": self.recipe.to_dict(),
                  "seed": seed, "data_root": str(data.root), "skipped_images": sorted(skipped),
                  "finetuned_models": [r["model"] for r in rows],
                  "speed": {"num_workers": num_workers, "cache": self.cache, "bf16": bool(options.bf16)}},
        )


def _lock(split_dir: Path):
    """An exclusive lock on ``split_dir`` (two processes must not train the same split)."""
    import fcntl

    f = open(split_dir / ".lock", "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise MemscoreError(f"{split_dir} is being trained by another process; wait for it (its result will be "
                            f"reused) or stop it first") from None
    return f


def _on_cuda(device: str) -> bool:
    from memscore.activations import resolve_device

    return resolve_device(device).type == "cuda"


def _limit(part, limit: int | None) -> tuple[list[str], np.ndarray]:
    names, scores = list(part.names), np.asarray(part.scores, dtype=np.float64)
    if limit:
        names, scores = names[: int(limit)], scores[: int(limit)]
    return names, scores


def _digest(names, scores) -> str:
    h = hashlib.sha256()
    for n, s in zip(names, np.asarray(scores, dtype=np.float64).tolist()):
        h.update(f"{n} {s!r}\n".encode())
    return h.hexdigest()[:16]


def _check_data(split_dir: Path, digests: dict[str, str]) -> None:
    """A split folder trained on other train/val rows is moved aside (one line), never reused or deleted."""
    from memscore.notice import move_aside

    from memscore_plugins.benchmarks.finetune.trainer import atomic_write_text

    f = split_dir / "data.json"
    try:
        old = json.loads(f.read_text()) if f.exists() else None
    except (OSError, ValueError):
        old = {}
    if old is not None and old != digests:
        for p in list(split_dir.iterdir()):
            if p.name in ("checkpoint.pt", "data.json") or p.name.startswith("best-e"):
                move_aside(p, f"{split_dir.name} of {split_dir.parent.name} was trained on other LaMem data")
        old = None
    if old is None:
        atomic_write_text(json.dumps(digests), f)


def _num(x) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _link(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


# =============================================================================================
# fine-tuned models: export, list, load
# =============================================================================================
def build_finetuned(name: str, weights: str | None = "default", device: str | None = None) -> Model:
    """The ``finetuned:<model>@lamem<k>`` resolver: base model (random init, no download) + one-unit
    head + the saved weights."""
    found = available_finetuned()
    if name not in found:
        from memscore.errors import UnknownNameError

        raise UnknownNameError("model", f"finetuned:{name}", [f"finetuned:{n}" for n in found])
    if weights not in (None, "default"):
        base = found[name].get("base_model") or "its base model"
        what = "random init" if weights == "none" else "other weights"
        raise MemscoreError(f"finetuned:{name} is a fine-tuned model: it always runs with its own fine-tuned weights "
                            f"(a local file), so --weights {weights} ({what}) does not apply; leave --weights out, or "
                            f"give --weights {weights} to the base model {base}")
    return load_finetuned_file(Path(found[name]["path"]), identifier=f"finetuned:{name}", device=device)


def read_finetuned(path: Path) -> tuple[dict[str, Any], dict]:
    """(metadata, state dict) of a fine-tuned checkpoint; one-line errors."""
    from memscore_plugins.benchmarks.finetune.trainer import load_trusted

    path = Path(path)
    if not path.is_file():
        raise MemscoreError(f"fine-tuned checkpoint {path}: no such file")
    ck = load_trusted(path, "fine-tuned checkpoint")
    if not isinstance(ck, dict) or not isinstance(ck.get("memscore_finetuned"), dict) \
            or not isinstance(ck.get("state_dict"), dict):
        raise MemscoreError(f"{path} is not a memscore fine-tuned checkpoint (no 'memscore_finetuned' metadata); "
                            f"fine-tune with `memscore score -b lamem-finetune`")
    return ck["memscore_finetuned"], ck["state_dict"]


def load_finetuned_file(path: Path, *, identifier: str | None = None, device: str | None = None) -> Model:
    """Rebuild the base model without downloading weights, replace its head by one unit, load ``path``."""
    from memscore.api import load_model
    from memscore.model import Preprocessing

    meta, state = read_finetuned(path)
    base = meta["base_model"]
    model = load_model(base, weights="none", **meta.get("model_args", {}))
    load_memorability_state(model, state, f"{path}", what=base)
    p = meta.get("preprocessing") or {}
    if p:
        model.preprocessing = Preprocessing(crop_size=int(p["crop_size"]), resize_size=int(p["resize_size"]),
                                            interpolation=p["interpolation"], mean=tuple(p["mean"]),
                                            std=tuple(p["std"]))
    model.identifier = identifier or f"finetuned:{meta.get('name', path.stem)}"
    model.weights = str(path)
    # what it was trained on: its base model's data, then LaMem split k's train images (fitted) and val images
    # (early stopping read their scores); a benchmark testing on any of them marks its score
    seen = [{"data": "lamem", "split": int(meta["split"]), "parts": ["train", "val"]}] \
        if isinstance(meta.get("split"), int) else [{"data": "lamem"}]
    model.meta.update({"output": OUTPUT, "finetuned": {k: v for k, v in meta.items() if k != "preprocessing"},
                       "source": "finetuned", "trained_on": [*model.meta.get("trained_on", []), *seen]})
    model.meta.pop("_fingerprint", None)
    if device:
        model.module.to(device)
    model.module.eval()
    return model


def load_memorability_state(model: Model, state: dict, where: str, what: str = "") -> None:
    """Load a one-output state dict into ``model``: replace the head by as many units as the checkpoint's
    head has, then load strictly. A state that does not fit is one line."""
    import torch

    state = {k.removeprefix("module."): v for k, v in state.items()}
    head = model.head
    if head is None:
        from memscore.model import _find_head

        head = _find_head(model.module)
    w = state.get(f"{head}.weight") if head else None
    own = model.module.state_dict().get(f"{head}.weight") if head else None
    if isinstance(w, torch.Tensor) and isinstance(own, torch.Tensor) and w.shape != own.shape and w.ndim >= 1:
        try:
            model.replace_head(int(w.shape[0]))
        except ValueError as exc:
            raise MemscoreError(f"{where}: cannot fit {what or model.identifier}'s head: {exc}") from None
    try:
        model.module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [s.strip() for s in str(exc).splitlines() if s.strip()]
        first = lines[1] if len(lines) > 1 else lines[0] if lines else type(exc).__name__
        raise MemscoreError(f"{where}: does not fit {what or model.identifier} ({first[:200]}); was it "
                            f"fine-tuned from another architecture?") from None
    if isinstance(w, torch.Tensor) and w.shape[0] == 1:
        model.meta["output"] = OUTPUT
