"""The fine-tuning trainer behind ``lamem-finetune``: the paper's recipe, resumable and deterministic.

Recipe (Harada & Sakai 2023, every item overridable through :class:`Recipe`): one output unit instead
of the classifier, all layers trained, MSE loss, SGD with Nesterov momentum 0.9, batch 32, lr 1e-3
divided by 10 every 10 epochs (``StepLR``), at most 100 epochs, early stopping after 10 epochs without
improvement of the validation Spearman rho (the best epoch's weights are kept); ImageNet-style
augmentation for training, the model's own eval transform for validation and test.

Images
    Every image is decoded once per use into its *base*: the shorter side resized to the model's
    resize size ``R`` (its own interpolation, Pillow antialiasing), then the central ``R x R``
    square, as uint8. Evaluation takes the central ``C x C`` crop of the base, which is exactly the
    model's eval transform (``Resize(R)`` then ``CenterCrop(C)``, when ``R - C`` is even as in
    256/224; a model whose preprocessing has another eval transform is evaluated through that
    transform itself); training takes a random ``C x C`` crop and a horizontal flip (``augment=resize-crop``,
    the default) or a random resized crop (``augment=rrc``, torchvision's ``RandomResizedCrop``
    parameters drawn on the base). Normalisation (``/255``, mean, std) runs on the device.
    With ``cache=True`` bases are kept in a memory-mapped uint8 ``.npy`` (see :class:`ImageCache`).

Determinism and resume
    Data order and every augmentation parameter are a pure function of (seed, split, epoch): they are
    drawn in the main process by :class:`EpochSampler` and shipped to the DataLoader workers with the
    index, so the number of workers changes nothing. A checkpoint is written atomically after every
    epoch (model, optimizer, scheduler, RNG states of torch CPU/CUDA, numpy and python, epoch, early
    stopping state, history); the best weights live beside it in ``best-e<epoch>.pt`` (written before
    the checkpoint that names them). A killed run replays the interrupted epoch from the last
    checkpoint and, on CPU, ends bit-identical to an uninterrupted run.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from memscore.errors import DataError, MemscoreError
from memscore.model import Model

CHECKPOINT_FORMAT = 1
AUGMENTS = ("resize-crop", "rrc", "none")


# =============================================================================================
# recipe
# =============================================================================================
@dataclass
class Recipe:
    """The training recipe; defaults are the paper's."""

    epochs: int = 100
    patience: int = 10
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = True
    step: int = 10  # lr is multiplied by gamma every `step` epochs
    gamma: float = 0.1
    batch_size: int = 32
    weight_decay: float = 0.0
    augment: str = "resize-crop"
    image_size: int | None = None  # crop size; None = the model's own

    def check(self) -> "Recipe":
        from memscore.errors import OptionError

        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise OptionError(f"--benchmark-args {msg}")

        for name in ("epochs", "patience", "step", "batch_size"):
            v = getattr(self, name)
            need(isinstance(v, int) and not isinstance(v, bool) and v >= 1, f"{name}={v!r}: must be an integer >= 1")
        for name in ("lr", "momentum", "gamma", "weight_decay"):
            v = getattr(self, name)
            need(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0,
                 f"{name}={v!r}: must be a number >= 0")
            setattr(self, name, float(v))
        need(self.lr > 0, f"lr={self.lr!r}: must be > 0")
        need(isinstance(self.nesterov, bool), f"nesterov={self.nesterov!r}: must be true or false")
        need(not (self.nesterov and self.momentum == 0), "nesterov=true needs momentum > 0")
        need(self.augment in AUGMENTS, f"augment={self.augment!r}: use one of {', '.join(AUGMENTS)}")
        v = self.image_size
        need(v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 8),
             f"image_size={v!r}: must be an integer >= 8 (or none for the model's own)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_optimizer(module: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum) over all parameters: every layer is trained."""
    return torch.optim.SGD(module.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                           nesterov=recipe.nesterov, weight_decay=recipe.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe):
    """lr divided by 1/gamma every ``step`` epochs; stepped once at the end of each epoch."""
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=recipe.step, gamma=recipe.gamma)


# =============================================================================================
# images
# =============================================================================================
@dataclass(frozen=True)
class Geometry:
    """Base size ``resize`` (R), crop ``crop`` (C), interpolation, normalisation of one model."""

    resize: int
    crop: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def of(cls, model: Model, image_size: int | None = None) -> "Geometry":
        p = model.preprocessing
        crop = image_size or p.crop_size
        resize = p.resize_size if image_size is None else round(image_size * p.resize_size / p.crop_size)
        return cls(int(max(resize, crop)), int(crop), p.interpolation, tuple(p.mean), tuple(p.std))


