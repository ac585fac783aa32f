"""Any timm model as a memscore model (the ``timm:<name>`` family, and the zoo's timm entries).

Preprocessing comes from the weights' own ``pretrained_cfg`` exactly as ``timm.data.resolve_data_config``
and ``timm.data.create_transform`` build the eval transform: resize the short side to
``floor(size / crop_pct)``, centre-crop ``size``, normalise with the config's mean/std, with its
interpolation. Configs whose crop mode is not ``center`` (``squash``, ``border``) or whose input is
not square keep timm's own transform (:class:`TimmPreprocessing`).

Weights: ``"default"`` downloads through timm into the Hugging Face cache (or the torch hub cache for
the few configs that only have a URL); offline, a one-line error names the hub id or file and how to
provide it. ``"none"`` is random init; a pretrained tag (``weights=gluon_in1k``) picks other weights of
the same architecture; a path loads a local checkpoint (``.pth``/``.pt``/``.bin`` via
``memscore.weights.load_model_checkpoint``, which also takes a ``lamem-finetune`` export, or ``.safetensors``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from memscore.errors import MemscoreError, UnknownNameError
from memscore.model import Model, Preprocessing
from memscore.weights import resolve_weights


@dataclass
class TimmPreprocessing(Preprocessing):
    """A :class:`Preprocessing` that also carries timm's crop mode and exact input size."""

    crop_mode: str = "center"
    input_hw: tuple[int, int] | None = None

    @property
    def exact(self) -> bool:
        """True when memscore's generic resize/crop transform equals timm's eval transform."""
        return self.crop_mode in ("center", None) and (self.input_hw is None or self.input_hw[0] == self.input_hw[1])

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if not self.exact:
            d.update(crop_mode=self.crop_mode, crop_pct=self.crop_pct, input_hw=list(self.input_hw or ()))
        return d

    def transform(self, *, image_size: int | None = None) -> Callable:
        if self.exact:
            return super().transform(image_size=image_size)
        from timm.data import create_transform

        size = self.input_hw if image_size is None else (image_size, image_size)
        return create_transform(input_size=(3, *size), interpolation=self.interpolation, mean=self.mean,
                                std=self.std, crop_pct=self.crop_pct, crop_mode=self.crop_mode)


def _split(name: str) -> tuple[str, str]:
    arch, _, tag = name.partition(".")
    return arch, tag


def check_name(name: str, prefix: str = "timm:") -> None:
    import timm

    arch, tag = _split(name)
    if not timm.is_model(arch):
        raise UnknownNameError("model", prefix + name, [prefix + n for n in timm.list_models()])
    if tag and name not in timm.list_pretrained(arch + ".*"):
        tags = ", ".join(n.partition(".")[2] for n in timm.list_pretrained(arch + ".*")) or "none"
        raise MemscoreError(f"{prefix}{name}: timm has no pretrained tag {tag!r} for {arch} (tags: {tags})")


def pretrained_cfg(name: str) -> dict[str, Any]:
    """The pretrained config of ``name`` (``arch`` or ``arch.tag``) without building the model."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    if cfg is None:
        return {}
    return cfg.to_dict()


def data_config(name: str) -> dict[str, Any]:
    """``timm.data.resolve_data_config`` of the model's pretrained config."""
    from timm.data import resolve_data_config

    return resolve_data_config(pretrained_cfg=pretrained_cfg(name))


def preprocessing_of(cfg: dict[str, Any]) -> TimmPreprocessing:
    """Map a resolved timm data config onto memscore's preprocessing (see the module docstring)."""
    from timm.data.transforms_factory import DEFAULT_CROP_PCT

    _, h, w = cfg["input_size"]
    crop_pct = cfg.get("crop_pct") or DEFAULT_CROP_PCT
    interp = cfg.get("interpolation") or "bilinear"
    if interp not in ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos"):
        interp = "bilinear"  # timm's 'random' is a training-time option
    return TimmPreprocessing(crop_size=int(h), resize_size=math.floor(h / crop_pct), interpolation=interp,
                             mean=tuple(float(v) for v in cfg["mean"]), std=tuple(float(v) for v in cfg["std"]),
                             crop_pct=float(crop_pct), crop_mode=cfg.get("crop_mode") or "center",
                             input_hw=(int(h), int(w)))


def _hf_cache() -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE

        return str(HF_HUB_CACHE)
    except Exception:  # pragma: no cover - very old huggingface_hub
        return "~/.cache/huggingface/hub"


def _missing_weights(name: str, cfg: dict[str, Any], exc: BaseException) -> MemscoreError:
    hub = cfg.get("hf_hub_id")
    if hub:
        where = (f"hub id {hub} (file model.safetensors or pytorch_model.bin) is not in the Hugging Face cache "
                 f"{_hf_cache()}; download it once with network (e.g. `hf download {hub}`, or copy a populated "
                 f"cache and set HF_HOME)")
    else:
        url = cfg.get("url") or "?"
        import torch

        where = (f"file {url.rsplit('/', 1)[-1]} is not in {torch.hub.get_dir()}/checkpoints/; "
                 f"download it once from {url}")
    return MemscoreError(f"could not load pretrained weights of timm:{name} ({type(exc).__name__}): {where}, "
                         f"or pass --weights PATH")


