"""The activation engine: one forward pass captures every requested layer, reduced on the device.

Each layer's output is flattened and, when it has more than ``n_components`` units, projected on
the spot onto its PCA basis (fitted once on a fixed reference image set, the Brain-Score
convention), then written into a preallocated, memory-mapped per-layer array. Memory is bounded by
batch x largest layer plus the PCA bases of the layers in flight, never by stimuli x raw layer size.
On CPU the bases are memory-mapped from their files (the page cache holds them; nothing is copied).
When the bases of all layers do not fit the memory budget, layers are processed in groups, each with
its own pass that stops the forward as soon as the group's last layer has run.

Results (and PCA bases) are cached on disk under keys made of everything that changes them.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from . import atomic, paths
from .errors import DataError
from .notice import notice
from .model import Model
from .stimuli import Stimuli

CACHE_VERSION = "2"  # 2: stimuli keyed by content; files checked against their recorded shape/checksum


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------
class ImageDataset(torch.utils.data.Dataset):
    """Decodes and transforms images; a bad image either raises (naming it) or is flagged."""

    def __init__(self, paths_: Sequence[Path], transform: Callable, skip_bad: bool = False):
        self.paths, self.transform, self.skip_bad = list(paths_), transform, skip_bad

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        from .images import load_image

        try:
            return self.transform(load_image(self.paths[i])), i, True
        except DataError:
            if not self.skip_bad:
                raise
            return None, i, False


def _collate(batch):
    ok = torch.tensor([b[2] for b in batch])
    idx = torch.tensor([b[1] for b in batch])
    good = [b[0] for b in batch if b[2]]
    if good:
        x = torch.stack(good)
        if not ok.all():  # keep rows aligned: bad images become zeros and are flagged
            full = torch.zeros((len(batch), *x.shape[1:]), dtype=x.dtype)
            full[ok] = x
            x = full
    else:
        x = None
    return x, idx, ok


def make_loader(stimuli: Stimuli, transform: Callable, *, batch_size: int, num_workers: int = 0,
                device: torch.device | str = "cpu", skip_bad: bool = False):
    ds = ImageDataset(stimuli.paths, transform, skip_bad)
    return torch.utils.data.DataLoader(
        ds, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=_collate,
        pin_memory=torch.device(device).type == "cuda", persistent_workers=False,
    )


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto`` → CUDA when present, else CPU; anything this machine cannot run on is one line."""
    from .errors import OptionError

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise OptionError(f"--device {device}: not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise OptionError(f"--device {device}: memscore runs on cpu or cuda; use --device cpu, cuda or auto")
    if not torch.cuda.is_available():
        raise OptionError(f"--device {device}: no CUDA device is available here; use --device cpu or auto")
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise OptionError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                          f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
    return dev


# ---------------------------------------------------------------------------------------------
# capture
# ---------------------------------------------------------------------------------------------
class _StopForward(Exception):
    pass


class Capture:
    """Hooks on ``layers`` that hand each layer's final output of a forward pass to ``sink``.

    A module that runs several times per forward (a ReLU reused inside a ResNet block) is captured at
    its last call. Once every layer of the group has been seen the forward is cut short.
    """

    def __init__(self, model: Model, layers: Sequence[str], sink: Callable[[str, torch.Tensor], None],
                 image_size: int | None = None):
        info = {li.name: li for li in model.layer_info(image_size)}
        self.final_call = {name: info[name].calls for name in layers}
        self.sink = sink
        self.module = model.module
        self._handles = []
        self._calls: dict[str, int] = {}
        self._done = 0

    def __enter__(self):
        for name in self.final_call:
            sub = self.module.get_submodule(name)
            self._handles.append(sub.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        return False

    def _hook(self, name: str):
        def fn(_mod, _inp, out):
            n = self._calls.get(name, 0) + 1
            self._calls[name] = n
            if n == self.final_call[name]:
                self.sink(name, out.flatten(1))
                self._done += 1
                if self._done == len(self.final_call):
                    raise _StopForward
        return fn

    def run(self, x: torch.Tensor) -> None:
        self._calls.clear()
        self._done = 0
        try:
            self.module(x)
        except _StopForward:
            pass
        if self._done != len(self.final_call):
            missing = [n for n in self.final_call if self._calls.get(n, 0) < self.final_call[n]]
            raise RuntimeError(f"layers did not run in this forward pass: {missing[:5]}")


# ---------------------------------------------------------------------------------------------
# PCA
# ---------------------------------------------------------------------------------------------
@dataclass
class LayerPCA:
    """Mean and orthonormal basis (units x k) of one layer; ``project`` is ``(x - mean) @ basis``."""

    mean: torch.Tensor
    basis: torch.Tensor
    explained_variance: torch.Tensor
    _offset: torch.Tensor | None = field(default=None, repr=False)

    def to(self, device) -> "LayerPCA":
        return LayerPCA(self.mean.to(device), self.basis.to(device), self.explained_variance)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        # x @ B - mean @ B: no centred copy of the (batch x units) activations
        if self._offset is None:
            self._offset = self.mean @ self.basis
        return torch.addmm(self._offset, x.float(), self.basis, beta=-1)

    @property
    def k(self) -> int:
        return self.basis.shape[1]


class StoredPCA:
    """A fitted basis on disk: only the layer groups in flight are held in memory."""

    def __init__(self, path: Path, units: int, k: int | None = None):
        self.path, self.units, self._k = Path(path), units, k

    @property
    def k(self) -> int:
        if self._k is None:  # memory-mapped: reads the header, not the basis
            d = torch.load(self.path, map_location="cpu", weights_only=True, mmap=True)
            self._k = int(d["basis"].shape[1])
        return self._k

    @property
    def nbytes(self) -> int:
        return self.units * self.k * 4

    def load(self, mmap: bool = False) -> LayerPCA:
        """The basis in memory, or with ``mmap`` backed by the file's pages (the OS page cache holds
        them, nothing is copied, and what memory runs short of is read again from disk)."""
        d = torch.load(self.path, map_location="cpu", weights_only=True, mmap=mmap)
        self._k = int(d["basis"].shape[1])
        return LayerPCA(d["mean"], d["basis"], d["explained_variance"])

    def prefetch(self) -> None:
        """Ask the OS to start reading the file into its page cache (returns at once)."""
        if hasattr(os, "posix_fadvise"):
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            finally:
                os.close(fd)


def fit_pca_from(acts: torch.Tensor, k: int) -> LayerPCA:
    """Exact PCA of ``acts`` (n x units), equal to sklearn's ``PCA(k).fit`` up to component signs.

    Works on the n x n Gram matrix in float64, so units may be in the millions. Keeps at most
    ``n - 1`` components: a centred set of n points spans n - 1 directions; any further sklearn
    component is an arbitrary null direction and carries noise, not signal.
    """
    n, units = acts.shape
    mean64 = acts.sum(0, dtype=torch.float64) / n
    mean = mean64.float()
    acts -= mean  # in place: the reference buffer is ours
    gram = torch.zeros(n, n, dtype=torch.float64, device=acts.device)
    step = max(1, (1 << 24) // max(n, 1))
    for j in range(0, units, step):
        blk = acts[:, j:j + step].double()
        if blk.device.type == "cpu":  # numpy runs b @ b.T as a syrk: half the flops of torch's gemm
            b = blk.numpy()
            gram += torch.from_numpy(b @ b.T)
        else:
            gram.addmm_(blk, blk.T)
    evals, evecs = torch.linalg.eigh(gram)
    evals, evecs = evals.flip(0), evecs.flip(1)
    tol = evals[0].clamp_min(0) * max(n, units) * torch.finfo(torch.float64).eps
    keep = int(min(k, units, n - 1, int((evals > tol).sum())))
    evals, evecs = evals[:keep], evecs[:, :keep]
    scale = evals.sqrt().reciprocal()
    basis = torch.empty(units, keep, dtype=torch.float32, device=acts.device)
    for j in range(0, units, step):
        blk = acts[:, j:j + step].double()
        basis[j:j + step] = ((blk.T @ evecs) * scale).float()
    # deterministic signs (sklearn's svd_flip on components): largest |entry| positive, found from the
    # column maxima and minima (two vectorised reductions, no |basis| copy and no strided argmax)
    signs = torch.where(basis.amax(0) >= -basis.amin(0), 1.0, -1.0).to(basis.dtype)
    basis *= signs
    return LayerPCA(mean, basis, (evals / max(n - 1, 1)).float().cpu())


# ---------------------------------------------------------------------------------------------
# engine
# ---------------------------------------------------------------------------------------------
@dataclass
class Activations:
    """Per-layer (stimuli x features) float32 arrays, memory-mapped from the cache."""

    stimuli: Stimuli
    arrays: dict[str, np.ndarray]
    bad: list[str] = field(default_factory=list)  # ids of undecodable stimuli (rows are zeros)
    report: dict = field(default_factory=dict)

    def __getitem__(self, layer: str) -> np.ndarray:
        return self.arrays[layer]

    def __iter__(self):
        return iter(self.arrays)

    def __len__(self) -> int:
        return len(self.arrays)


class Extractor:
    """Runs the engine for one model with fixed settings; see the module docstring."""

    def __init__(self, model: Model, *, n_components: int | None = 1000, reference: Stimuli | None = None,
                 batch_size: int = 64, device: str | torch.device | None = "auto", num_workers: int = 0,
                 bf16: bool = False, image_size: int | None = None, cache_dir: Path | None = None,
                 memory_gb: float | None = None, progress: bool = True, skip_bad_images: bool = False,
                 pca_bases: str = "auto"):
        self.model = model
        self.k = n_components
        self.reference = reference
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.num_workers = num_workers
        self.bf16 = bf16
        self.image_size = image_size
        self.cache = Path(cache_dir) if cache_dir else paths.cache_dir()
        self.memory = int((memory_gb or _default_memory_gb(self.device)) * 2**30)
        self._memory_set = bool(memory_gb or os.environ.get("MEMSCORE_MEMORY_GB"))
        self.progress = progress
        self.skip_bad = skip_bad_images
        if pca_bases not in ("auto", "disk", "refit"):
            raise ValueError(f"pca_bases must be auto, disk or refit, got {pca_bases!r}")
        self.pca_bases = pca_bases
        self.transform = model.transform(image_size)
        self.model.module.to(self.device).eval()
        self.timings: dict[str, float] = {"pca_fit_s": 0.0, "extract_s": 0.0}
        self.passes = 0

    @classmethod
    def for_run(cls, model: Model, options, *, n_components: int | None, reference: Stimuli | None,
                image_size: int | None = None) -> "Extractor":
        """The engine set up from a benchmark's :class:`~memscore.benchmark.RunOptions`."""
        return cls(model, n_components=n_components, reference=reference, batch_size=options.batch_size,
                   device=options.device, num_workers=options.num_workers, bf16=options.bf16,
                   image_size=image_size, cache_dir=options.cache_dir, progress=options.progress,
                   skip_bad_images=options.skip_bad_images, pca_bases=options.pca_bases)

    # -- keys --------------------------------------------------------------------------------
    def _model_key(self) -> dict:
        return {"model": self.model.identifier, "weights": self.model.weights,
                "fingerprint": model_fingerprint(self.model),
                "prep": self.model.preprocessing.to_dict(), "image_size": self.image_size,
                "version": CACHE_VERSION,
                # these change the numbers too (model args may leave the parameters alone: CORnet's times)
                **({"bf16": True} if self.bf16 else {}),
                **({"model_args": self.model.meta["model_args"]} if self.model.meta.get("model_args") else {})}

    def _reducer_key(self) -> dict:
        if not self.k:
            return {"reducer": "none"}
        if self.reference is None:
            raise ValueError("PCA reduction needs a reference stimulus set")
        return {"reducer": "pca", "k": self.k, "reference": self.reference.digest()}

    def _key(self, **extra) -> str:
        blob = json.dumps({**self._model_key(), **extra}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    # -- PCA bases ---------------------------------------------------------------------------
    def _units(self) -> dict[str, int]:
        return {li.name: li.units for li in self.model.layer_info(self.image_size)}

    def pca(self, layers: Sequence[str]) -> dict[str, "StoredPCA"]:
        """The PCA basis of every layer with more than k units (fitted once, then from the cache).

        A cached basis is used only when its file matches what ``bases.json`` recorded when it was written
        (size and a sampled checksum); a missing, truncated or damaged one is fitted again (one notice)."""
        units = self._units()
        need = self._reduced(layers, units)
        folder = self.cache / "pca" / self._key(**self._reducer_key())
        folder.mkdir(parents=True, exist_ok=True)
        atomic.clean_stale(folder)
        record = _read_json(folder / "bases.json", "PCA bases record")
        files = record.get("files", {}) if isinstance(record.get("files"), dict) else {}
        out: dict[str, StoredPCA] = {}
        todo = []
        for name in need:
            f = folder / f"{_fname(name)}.pt"
            why = _check_file(f, files.get(name), units=units[name]) if f.exists() else None
            if f.exists() and why is None:
                out[name] = StoredPCA(f, units[name], files[name]["k"])
            else:
                if f.exists():
                    notice(f"cached PCA basis of layer {name} is unusable ({why}); fitting it again")
                todo.append(name)
        if not todo:
            return out
        t0 = time.perf_counter()
        groups = _groups(todo, lambda n: self._fit_cost(units[n]), self.memory)
        for fitted in self._fit_groups(groups, units):
            atomic.ensure_space(folder, sum(units[n] * (p.k + 1) * 4 for n, p in fitted.items()))
            for name, pca in fitted.items():
                f = folder / f"{_fname(name)}.pt"
                with atomic.atomic_path(f) as tmp:
                    torch.save({"mean": pca.mean.cpu(), "basis": pca.basis.cpu(),
                                "explained_variance": pca.explained_variance}, tmp)
                out[name] = StoredPCA(f, units[name], pca.k)
                files[name] = {**_file_record(f), "units": units[name], "k": pca.k}
            fitted = pca = None  # free the group's bases before the next group's fit
            # re-read: a concurrent run may have recorded other layers meanwhile
            current = _read_json(folder / "bases.json", None).get("files", {})
            files = {**(current if isinstance(current, dict) else {}), **files}
            atomic.write_text(folder / "bases.json", json.dumps({"files": files}))
        self.timings["pca_fit_s"] += time.perf_counter() - t0
        return out

    def _reduced(self, names: Sequence[str], units: dict[str, int]) -> list[str]:
        """The layers PCA reduces: those with more than k units."""
        return [n for n in names if self.k and units[n] > self.k]

    def _fit_cost(self, units: int) -> int:
        """Bytes a layer's fit holds: n_ref x units activations plus the units x k basis it produces."""
        n_ref = len(self.reference)
        return units * 4 * (n_ref + min(self.k, n_ref))

    def _fit_groups(self, groups: list[list[str]], units: dict[str, int]):
        """Fit the PCA of each group of layers in one reference pass; yields {name: LayerPCA} per group
        (empty, without a pass, for an empty group), the bases on the engine's device."""
        n_ref = len(self.reference)
        for gi, group in enumerate(groups):
            if not group:
                yield {}
                continue
            bufs = {n: torch.empty(n_ref, units[n], dtype=torch.float32, device=self.device) for n in group}
            rows = {"lo": 0}

            def sink(name, out, bufs=bufs, rows=rows):
                bufs[name][rows["lo"]:rows["lo"] + out.shape[0]] = out.float()

            bad = self._run(self.reference, group, sink, rows, desc=f"PCA fit {gi + 1}/{len(groups)}")
            if bad and not self.skip_bad:
                raise DataError(f"cannot decode reference image {self.reference.paths[bad[0]]}; replace it, choose "
                                f"another reference set, or rerun with --skip-bad-images to drop it")
            if bad:  # --skip-bad-images: the reference set loses those images too
                keep = torch.tensor([i for i in range(n_ref) if i not in set(bad)], device=self.device)
                if len(keep) < 2:
                    raise DataError(f"fewer than 2 decodable reference images ({len(keep)} of {n_ref}); "
                                    f"choose another reference set")
                bufs = {n: b.index_select(0, keep) for n, b in bufs.items()}
            yield {name: fit_pca_from(bufs.pop(name), self.k) for name in group}

    def _refit(self, todo: Sequence[str], units: dict[str, int]) -> bool:
        """Whether to fit the bases afresh per layer group instead of storing them (``pca_bases``):
        "auto" refits when they would take more than 80 % of the cache disk's free space."""
        if not self.k:
            return False
        folder = self.cache / "pca" / self._key(**self._reducer_key())  # (no reference set: a clear error)
        if self.pca_bases != "auto":
            return self.pca_bases == "refit"
        need = sum(units[n] * min(self.k, len(self.reference)) * 4 for n in self._reduced(todo, units))
        if not need or any(folder.glob("*.pt")):
            return False
        self.cache.mkdir(parents=True, exist_ok=True)
        return need > 0.8 * shutil.disk_usage(self.cache).free

    def _stored_groups(self, todo: Sequence[str], pcas: dict[str, StoredPCA]):
        """Layer groups with their bases from the cache: (group, count, bases on the device)."""
        # bases are memory-mapped; on CPU they are used in place (the OS page cache holds them,
        # not this process), on a GPU copied to the device
        mmap = self.device.type == "cpu"
        groups = _groups(todo, lambda n: pcas[n].nbytes if n in pcas else 0, self._bases_budget(mmap))
        for group in groups:
            for n in group:
                if mmap and n in pcas:
                    pcas[n].prefetch()  # one bulk read-ahead instead of page-sized faults in the hooks
            yield group, len(groups), {n: pcas[n].load(mmap=True).to(self.device) for n in group if n in pcas}

    def _refit_groups(self, todo: Sequence[str], units: dict[str, int]):
        """Layer groups whose bases are fitted for this pass only, never written: (group, count, bases).
        Costs one reference pass and fit per group each time; needs no disk for the bases."""
        need = set(self._reduced(todo, units))
        groups = _groups(todo, lambda n: self._fit_cost(units[n]) if n in need else 0, self.memory)
        fits = self._fit_groups([[n for n in group if n in need] for group in groups], units)
        for group in groups:
            t0 = time.perf_counter()
            fitted = next(fits)
            self.timings["pca_fit_s"] += time.perf_counter() - t0
            yield group, len(groups), fitted
            del fitted  # before the next group's fit allocates

    def _bases_budget(self, mmap: bool) -> int:
        """Bytes of PCA bases one pass may use. Memory-mapped bases only need to stay in the page
        cache, so without an explicit budget they may use most of the memory available now: one
        pass (one forward) instead of several, each re-reading its bases from disk."""
        if not mmap or self._memory_set:
            return self.memory
        return max(self.memory, int(0.75 * _available_memory()))

    # -- forward passes ----------------------------------------------------------------------
    def _run(self, stimuli: Stimuli, layers: Sequence[str], sink, rows: dict, desc: str) -> list[int]:
        """One pass over ``stimuli`` feeding ``layers`` to ``sink``; returns indices of bad images."""
        from tqdm.auto import tqdm

        loader = make_loader(stimuli, self.transform, batch_size=self.batch_size,
                             num_workers=self.num_workers, device=self.device, skip_bad=self.skip_bad)
        bad: list[int] = []
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)
        self.passes += 1
        with Capture(self.model, layers, sink, self.image_size) as cap, torch.inference_mode(), autocast:
            bar = tqdm(loader, desc=f"{self.model.identifier}: {desc}", unit="batch",
                       disable=not self.progress, leave=False)
            for x, idx, ok in bar:
                rows["lo"] = int(idx[0])
                bad.extend(int(i) for i in idx[~ok])
                if x is None:
                    continue
                cap.run(x.to(self.device, non_blocking=True))
        return bad

    def extract(self, stimuli: Stimuli, layers: Sequence[str] | None = None) -> Activations:
        """Every layer's (stimuli x features) array, from the cache where a valid one is stored.

        Each cached array is checked against what ``meta.json`` recorded when it was written (shape,
        dtype, size, a sampled checksum): a missing, truncated, garbage or wrong-shape file is computed
        again with a one-line notice, never used."""
        layers = list(layers or self.model.layers())
        units = self._units()
        folder = self.cache / "activations" / self._key(stimuli=stimuli.digest(), **self._reducer_key())
        folder.mkdir(parents=True, exist_ok=True)
        atomic.clean_stale(folder)
        meta_path = folder / "meta.json"
        meta = _read_json(meta_path, "activation cache record")
        bad = meta.get("bad")
        if not (isinstance(bad, list) and all(isinstance(i, int) and 0 <= i < len(stimuli) for i in bad)) \
                or meta.get("stimuli") != len(stimuli):
            meta = {}
            bad = None
        files = meta.get("files", {}) if isinstance(meta.get("files"), dict) else {}
        arrays: dict[str, np.ndarray] = {}
        todo = []
        for name in layers:
            f = folder / f"{_fname(name)}.npy"
            if not f.exists() or bad is None:
                todo.append(name)
                continue
            why = _check_file(f, files.get(name), rows=len(stimuli))
            if why is None:
                try:
                    arrays[name] = np.load(f, mmap_mode="r")
                except (OSError, ValueError) as exc:
                    why = f"unreadable: {type(exc).__name__}"
            if why is not None:
                notice(f"cached activations of layer {name} are unusable ({why}); computing them again")
                todo.append(name)
        if bad and not self.skip_bad:  # as a fresh pass would: stop at the first bad image
            raise DataError(f"cannot decode image {stimuli.paths[bad[0]]} (found by an earlier "
                            f"--skip-bad-images run); replace the file, or rerun with --skip-bad-images to drop it")
        bad_ids = [stimuli.ids[i] for i in bad] if bad else []
        computed = bool(todo)
        if todo:
            bad_idx: set[int] = set()
            refit = self._refit(todo, units)
            groups = self._refit_groups(todo, units) if refit else self._stored_groups(todo, self.pca(todo))
            t0, fit0 = time.perf_counter(), self.timings["pca_fit_s"]
            for gi, (group, n_groups, dev_pca) in enumerate(groups):
                dims = {n: dev_pca[n].k if n in dev_pca else units[n] for n in group}
                outs = self._open_outputs(folder, group, dims, len(stimuli))
                try:
                    rows = {"lo": 0}

                    def sink(name, out, outs=outs, dev_pca=dev_pca, rows=rows):
                        red = dev_pca[name].project(out) if name in dev_pca else out.float()
                        outs[name][rows["lo"]:rows["lo"] + red.shape[0]] = red.float().cpu().numpy()

                    bad_idx.update(self._run(stimuli, group, sink, rows, desc=f"layers {gi + 1}/{n_groups}"))
                    for n, arr in outs.items():
                        if bad_idx:
                            arr[sorted(bad_idx)] = 0.0
                        arr.flush()
                        del arr
                        f = folder / f"{_fname(n)}.npy"
                        os.replace(atomic.tmp_path(f), f)
                        files[n] = _file_record(f)
                        arrays[n] = np.load(f, mmap_mode="r")
                except BaseException as exc:
                    outs.clear()
                    for n in group:
                        atomic.tmp_path(folder / f"{_fname(n)}.npy").unlink(missing_ok=True)
                    if atomic.no_space(exc):
                        raise atomic.disk_full(folder) from None
                    raise
                del dev_pca
            current = _read_json(meta_path, None)  # a concurrent run may have recorded other layers
            if current.get("bad") == sorted(bad_idx) and isinstance(current.get("files"), dict):
                files = {**current["files"], **files}
            meta = {"bad": sorted(bad_idx), "stimuli": len(stimuli), "model": self.model.identifier, "files": files}
            atomic.write_text(meta_path, json.dumps(meta))  # a concurrent run never reads half a file
            bad_ids = [stimuli.ids[i] for i in sorted(bad_idx)]
            self.timings["extract_s"] += time.perf_counter() - t0 - (self.timings["pca_fit_s"] - fit0)
        report = {"layers": len(layers), "computed": computed, "passes": self.passes,
                  "dims": {n: int(arrays[n].shape[1]) for n in layers}, **self.timings}
        return Activations(stimuli, {n: arrays[n] for n in layers}, bad_ids, report)

    def _open_outputs(self, folder: Path, group: Sequence[str], dims: dict[str, int], n: int) -> dict:
        """Preallocated float32 memory maps (temp files) for a group's layers. The space is checked and
        reserved first: a full disk is one line, never a SIGBUS from a sparse map."""
        atomic.ensure_space(folder, sum(n * d * 4 for d in dims.values()))
        outs: dict[str, np.ndarray] = {}
        try:
            for name in group:
                tmp = atomic.tmp_path(folder / f"{_fname(name)}.npy")
                outs[name] = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, dims[name]))
                fd = os.open(tmp, os.O_RDWR)
                try:
                    atomic.reserve(fd, os.fstat(fd).st_size, folder)
                finally:
                    os.close(fd)
        except BaseException as exc:
            outs.clear()
            for name in group:
                atomic.tmp_path(folder / f"{_fname(name)}.npy").unlink(missing_ok=True)
            if atomic.no_space(exc):
                raise atomic.disk_full(folder, sum(n * d * 4 for d in dims.values())) from None
            raise
        return outs


def extract(model: Model, stimuli: Stimuli, layers: Sequence[str] | None = None, **kwargs) -> Activations:
    """Convenience wrapper: ``Extractor(model, **kwargs).extract(stimuli, layers)``."""
    return Extractor(model, **kwargs).extract(stimuli, layers)


def model_fingerprint(model: Model) -> str:
    """Hash of the model's parameters and buffers: random-init and fine-tuned weights key caches too."""
    fp = model.meta.get("_fingerprint")
    if fp is None:
        h = hashlib.sha1()
        for name, t in model.module.state_dict().items():
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
                     if t.numel() else b"")
        fp = model.meta["_fingerprint"] = h.hexdigest()[:16]
    return fp