def standard_eval(model: Model) -> bool:
    """Whether the model's eval transform is :class:`Preprocessing`'s Resize + CenterCrop (reproduced
    exactly by the centre crop of the base image)."""
    from memscore.model import Preprocessing

    prep = model.preprocessing
    return type(prep).transform is Preprocessing.transform or bool(getattr(prep, "exact", False))


def decode_base(path: Path, resize: int, interpolation: str) -> np.ndarray:
    """Decode ``path`` (defensively, :func:`memscore.images.load_image`) into its R x R uint8 base."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    from memscore.images import load_image

    img = load_image(path)
    img = TF.resize(img, resize, interpolation=InterpolationMode(interpolation))
    img = TF.center_crop(img, resize)
    return np.asarray(img, dtype=np.uint8)


def rrc_params(rng: np.random.Generator, height: int, width: int, scale=(0.08, 1.0),
               ratio=(3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """torchvision's ``RandomResizedCrop.get_params`` with an explicit generator: (top, left, h, w)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


class ImageCache:
    """Decoded R x R uint8 bases of one image folder in a memory-mapped ``.npy``, filled on first use.

    Keyed by the folder's listing (names, sizes, modification times), R and the interpolation. Rows are
    written by whichever process (DataLoader worker) decodes the image first; a per-row state byte
    (0 empty, 1 filled, 2 undecodable) is set only after the row, so a killed run never leaves a row
    that reads as filled but is not. Rows hold exactly what :func:`decode_base` returns, so results
    with and without the cache are identical.
    """

    def __init__(self, folder: Path, resize: int, interpolation: str, cache_root: Path):
        self.folder = Path(folder)
        self.resize, self.interpolation = int(resize), interpolation
        names = sorted(e.name for e in os.scandir(self.folder) if e.is_file())
        h = hashlib.sha256(f"{self.folder.resolve()}\0{resize}\0{interpolation}\n".encode())
        for n in names:
            st = os.stat(self.folder / n)
            h.update(f"{n}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        self.key = h.hexdigest()[:24]
        self.index = {n: i for i, n in enumerate(names)}
        self.dir = Path(cache_root) / "finetune-images" / self.key
        self.images_path, self.state_path = self.dir / "images.npy", self.dir / "state.npy"
        self.dir.mkdir(parents=True, exist_ok=True)
        shape = (max(len(names), 1), self.resize, self.resize, 3)
        for path, shp in ((self.images_path, shape), (self.state_path, (shape[0],))):
            if not path.exists():
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shp).flush()
                try:
                    os.link(tmp, path)  # never replaces a cache another process is filling
                except FileExistsError:
                    pass
                os.unlink(tmp)
        (self.dir / "meta.json").write_text(json.dumps(
            {"folder": str(self.folder.resolve()), "resize": self.resize, "interpolation": interpolation,
             "images": len(names)}))
        self._images = self._state = None

    def __getstate__(self):  # workers reopen the maps themselves
        d = dict(self.__dict__)
        d["_images"] = d["_state"] = None
        return d

    def _open(self) -> None:
        if self._images is None:
            self._images = np.load(self.images_path, mmap_mode="r+")
            self._state = np.load(self.state_path, mmap_mode="r+")

    def filled(self) -> int:
        self._open()
        return int((self._state == 1).sum())

    def get(self, path: Path) -> np.ndarray:
        """The base of ``path`` (from the cache, or decoded and stored); raises DataError when undecodable."""
        path = Path(path)
        i = self.index.get(path.name) if path.parent == self.folder else None
        if i is None:
            return decode_base(path, self.resize, self.interpolation)
        self._open()
        if self._state[i] == 1:
            return np.array(self._images[i])
        if self._state[i] == 2:
            return decode_base(path, self.resize, self.interpolation)  # raises, naming the file
        try:
            arr = decode_base(path, self.resize, self.interpolation)
        except DataError:
            self._state[i] = 2
            raise
        self._images[i] = arr
        self._state[i] = 1
        return arr


