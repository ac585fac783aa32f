"""The activation engine: one forward pass captures every requested layer, reduced on the device.

Each layer's output is flattened and, when it has more than ``n_components`` units, projected on the spot onto
its PCA basis (fitted once on a fixed reference image set, the Brain-Score convention), then written into a
preallocated, memory-mapped per-layer array. Memory is bounded by batch x largest layer plus the PCA bases of
the layers in flight, never by stimuli x raw layer size. On CPU the bases are memory-mapped from their files;
on an accelerator they are fitted on the device for the pass and never written (``pca_bases="auto"``; bf16
under ``--bf16``) unless ``pca_bases="disk"``. When the bases of all layers do not fit the memory budget,
layers are processed in groups, each pass stopping the forward once the group's last layer has run.

Results (and PCA bases) are cached on disk under keys made of everything that changes them.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from . import atomic, memory, paths
from .cost import extraction_cost
from .cache import CacheRecord, file_record, fname
from .capture import Capture, Sink, make_loader
from .devices import resolve_device  # (also imported from here by callers: part of the engine's API)
from .errors import DataError
from .notice import notice
from .pca import StoredPCA, fit_pca_from  # noqa: F401 - fit_pca_from: part of the engine's API
from .model import Model
from .stimuli import Stimuli
from .weights import model_fingerprint  # noqa: F401 - (imported from here by callers: part of the engine's API)

CACHE_VERSION = "2"  # 2: stimuli keyed by content; files checked against their recorded shape/checksum


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
                 pca_bases: str = "auto", announce: bool = True, reducer: str = "pca"):
        self.model = model
        self.k = n_components
        self.reference = reference
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.num_workers = num_workers
        self.bf16 = bf16
        self.image_size = image_size
        self.cache = Path(cache_dir) if cache_dir else paths.cache_dir()
        self.memory = int((memory_gb or memory.default_memory_gb(self.device)) * 2**30)
        self._memory_set = bool(memory_gb or os.environ.get("MEMSCORE_MEMORY_GB"))
        self.progress = progress
        self.skip_bad = skip_bad_images
        if pca_bases not in ("auto", "disk", "refit"):
            raise ValueError(f"pca_bases must be auto, disk or refit, got {pca_bases!r}")
        self.pca_bases = pca_bases
        self.announce = announce  # say each extraction's cost before it runs (off for a fixture's own reads)
        if reducer not in ("pca", "norm"):
            raise ValueError(f"reducer must be pca or norm, got {reducer!r}")
        #: "norm": each layer reduced to one number per stimulus, the L2 norm of its whole output (no PCA)
        self.reducer = reducer
        if reducer == "norm":
            self.k = None
        self.transform = model.transform(image_size)
        self.model.module.to(self.device).eval()
        if batch_size == "auto":
            from .batching import auto_batch_size

            self.batch_size = auto_batch_size(model, self.device, image_size, self.memory, self.cache)
        self.timings: dict[str, float] = {"pca_fit_s": 0.0, "extract_s": 0.0}
        self.passes = 0

    @classmethod
    def for_run(cls, model: Model, options, *, n_components: int | None, reference: Stimuli | None,
                image_size: int | None = None, reducer: str = "pca") -> "Extractor":
        """The engine set up from a benchmark's :class:`~memscore.benchmark.RunOptions`."""
        return cls(model, n_components=n_components, reference=reference, batch_size=options.batch_size,
                   device=options.device, num_workers=options.num_workers, bf16=options.bf16,
                   image_size=image_size, cache_dir=options.cache_dir, progress=options.progress,
                   skip_bad_images=options.skip_bad_images, pca_bases=options.pca_bases, reducer=reducer)

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
        if self.reducer == "norm":
            return {"reducer": "l2norm"}
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
        record = CacheRecord(folder / "bases.json", "PCA bases record")
        out: dict[str, StoredPCA] = {}
        todo = []
        for name in need:
            f = folder / f"{fname(name)}.pt"
            why = record.check(name, f, units=units[name]) if f.exists() else None
            if f.exists() and why is None:
                out[name] = StoredPCA(f, units[name], record.files[name]["k"])
            else:
                if f.exists():
                    notice(f"cached PCA basis of layer {name} is unusable ({why}); fitting it again")
                todo.append(name)
        if not todo:
            return out
        t0 = time.perf_counter()
        groups = memory.groups(todo, lambda n: self._fit_cost(units[n]), self.memory)
        for fitted in self._fit_groups(groups, units):
            atomic.ensure_space(folder, sum(units[n] * (p.k + 1) * 4 for n, p in fitted.items()))
            for name, pca in fitted.items():
                f = folder / f"{fname(name)}.pt"
                with atomic.atomic_path(f) as tmp:
                    torch.save({"mean": pca.mean.cpu(), "basis": pca.basis.cpu(), "offset": pca.offset.cpu(),
                                "explained_variance": pca.explained_variance}, tmp)
                out[name] = StoredPCA(f, units[name], pca.k)
                record.add(name, f, units=units[name], k=pca.k)
            fitted = pca = None  # free the group's bases before the next group's fit
            record.save()  # with what a concurrent run recorded meanwhile
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
            def sink(name, out, offset, bufs=bufs):
                bufs[name][offset:offset + out.shape[0]] = out.float()

            bad = self._run(self.reference, group, sink, desc=f"PCA fit {gi + 1}/{len(groups)}")
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
        """Whether to fit the bases afresh per layer group instead of storing them (``pca_bases``): "auto"
        refits on an accelerator (the fit there costs less than writing and reading the bases back: they never
        touch the disk) and on the CPU when they would take more than 80 % of the cache disk's free space."""
        if not self.k:
            return False
        folder = self.cache / "pca" / self._key(**self._reducer_key())  # (no reference set: a clear error)
        if self.pca_bases != "auto":
            return self.pca_bases == "refit"
        if self.device.type != "cpu":
            return True
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
        groups = memory.groups(todo, lambda n: pcas[n].nbytes if n in pcas else 0, self._bases_budget(mmap))
        for group in groups:
            for n in group:
                if mmap and n in pcas:
                    pcas[n].prefetch()  # one bulk read-ahead instead of page-sized faults in the hooks
            yield group, len(groups), {n: pcas[n].load(mmap=True).to(self.device) for n in group if n in pcas}

    def _refit_plan(self, todo: Sequence[str], units: dict[str, int]) -> list[tuple[list[str], list[list[str]]]]:
        """``[(pass group, [its fit groups])]``: a pass group's bases (bf16 under --bf16) take at most half the
        memory budget, fitted in as few reference passes as the other half allows (a fit holds its layers'
        reference activations), so the bases need not share memory with their fit (fewer passes)."""
        need = set(self._reduced(todo, units))
        keep = min(self.k or 0, len(self.reference) - 1) if self.reference is not None else 0
        width = 2 if self.bf16 else 4
        half = max(self.memory // 2, 1)
        groups = memory.groups(todo, lambda n: units[n] * (keep + 1) * width if n in need else 0, half)
        return [(g, memory.groups([n for n in g if n in need], lambda n: self._fit_cost(units[n]), half))
                for g in groups]

    def _refit_groups(self, todo: Sequence[str], units: dict[str, int]):
        """(group, count, bases) with bases fitted for this pass only (its reference passes), never written."""
        plan = self._refit_plan(todo, units)
        for group, fits in plan:
            t0 = time.perf_counter()
            fitted = {}
            for part in self._fit_groups(fits, units):  # --bf16: held in bf16
                fitted.update({n: p.bf16() if self.bf16 else p for n, p in part.items()})
            self.timings["pca_fit_s"] += time.perf_counter() - t0
            yield group, len(plan), fitted
            del fitted  # before the next group's fit allocates

    def _bases_budget(self, mmap: bool) -> int:
        """Bytes of PCA bases one pass may use. Memory-mapped bases only need to stay in the page
        cache, so without an explicit budget they may use most of the memory available now: one
        pass (one forward) instead of several, each re-reading its bases from disk."""
        if not mmap or self._memory_set:
            return self.memory
        return max(self.memory, int(0.75 * memory.available_memory()))

    # -- forward passes ----------------------------------------------------------------------
    def _run(self, stimuli: Stimuli, layers: Sequence[str], sink: Sink, desc: str) -> list[int]:
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
                bad.extend(int(i) for i in idx[~ok])
                if x is None:
                    continue
                x = x.to(self.device, non_blocking=True)
                if self.device.type == "cuda":  # out of memory: the batch in halves, never the run lost
                    from .batching import forward_halving

                    fits = forward_halving(lambda b, o: cap.run(b, offset=o), x, int(idx[0]))
                    self.batch_size = min(self.batch_size, fits)
                else:
                    cap.run(x, offset=int(idx[0]))
        return bad

    def extract(self, stimuli: Stimuli, layers: Sequence[str] | None = None) -> Activations:
        """Every layer's (stimuli x features) array, from the cache where a valid one is stored.

        Each cached array is checked against what ``meta.json`` recorded when it was written (shape,
        dtype, size, a sampled checksum): a missing, truncated, garbage or wrong-shape file is computed
        again with a one-line notice, never used."""
        layers = list(layers or self.model.layers())
        units = self._units()
        folder = self._activations_folder(stimuli)
        folder.mkdir(parents=True, exist_ok=True)
        atomic.clean_stale(folder)
        record = CacheRecord(folder / "meta.json", "activation cache record")
        bad = record.header.get("bad")
        if not (isinstance(bad, list) and all(isinstance(i, int) and 0 <= i < len(stimuli) for i in bad)) \
                or record.header.get("stimuli") != len(stimuli):
            record.header, record.files = {}, {}
            bad = None
        files = record.files
        arrays: dict[str, np.ndarray] = {}
        todo = []
        for name in layers:
            f = folder / f"{fname(name)}.npy"
            if not f.exists() or bad is None:
                todo.append(name)
                continue
            why = record.check(name, f, rows=len(stimuli))
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
            mode = self._mode(stimuli, todo, units)
            cost = extraction_cost(self, stimuli, todo, units, mode, cached=len(layers) - len(todo))
            cost.announce(folder) if self.announce else cost.check(folder)
            t0, fit0 = time.perf_counter(), self.timings["pca_fit_s"]
            if mode == "gram":
                bad_idx = self._extract_gram(stimuli, todo, units, folder, files, arrays)
            else:
                bad_idx = set()
                groups = self._refit_groups(todo, units) if mode == "refit" else \
                    self._stored_groups(todo, self.pca(todo))
                for gi, (group, n_groups, dev_pca) in enumerate(groups):
                    norm = self.reducer == "norm"
                    dims = {n: dev_pca[n].k if n in dev_pca else 1 if norm else units[n] for n in group}
                    outs = self._open_outputs(folder, group, dims, len(stimuli))
                    with self._writing(folder, group, outs):
                        def sink(name, out, offset, outs=outs, dev_pca=dev_pca, norm=norm):
                            red = dev_pca[name].project(out) if name in dev_pca else \
                                out.float().reshape(len(out), -1).norm(dim=1, keepdim=True) if norm else out.float()
                            outs[name][offset:offset + red.shape[0]] = red.float().cpu().numpy()

                        bad_idx.update(self._run(stimuli, group, sink, desc=f"layers {gi + 1}/{n_groups}"))
                        self._finish(folder, outs, bad_idx, files, arrays)
                    del dev_pca
            # a concurrent run may have recorded other layers: kept when it found the same undecodable rows
            record.save({"bad": sorted(bad_idx), "stimuli": len(stimuli), "model": self.model.identifier},
                        compatible=lambda current: current.get("bad") == sorted(bad_idx))
            bad_ids = [stimuli.ids[i] for i in sorted(bad_idx)]
            self.timings["extract_s"] += time.perf_counter() - t0 - (self.timings["pca_fit_s"] - fit0)
        report = {"layers": len(layers), "computed": computed, "passes": self.passes,
                  "dims": {n: int(arrays[n].shape[1]) for n in layers}, **self.timings}
        return Activations(stimuli, {n: arrays[n] for n in layers}, bad_ids, report)

    def plan(self, stimuli: Stimuli, layers: Sequence[str] | None = None):
        """The :class:`~memscore.cost.Cost` :meth:`extract` would incur now (cached layers left out), without
        running anything: what ``--dry-run`` prints."""
        from .cost import Cost

        layers = list(layers or self.model.layers())
        units = self._units()
        folder = self._activations_folder(stimuli)
        files = CacheRecord(folder / "meta.json", None).files  # (what extract would find usable: recorded files)
        todo = [n for n in layers if not (n in files and (folder / f"{fname(n)}.npy").exists())]
        if not todo:
            return Cost(self.model.identifier, len(stimuli), 0, len(layers), 0, "none", 0, 0, 0)
        return extraction_cost(self, stimuli, todo, units, self._mode(stimuli, todo, units),
                               cached=len(layers) - len(todo))

    def _activations_folder(self, stimuli: Stimuli) -> Path:  # keyed by model, stimuli and reducer
        return self.cache / "activations" / self._key(stimuli=stimuli.digest(), **self._reducer_key())

    def _mode(self, stimuli: Stimuli, todo: Sequence[str], units: dict[str, int]) -> str:
        """How this extraction reduces its layers: "gram", "refit", "disk", "norm" or "none" (see cost.Cost)."""
        if self._gram(stimuli):
            return "gram"
        if self._refit(todo, units):
            return "refit"
        return "disk" if self.k else self.reducer.replace("pca", "none")

    def _gram(self, stimuli: Stimuli) -> bool:
        """Whether the PCA reference set is ``stimuli`` themselves: then their projections come from the
        reference Gram's eigendecomposition (:func:`~memscore.pca.gram_scores`), one pass per layer group
        and no basis written. ``pca_bases="disk"`` keeps the bases instead."""
        return bool(self.k) and self.reference is not None and self.pca_bases != "disk" \
            and len(self.reference) == len(stimuli) and self.reference.ids == stimuli.ids \
            and self.reference.digest() == stimuli.digest()

    def _gram_cost(self, units: int, n: int) -> int:
        """Bytes a layer's Gram-only PCA holds: its n x units activations (the n x n Gram is small)."""
        return units * 4 * n + n * n * 8 * 3

    def _extract_gram(self, stimuli: Stimuli, todo: Sequence[str], units: dict[str, int], folder: Path,
                      files: dict, arrays: dict) -> set[int]:
        """Each layer group in one pass: raw layers written as they come, reduced ones held (n x units), then
        replaced by their PCA scores from the Gram. Returns the indices of undecodable stimuli."""
        from .pca import gram_scores

        n = len(stimuli)
        need = set(self._reduced(todo, units))
        groups = memory.groups(todo, lambda name: self._gram_cost(units[name], n) if name in need else 0,
                               self.memory)
        bad_idx: set[int] = set()
        for gi, group in enumerate(groups):
            raw = [name for name in group if name not in need]
            outs = self._open_outputs(folder, raw, {name: units[name] for name in raw}, n)
            with self._writing(folder, group, outs):
                bufs = {name: torch.empty(n, units[name], dtype=torch.float32, device=self.device)
                        for name in group if name in need}

                def sink(name, out, offset, outs=outs, bufs=bufs):
                    if name in bufs:
                        bufs[name][offset:offset + out.shape[0]] = out.float()
                    else:
                        outs[name][offset:offset + out.shape[0]] = out.float().cpu().numpy()

                bad_idx.update(self._run(stimuli, group, sink, desc=f"layers {gi + 1}/{len(groups)}"))
                keep = [i for i in range(n) if i not in bad_idx]
                if bufs and len(keep) < 2:
                    raise DataError(f"fewer than 2 decodable images ({len(keep)} of {n}) to fit the PCA on")
                t0 = time.perf_counter()
                for name in list(bufs):
                    acts = bufs.pop(name)
                    if len(keep) < n:
                        acts = acts.index_select(0, torch.tensor(keep, device=self.device))
                    scores = gram_scores(acts, self.k)[0].cpu().numpy()
                    del acts
                    outs.update(self._open_outputs(folder, [name], {name: scores.shape[1]}, n))
                    outs[name][keep] = scores
                self.timings["pca_fit_s"] += time.perf_counter() - t0
                self._finish(folder, outs, bad_idx, files, arrays)
        return bad_idx

    @contextmanager
    def _writing(self, folder: Path, group: Sequence[str], outs: dict, need: int | None = None):
        """A group's outputs in the making: on any failure their temp files go and a full disk is one line
        (saying ``need`` bytes when known)."""
        try:
            yield
        except BaseException as exc:
            outs.clear()
            for name in group:
                atomic.tmp_path(folder / f"{fname(name)}.npy").unlink(missing_ok=True)
            if atomic.no_space(exc):
                raise atomic.disk_full(folder, need) from None
            raise

    def _finish(self, folder: Path, outs: dict, bad_idx: set[int], files: dict, arrays: dict) -> None:
        """Zero the undecodable rows, move each finished array into place and record it."""
        for name, arr in list(outs.items()):
            if bad_idx:
                arr[sorted(bad_idx)] = 0.0
            arr.flush()
            del arr
            f = folder / f"{fname(name)}.npy"
            os.replace(atomic.tmp_path(f), f)
            files[name] = file_record(f)  # the record's own dict (CacheRecord.files): saved with it
            arrays[name] = np.load(f, mmap_mode="r")
        outs.clear()

    def _open_outputs(self, folder: Path, group: Sequence[str], dims: dict[str, int], n: int) -> dict:
        """Preallocated float32 memory maps (temp files) for a group's layers. The space is checked and
        reserved first: a full disk is one line, never a SIGBUS from a sparse map."""
        need = sum(n * d * 4 for d in dims.values())
        atomic.ensure_space(folder, need)
        outs: dict[str, np.ndarray] = {}
        with self._writing(folder, group, outs, need):
            for name in group:
                tmp = atomic.tmp_path(folder / f"{fname(name)}.npy")
                outs[name] = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, dims[name]))
                fd = os.open(tmp, os.O_RDWR)
                try:
                    atomic.reserve(fd, os.fstat(fd).st_size, folder)
                finally:
                    os.close(fd)
        return outs


def extract(model: Model, stimuli: Stimuli, layers: Sequence[str] | None = None, **kwargs) -> Activations:
    """Convenience wrapper: ``Extractor(model, **kwargs).extract(stimuli, layers)``."""
    return Extractor(model, **kwargs).extract(stimuli, layers)