def _groups(names: Iterable[str], cost: Callable[[str], int], budget: int) -> list[list[str]]:
    """Consecutive groups of layers whose summed cost stays within budget (one layer at least)."""
    groups: list[list[str]] = [[]]
    used = 0
    for n in names:
        c = cost(n)
        if groups[-1] and used + c > budget:
            groups.append([])
            used = 0
        groups[-1].append(n)
        used += c
    return [g for g in groups if g]


def _default_memory_gb(device: torch.device) -> float:
    env = os.environ.get("MEMSCORE_MEMORY_GB")
    if env:
        return float(env)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return 0.6 * free / 2**30
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 * 2**30
    limit = _cgroup_memory_limit()
    return 0.45 * min(total, limit or total) / 2**30


def _available_memory() -> int:
    """MemAvailable (free memory plus reclaimable page cache) in bytes, at most the cgroup's limit;
    0 where unknown."""
    avail = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    limit = _cgroup_memory_limit()
    return min(avail, limit) if avail and limit else avail


def _cgroup_memory_limit(proc_cgroup: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> int | None:
    """The memory limit of this process's cgroup or of any cgroup above it (a SLURM job, a container),
    in bytes; None where there is none. /proc/meminfo shows the whole machine, not the job's share."""
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        hid, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hid == "0" and controllers == "":  # cgroup v2: <root>/<path>/memory.max
            base, fname = Path(root), "memory.max"
        elif "memory" in controllers.split(","):  # cgroup v1: <root>/memory/<path>/memory.limit_in_bytes
            base, fname = Path(root) / "memory", "memory.limit_in_bytes"
        else:
            continue
        parts = [p for p in path.split("/") if p]
        for depth in range(len(parts), -1, -1):  # the cgroup and each one above it
            try:
                value = (base.joinpath(*parts[:depth]) / fname).read_text().strip()
            except OSError:
                continue
            if value.isdigit() and int(value) < 2**60:  # "max" / ~2^63: no limit
                limits.append(int(value))
    return min(limits) if limits else None


def _fname(layer: str) -> str:
    return layer.replace("/", "_") or "_root"


def _read_json(path: Path, what: str | None) -> dict:
    """A small JSON record, or {} when it is missing or damaged (said in one notice when ``what``)."""
    try:
        d = json.loads(path.read_text())
        if isinstance(d, dict):
            return d
        raise ValueError("not an object")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        if what:
            notice(f"{what} {path} is damaged ({type(exc).__name__}); recomputing what it described")
        return {}


_SAMPLES, _CHUNK = 16, 1 << 16


def _sample_crc(path: Path, size: int) -> int:
    """CRC-32 of 16 spread 64 KiB chunks and the tail: a cheap checksum that catches truncation,
    garbage and swapped files without reading gigabytes."""
    import zlib

    crc = 0
    with open(path, "rb") as f:
        offsets = sorted({int(i * max(size - _CHUNK, 0) / max(_SAMPLES - 1, 1)) for i in range(_SAMPLES)})
        for off in offsets:
            f.seek(off)
            crc = zlib.crc32(f.read(_CHUNK), crc)
    return crc


def _file_record(path: Path) -> dict:
    """What a cache file is when written: size, sampled checksum, and for arrays shape and dtype."""
    size = path.stat().st_size
    rec = {"size": size, "crc": _sample_crc(path, size)}
    if path.suffix == ".npy":
        arr = np.load(path, mmap_mode="r")
        rec.update(shape=list(arr.shape), dtype=arr.dtype.str)
        del arr
    return rec


def _check_file(path: Path, rec: dict | None, *, rows: int | None = None, units: int | None = None) -> str | None:
    """Why the cache file does not match its record (None: it does)."""
    if not isinstance(rec, dict):
        return "not recorded"
    try:
        size = path.stat().st_size
        if size != rec.get("size"):
            return f"{size} bytes, {rec.get('size')} expected"
        if units is not None and rec.get("units") != units:
            return f"recorded for {rec.get('units')} units, the layer has {units}"
        if rows is not None and (not rec.get("shape") or rec["shape"][0] != rows):
            return f"shape {rec.get('shape')}, {rows} rows expected"
        if path.suffix == ".npy":
            arr = np.load(path, mmap_mode="r")
            if list(arr.shape) != rec.get("shape") or arr.dtype.str != rec.get("dtype"):
                return f"shape {list(arr.shape)} {arr.dtype}, {rec.get('shape')} {rec.get('dtype')} recorded"
            del arr
        if _sample_crc(path, size) != rec.get("crc"):
            return "checksum differs"
    except (OSError, ValueError) as exc:
        return f"unreadable: {type(exc).__name__}"
    return None
