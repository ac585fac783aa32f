"""Weights: loading local checkpoints safely (``weights_only``) with one-line errors, and a model's weights
identity by content (:func:`model_fingerprint`)."""
from __future__ import annotations

from pathlib import Path

from .errors import MemscoreError


def resolve_weights(weights) -> str:
    """The one reading of a ``--weights`` value every model plugin uses: ``"none"`` (random init; also
    None/False/"None"), ``"default"`` (the source's pretrained weights), or the value itself (a local
    checkpoint path, or a source's own weights name)."""
    if weights in (None, False) or str(weights).lower() == "none" or str(weights).startswith("none("):
        return "none"
    return str(weights)


def apply_weights(model, weights, *, what: str | None = None):
    """Give a freshly built :class:`~memscore.model.Model` its weights: ``none`` keeps the random init,
    a file is loaded with :func:`load_model_checkpoint` (``weights_only``; a fine-tuned export gets its
    one-unit head). ``default`` is the plugin's own business (a hub) and is left to it. Returns the model."""
    w = resolve_weights(weights)
    if w not in ("none", "default"):
        load_model_checkpoint(model, Path(w).expanduser(), what=what or model.identifier)
        model.module.eval()
    model.weights = w if w in ("none", "default") else str(Path(w).expanduser())
    return model


def local_default(entry_meta: dict | None) -> bool:
    """Whether a model's default weights are a local file its plugin registered (a fine-tuned model: it
    always runs with them, and building it downloads nothing), so a dry build uses them, not ``none``."""
    meta = entry_meta or {}
    return bool(meta.get("path")) or meta.get("source") == "finetuned"


def weights_identity(weights: str | None, entry_meta: dict | None = None) -> str:
    """The weights as every key names them (run key, commitments, fine-tune identity): ``none``,
    ``default`` (``default:sha256=…`` for a model backed by a local file), or ``file:sha1=…`` of a local
    checkpoint's bytes — a file replaced in place is other weights, the same file elsewhere the same."""
    if weights in (None, "none") or str(weights).startswith("none("):
        return "none"
    w = str(weights)
    if w == "default":
        sha = (entry_meta or {}).get("sha256")
        return f"default:sha256={sha}" if sha else "default"
    if w.startswith(("file:", "default:")):
        return w
    path = Path(w).expanduser()
    if path.is_file():
        from .fingerprint import file_sha1

        return f"file:sha1={file_sha1(path)}"
    return w  # a hub id (the model plugin resolves it)


def check_finite(state: dict, where: str) -> None:
    """Refuse a state dict with a NaN or infinite value in any floating-point tensor: one line naming
    ``where`` (e.g. ``--weights PATH``) and the first bad tensor. Such weights would give NaN
    activations and scores that look like results."""
    import torch

    for key, t in state.items():
        if not isinstance(t, torch.Tensor) or not (t.is_floating_point() or t.is_complex()) or t.numel() == 0:
            continue
        if bool(torch.isfinite(t).all()):
            continue
        n_nan = int(torch.isnan(t).sum())
        n_inf = int(torch.isinf(t).sum())
        what = " and ".join(x for x in (f"{n_nan} NaN" if n_nan else "", f"{n_inf} infinite" if n_inf else "") if x)
        raise MemscoreError(f"{where}: tensor {key!r} holds {what} value(s) (of {t.numel()}); the checkpoint is "
                            f"corrupt or its training diverged — use another checkpoint")


def read_state_dict(path: Path) -> dict:
    """The state dict in ``path`` (also under ``state_dict``/``model``/``model_state``), ``module.`` stripped."""
    import torch

    if not path.is_file():
        from .images import path_kind

        kind = path_kind(path)
        raise MemscoreError(f"--weights {path}: " + ("no such file" if kind == "missing" else
                                                     f"is {kind}, not a checkpoint file"))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise MemscoreError(f"--weights {path}: not a readable PyTorch checkpoint ({type(exc).__name__}); "
                            f"pass a file saved with torch.save(model.state_dict(), path)") from None
    if isinstance(state, dict):
        for key in ("state_dict", "model", "model_state"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict):
        raise MemscoreError(f"--weights {path}: holds a {type(state).__name__}, not a state dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    check_finite(state, f"--weights {path}")
    return state


def _load_strict(module, state: dict, path: Path, what: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise MemscoreError(f"--weights {path}: does not fit {what} ({first[:200]})") from None


def load_checkpoint(module, path: Path, *, what: str = "model") -> None:
    """Load a state dict (or a dict holding one under ``state_dict``/``model``) into ``module``."""
    _load_strict(module, read_state_dict(path), path, what)


def load_model_checkpoint(model, path: Path, *, what: str = "model") -> None:
    """Load ``path`` into a memscore :class:`~memscore.model.Model`.

    A checkpoint whose classifier head has another number of outputs than the model's (a fine-tuned
    export has one) first gets a head of that size (``Model.replace_head``). A checkpoint may describe
    itself: its ``output`` (what it predicts) goes to ``meta["output"]`` and its ``preprocessing`` (what
    it was trained with) replaces the model's.
    """
    import torch

    from .model import Preprocessing, _find_head

    state = read_state_dict(path)
    head = model.head or _find_head(model.module)
    w = state.get(f"{head}.weight") if head else None
    own = model.module.state_dict().get(f"{head}.weight") if head else None
    if isinstance(w, torch.Tensor) and isinstance(own, torch.Tensor) and w.shape != own.shape \
            and w.shape[1:] == own.shape[1:]:
        model.replace_head(int(w.shape[0]))
    _load_strict(model.module, state, path, what)
    # what the checkpoint says of itself (a plugin that exports models writes these keys): the output it
    # predicts and the preprocessing it was trained with
    ck = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    ck = ck if isinstance(ck, dict) else {}
    if isinstance(ck.get("output"), str):
        model.meta["output"] = ck["output"]
    p = ck.get("preprocessing")
    if isinstance(p, dict) and p:
        try:
            model.preprocessing = Preprocessing(crop_size=int(p["crop_size"]), resize_size=int(p["resize_size"]),
                                                interpolation=p["interpolation"], mean=tuple(p["mean"]),
                                                std=tuple(p["std"]))
        except (KeyError, TypeError, ValueError):
            raise MemscoreError(f"--weights {path}: its 'preprocessing' entry is incomplete (crop_size, "
                                f"resize_size, interpolation, mean, std)") from None


def model_fingerprint(model) -> str:
    """Hash of the model's parameters and buffers: random-init and fine-tuned weights key caches too."""
    import hashlib

    import torch

    fp = model.meta.get("_fingerprint")
    if fp is None:
        h = hashlib.sha1()
        for name, t in model.module.state_dict().items():
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
                     if t.numel() else b"")
        fp = model.meta["_fingerprint"] = h.hexdigest()[:16]
    return fp