class BaseImages(torch.utils.data.Dataset):
    """Item ``(i, box, flip)`` -> ``(uint8 HWC crop, i, ok, reason)``; ``box`` None = eval centre crop.

    ``box`` is ``(top, left, height, width)`` in base coordinates; a box that is not C x C is resized to
    C x C (random resized crop). An undecodable image gives ``None`` and ``ok=False`` with the reason.
    """

    def __init__(self, paths: Sequence[Path], geom: Geometry, cache: ImageCache | None = None,
                 eval_transform: Callable | None = None):
        self.paths, self.geom, self.cache = [Path(p) for p in paths], geom, cache
        self.eval_transform = eval_transform  # a model whose eval transform is not Resize + CenterCrop

    def __len__(self) -> int:
        return len(self.paths)

    def base(self, i: int) -> np.ndarray:
        if self.cache is not None:
            return self.cache.get(self.paths[i])
        return decode_base(self.paths[i], self.geom.resize, self.geom.interpolation)

    def __getitem__(self, item):
        i, box, flip = item if isinstance(item, tuple) else (item, None, False)
        c = self.geom.crop
        if box is None and self.eval_transform is not None:
            from memscore.images import load_image

            try:
                return self.eval_transform(load_image(self.paths[i])), i, True, ""
            except DataError as exc:
                return None, i, False, str(exc)
        try:
            arr = self.base(i)
        except DataError as exc:
            return None, i, False, str(exc)
        if box is None:
            off = int(round((self.geom.resize - c) / 2.0))
            out = arr[off:off + c, off:off + c]
        else:
            top, left, h, w = box
            out = arr[top:top + h, left:left + w]
            if (h, w) != (c, c):
                from torchvision.transforms import InterpolationMode
                from torchvision.transforms import functional as TF

                t = TF.resize(torch.from_numpy(np.array(out)).permute(2, 0, 1), [c, c],
                              interpolation=InterpolationMode(self.geom.interpolation), antialias=True)
                out = t.permute(1, 2, 0).numpy()
        if flip:
            out = out[:, ::-1]
        return np.ascontiguousarray(out), i, True, ""


def _collate(batch):
    """``(x of the decodable rows, idx, ok, reasons)``: x is uint8 NHWC (base crops) or float NCHW (the
    model's own eval transform); idx/ok/reasons cover every row."""
    good = [b[0] for b in batch if b[2]]
    if not good:
        x = None
    elif isinstance(good[0], np.ndarray):
        x = torch.from_numpy(np.stack(good))
    else:
        x = torch.stack(good)
    idx = torch.tensor([b[1] for b in batch], dtype=torch.long)
    ok = torch.tensor([b[2] for b in batch], dtype=torch.bool)
    return x, idx, ok, [b[3] for b in batch]


def epoch_seed(seed: int, split: int, epoch: int, what: int = 0) -> list[int]:
    return [int(seed) & 0xFFFFFFFF, int(split), int(epoch), int(what)]


class EpochSampler(torch.utils.data.Sampler):
    """Batches of ``(index, box, flip)`` items; order and augmentation depend only on (seed, split, epoch).

    A trailing batch of a single image is dropped in training (BatchNorm cannot train on one image).
    """

    def __init__(self, n: int, batch_size: int, geom: Geometry, augment: str, seed: int, split: int):
        self.n, self.batch_size, self.geom, self.augment = n, batch_size, geom, augment
        self.seed, self.split, self.epoch = seed, split, 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def items(self) -> list[tuple]:
        rng = np.random.default_rng(epoch_seed(self.seed, self.split, self.epoch, 1))
        order = rng.permutation(self.n)
        r, c = self.geom.resize, self.geom.crop
        out = []
        for i in order.tolist():
            if self.augment == "resize-crop":
                box = (int(rng.integers(0, r - c + 1)), int(rng.integers(0, r - c + 1)), c, c)
            elif self.augment == "rrc":
                box = rrc_params(rng, r, r)
            else:
                off = int(round((r - c) / 2.0))
                box = (off, off, c, c)
            flip = bool(rng.random() < 0.5) if self.augment != "none" else False
            out.append((i, box, flip))
        return out

    def __iter__(self):
        items = self.items()
        bs = self.batch_size
        batches = [items[j:j + bs] for j in range(0, len(items), bs)]
        if len(batches) > 1 and len(batches[-1]) == 1:
            batches.pop()
        return iter(batches)

    def __len__(self) -> int:
        k, rem = divmod(self.n, self.batch_size)
        return k + (1 if rem > 1 or (rem == 1 and k == 0) else 0)