def _cached(cfg: dict[str, Any]) -> bool:
    """Whether the weights file of ``cfg`` is already in the HF (or torch hub) cache."""
    hub = cfg.get("hf_hub_id")
    if hub:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover
            return False
        files = [cfg["hf_hub_filename"]] if cfg.get("hf_hub_filename") else ["model.safetensors", "pytorch_model.bin"]
        return any(isinstance(try_to_load_from_cache(hub, f), str) for f in files)
    url = cfg.get("url")
    if url:
        import torch

        return (Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]).is_file()
    return False


def _reachable(cfg: dict[str, Any]) -> bool:
    """False when offline for sure (HF_HUB_OFFLINE, or the host does not resolve): fail in one line
    instead of waiting through huggingface_hub's retries."""
    import os
    import socket
    from urllib.parse import urlparse

    if cfg.get("hf_hub_id"):
        try:
            from huggingface_hub import constants

            if getattr(constants, "HF_HUB_OFFLINE", False) or os.environ.get("HF_HUB_OFFLINE", "") in ("1", "true"):
                return False
            host = urlparse(constants.ENDPOINT).hostname
        except Exception:  # pragma: no cover
            host = "huggingface.co"
    else:
        host = urlparse(cfg.get("url") or "").hostname
    if not host:
        return False
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def _load_safetensors(module, path: Path, what: str) -> None:
    try:
        from safetensors.torch import load_file

        state = load_file(str(path))
    except Exception as exc:
        raise MemscoreError(f"--weights {path}: not a readable safetensors file ({type(exc).__name__})") from None
    state = {k.removeprefix("module."): v for k, v in state.items()}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = str(exc).splitlines()
        first = lines[1].strip() if len(lines) > 1 else str(exc)
        raise MemscoreError(f"--weights {path}: does not fit {what} ({first[:200]})") from None


def build(name: str, weights: str | None = "default", *, identifier: str | None = None,
          **model_args) -> Model:
    """Build timm model ``name`` (``arch`` or ``arch.tag``).

    ``weights``: "default" (the name's pretrained weights), "none"/None (random init), another
    pretrained tag of the same architecture, or a path to a local checkpoint.
    """
    import timm

    from memscore.weights import load_model_checkpoint

    check_name(name)
    arch, _ = _split(name)
    w = resolve_weights(weights)
    full = name
    path: Path | None = None
    if w not in ("none", "default"):
        if Path(w).expanduser().exists() or any(sep in w for sep in "/\\") or Path(w).suffix:
            path = Path(w).expanduser()
        else:  # a pretrained tag
            full = f"{arch}.{w.removeprefix(arch + '.')}"
            check_name(full)
    cfg = pretrained_cfg(full)
    pretrained = w not in ("none",) and path is None
    if pretrained and not _cached(cfg) and not _reachable(cfg):
        raise _missing_weights(full, cfg, ConnectionError("offline"))
    try:
        module = timm.create_model(full, pretrained=pretrained, **model_args)
    except TypeError as exc:
        raise MemscoreError(f"--model-args for timm:{name}: {exc}") from None
    except Exception as exc:
        if not pretrained:
            raise
        raise _missing_weights(full, cfg, exc) from None
    if path is not None and path.suffix == ".safetensors" and path.is_file():
        _load_safetensors(module, path, f"timm:{arch}")
    module.eval()
    prep = preprocessing_of(timm.data.resolve_data_config(model=module))
    resolved = "none" if w == "none" else (str(path) if path else full)
    meta = {"source": "timm", "arch": full, "pretrained_cfg": {k: cfg.get(k) for k in
                                                                ("hf_hub_id", "url", "license", "tag") if cfg.get(k)}}
    head = module.pretrained_cfg.get("classifier") if hasattr(module, "pretrained_cfg") else None
    if isinstance(head, (list, tuple)):
        head = head[-1]
    try:
        if head:
            module.get_submodule(head)
    except AttributeError:
        head = None
    model = Model(identifier=identifier or f"timm:{name}", module=module, preprocessing=prep,
                  weights=resolved, head=head or None, meta=meta)
    if path is not None and not (path.suffix == ".safetensors" and path.is_file()):
        # a lamem-finetune checkpoint (one-unit head) gets its head replaced first
        load_model_checkpoint(model, path, what=f"timm:{arch}")
        model.module.eval()
    return model


def build_any(name: str, weights: str | None = "default", **model_args) -> Model:
    """The ``timm:<name>`` family resolver."""
    return build(name, weights=weights, **model_args)