# =============================================================================================
# checkpoints
# =============================================================================================
def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` through :mod:`memscore.atomic` (temp file, fsync, ``os.replace``)."""
    from memscore import atomic

    with atomic.atomic_path(Path(path)) as tmp:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(text: str, path: Path) -> None:
    from memscore import atomic

    atomic.write_text(Path(path), text)


def load_trusted(path: Path, what: str) -> Any:
    """``torch.load(weights_only=True)``; an unreadable file is one line naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise MemscoreError(f"{what} {path} is not a readable checkpoint ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:120] if str(exc) else ''}); delete it to start over") from None


def rng_states() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def set_rng_states(s: dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"])
    if s.get("cuda") and torch.cuda.is_available() and len(s["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(s["cuda"])
    n = s["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = s["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}


# =============================================================================================
# trainer
# =============================================================================================
@dataclass
class FitResult:
    best_epoch: int
    best_val: float
    epochs_run: int
    stopped_early: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: int = 0  # epoch of the checkpoint the run resumed from (0 = fresh)
    train_s: float = 0.0
    skipped: list[str] = field(default_factory=list)


class Finetuner:
    """Trains ``model`` (its head already replaced by one unit) on one split with :class:`Recipe`."""

    def __init__(self, model: Model, recipe: Recipe, *, seed: int = 0, split: int = 1,
                 device: str | torch.device = "cpu", bf16: bool = False, num_workers: int = 0,
                 progress: bool = False, cache: ImageCache | None = None, skip_bad_images: bool = False,
                 desc: str = "", identity: dict[str, Any] | None = None):
        from memscore.activations import resolve_device

        #: what a checkpoint must belong to for a resume (data fingerprint, model, weights): one that
        #: belongs to anything else is moved aside and training starts afresh
        self.identity = dict(identity or {})

        self.model, self.recipe = model, recipe.check()
        self.seed, self.split = int(seed), int(split)
        self.device = resolve_device(device)
        self.cuda = self.device.type == "cuda"
        self.bf16 = bool(bf16) and self.cuda
        self.num_workers = int(num_workers)
        self.progress, self.cache, self.skip_bad = progress, cache, skip_bad_images
        self.desc = desc or model.identifier
        self.geom = Geometry.of(model, recipe.image_size)
        #: None when the model's eval transform is the standard Resize(R) + CenterCrop(C) (then evaluation
        #: takes the centre crop of the cached/decoded base); else that transform itself, used as is
        self.eval_transform = None if standard_eval(model) else model.transform(recipe.image_size)
        self.module = model.module.to(self.device)
        if self.cuda:
            self.module = self.module.to(memory_format=torch.channels_last)
        self.mean = torch.tensor(self.geom.mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(self.geom.std, device=self.device).view(1, 3, 1, 1)
        self.skipped: dict[str, str] = {}
        self._val_loader = None
        #: called as ``on_epoch_end(epoch, trainer, row)`` after each epoch's checkpoint (tests, logging)
        self.on_epoch_end: Callable[[int, "Finetuner", dict], None] | None = None

    # -- data ------------------------------------------------------------------------------------
    def _loader(self, paths: Sequence[Path], batch_sampler=None, batch_size: int | None = None,
                eval_transform: Callable | None = None):
        ds = BaseImages(paths, self.geom, self.cache, eval_transform)
        kw: dict[str, Any] = dict(num_workers=self.num_workers, collate_fn=_collate, pin_memory=self.cuda)
        if self.num_workers > 0:
            kw.update(persistent_workers=True, prefetch_factor=4)
        if batch_sampler is not None:
            return torch.utils.data.DataLoader(ds, batch_sampler=batch_sampler, **kw)
        return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False, **kw)

    def _to_input(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC batch -> normalised float NCHW on the device (channels_last on CUDA); a float batch
        (already the model's own eval transform) only moves."""
        if x.is_floating_point():
            x = x.to(self.device, non_blocking=True)
            return x.contiguous(memory_format=torch.channels_last) if self.cuda else x
        x = x.to(self.device, non_blocking=True).permute(0, 3, 1, 2)
        x = x.float() if self.cuda else x.contiguous().float()
        return x.div_(255.0).sub_(self.mean).div_(self.std)

    def _check_bad(self, idx, ok, reasons, paths) -> torch.Tensor | None:
        """Record undecodable images; raise unless skipping. Returns the keep mask (None = all ok)."""
        if bool(ok.all()):
            return None
        for i, good, why in zip(idx.tolist(), ok.tolist(), reasons):
            if not good:
                if not self.skip_bad:
                    raise DataError(why)
                self.skipped[str(paths[i])] = why
        return ok

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.module(x)
        if isinstance(out, (tuple, list)):  # e.g. Inception's (logits, aux) in train mode
            out = out[0]
        elif hasattr(out, "logits"):
            out = out.logits
        out = out.reshape(out.shape[0], -1)
        if out.shape[1] != 1:
            raise MemscoreError(f"{self.model.identifier}: the model outputs {out.shape[1]} values per image; "
                                f"fine-tuning needs one (replace_head(1))")
        return out[:, 0].float()

    # -- one epoch -------------------------------------------------------------------------------
    def train_epoch(self, epoch: int, loader, sampler: EpochSampler, targets: torch.Tensor, paths,
                    optimizer) -> float:
        from tqdm.auto import tqdm

        sampler.set_epoch(epoch)
        self.module.train()
        total, count = torch.zeros((), dtype=torch.float64, device=self.device), 0
        bar = tqdm(loader, desc=f"{self.desc} split {self.split} epoch {epoch}", unit="batch",
                   disable=not self.progress, leave=False)
        for x, idx, ok, reasons in bar:
            keep = self._check_bad(idx, ok, reasons, paths)
            if keep is not None:
                if int(keep.sum()) < 2:
                    continue
                idx = idx[keep]
            y = targets[idx].to(self.device, non_blocking=True)
            out = self._forward(self._to_input(x))
            loss = torch.nn.functional.mse_loss(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach().double() * len(idx)
            count += len(idx)
        return float(total) / max(count, 1)

    def eval_loader(self, paths: Sequence[Path]):
        return self._loader(paths, batch_size=max(self.recipe.batch_size, 64), eval_transform=self.eval_transform)

    @torch.inference_mode()
    def predict(self, paths: Sequence[Path], *, desc: str = "predict", loader=None) -> np.ndarray:
        """One score per image (eval transform); undecodable images give NaN (recorded / raised).
        ``loader``: a loader of ``paths`` from :meth:`eval_loader`, reused across epochs."""
        from tqdm.auto import tqdm

        self.module.eval()
        out = np.full(len(paths), np.nan)
        loader = loader if loader is not None else self.eval_loader(paths)
        bar = tqdm(loader, desc=f"{self.desc} split {self.split} {desc}", unit="batch",
                   disable=not self.progress, leave=False)
        for x, idx, ok, reasons in bar:
            keep = self._check_bad(idx, ok, reasons, paths)
            if keep is not None:
                if not bool(keep.any()):
                    continue
                idx = idx[keep]
            out[idx.numpy()] = self._forward(self._to_input(x)).double().cpu().numpy()
        return out

    def validate(self, paths: Sequence[Path], scores: np.ndarray, epoch: int) -> float:
        """Spearman rho of the predictions on the validation images (the early-stopping criterion)."""
        if self._val_loader is None or self._val_loader[0] is not paths:
            self._val_loader = (paths, self.eval_loader(paths))
        return rho_of(self.predict(paths, desc=f"val {epoch}", loader=self._val_loader[1]), scores)

    # -- the whole split -------------------------------------------------------------------------
    def fit(self, train_paths: Sequence[Path], train_scores: np.ndarray, val_paths: Sequence[Path],
            val_scores: np.ndarray, workdir: Path) -> FitResult:
        """Train until early stopping or ``epochs``, resuming from ``workdir``; load the best weights."""
        from tqdm.auto import tqdm

        r = self.recipe
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        from memscore.atomic import clean_stale
        from memscore.notice import move_aside

        clean_stale(workdir)  # writes a kill interrupted
        ckpt_path = workdir / "checkpoint.pt"
        optimizer = make_optimizer(self.module, r)
        scheduler = make_scheduler(optimizer, r)
        st: dict[str, Any] = {"epoch": 0, "best_epoch": 0, "best_val": None, "since_best": 0,
                              "history": [], "done": False, "stopped_early": False, "train_s": 0.0,
                              "skipped": {}}
        resumed = 0
        ck = None
        if ckpt_path.exists():
            try:
                ck = load_trusted(ckpt_path, "fine-tuning checkpoint")
            except MemscoreError:
                move_aside(ckpt_path, f"checkpoint {ckpt_path} is unreadable")
            else:
                if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT or ck.get("recipe") != r.to_dict():
                    ck = move_aside(ckpt_path, f"checkpoint {ckpt_path} was written by another recipe or format")
                elif ck.get("identity") != self.identity:
                    ck = move_aside(ckpt_path, f"checkpoint {ckpt_path} belongs to other data or another model")
        if ck is not None:
            self.module.load_state_dict(ck["model"])
            optimizer.load_state_dict(ck["optimizer"])
            scheduler.load_state_dict(ck["scheduler"])
            set_rng_states(ck["rng"])
            st = ck["state"]
            resumed = int(st["epoch"])
        else:
            torch.manual_seed(np.random.SeedSequence(epoch_seed(self.seed, self.split, 0, 2)).generate_state(1)[0])
        self.skipped = dict(st.get("skipped", {}))

        targets = torch.as_tensor(np.asarray(train_scores, dtype=np.float32))
        val_scores = np.asarray(val_scores, dtype=np.float64)
        loader = sampler = None
        epochs_bar = tqdm(total=r.epochs, initial=st["epoch"], desc=f"{self.desc} split {self.split}",
                          unit="epoch", disable=not self.progress or st["done"], leave=False)
        try:
            while not st["done"]:
                epoch = st["epoch"] + 1
                if loader is None:
                    sampler = EpochSampler(len(train_paths), r.batch_size, self.geom, r.augment, self.seed,
                                           self.split)
                    loader = self._loader(train_paths, batch_sampler=sampler)
                t0 = time.perf_counter()
                lr = optimizer.param_groups[0]["lr"]
                loss = self.train_epoch(epoch, loader, sampler, targets, train_paths, optimizer)
                t_train = time.perf_counter() - t0
                val = self.validate(val_paths, val_scores, epoch)
                scheduler.step()
                better = st["best_val"] is None and st["best_epoch"] == 0 or _gt(val, st["best_val"])
                if better:
                    atomic_save({"format": CHECKPOINT_FORMAT, "epoch": epoch, "model": cpu_state(self.module)},
                                workdir / f"best-e{epoch}.pt")
                    st["best_epoch"], st["best_val"], st["since_best"] = epoch, _finite_or_none(val), 0
                else:
                    st["since_best"] += 1
                row = {"epoch": epoch, "lr": lr, "train_loss": loss, "val_rho": _finite_or_none(val),
                       "improved": bool(better), "train_s": round(t_train, 3),
                       "epoch_s": round(time.perf_counter() - t0, 3)}
                st["history"].append(row)
                st["epoch"] = epoch
                st["train_s"] += time.perf_counter() - t0
                st["stopped_early"] = st["since_best"] >= r.patience and epoch < r.epochs
                st["done"] = st["since_best"] >= r.patience or epoch >= r.epochs
                st["skipped"] = dict(self.skipped)
                atomic_save({"format": CHECKPOINT_FORMAT, "recipe": r.to_dict(), "identity": self.identity,
                             "model": cpu_state(self.module),
                             "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                             "rng": rng_states(), "state": st}, ckpt_path)
                for old in workdir.glob("best-e*.pt"):
                    if old.name != f"best-e{st['best_epoch']}.pt":
                        old.unlink(missing_ok=True)
                epochs_bar.update(1)
                epochs_bar.set_postfix(loss=f"{loss:.4f}", val_rho=f"{val:.3f}", best=st["best_epoch"])
                if self.on_epoch_end is not None:
                    self.on_epoch_end(epoch, self, row)
        finally:
            epochs_bar.close()
            del loader
            self._val_loader = None
        best = load_trusted(workdir / f"best-e{st['best_epoch']}.pt", "best weights")
        self.module.load_state_dict(best["model"])
        return FitResult(best_epoch=int(st["best_epoch"]), best_val=_nan_if_none(st["best_val"]),
                         epochs_run=int(st["epoch"]), stopped_early=bool(st["stopped_early"]),
                         history=list(st["history"]), resumed_from=resumed, train_s=float(st["train_s"]),
                         skipped=sorted(self.skipped))


def rho_of(pred: np.ndarray, truth: np.ndarray) -> float:
    """Spearman rho over the images that have a prediction; NaN when undefined (constant/diverged)."""
    from memscore.metrics import Fold, load_metric_for

    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    keep = ~np.isnan(pred)
    if keep.sum() < 3 or not np.isfinite(pred[keep]).all():
        return float("nan")
    return float(load_metric_for("spearman")(pred[keep], truth[keep], [Fold.all(int(keep.sum()))])[0].value)


def _gt(a: float, b: float | None) -> bool:
    """``a`` improves on ``b`` (NaN never improves; anything finite beats a NaN best)."""
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return False
    return b is None or a > b


def _finite_or_none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _nan_if_none(x) -> float:
    return float("nan") if x is None else float(x)
