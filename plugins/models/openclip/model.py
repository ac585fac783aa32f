"""CLIP image towers from open_clip as memscore models (the ``openclip:<arch>/<pretrained>`` family).

``openclip:ViT-B-32/openai`` is the image tower (``model.visual``) of open_clip's ``ViT-B-32`` with the
``openai`` weights; the text tower is dropped. The tower ends in CLIP's projection to the joint embedding,
and the layer giving the embedding is the model's penultimate layer: ``visual`` for open_clip's own ViTs
(the projection is a matrix product, not a module), ``visual.attnpool`` for the ModifiedResNets (RN50, ...),
the trunk's head or projection for towers built on timm (ConvNeXt, EVA, SigLIP). CLIP has no classifier, so
:class:`ClipImageTower` puts a fresh ``Linear(embed_dim, 1)`` head on top (below 24 units: never scored)
for ``replace_head``/fine-tuning.

Layers: every module of the tower — token-shaped outputs (batch × tokens × width) are flattened like any
other; ``nn.MultiheadAttention`` returns ``(output, weights)`` and is captured as its output (the tensor
part, :func:`memscore.capture.tensor_part`); attention computed with ``F.scaled_dot_product_attention``
inside a module has no module of its own and is part of that module's output.

Preprocessing is open_clip's own eval transform for the tag (``open_clip.transform.PreprocessCfg`` merged
with the pretrained config): resize the short side to the tower's input size with bicubic interpolation,
centre-crop, normalise with the tag's mean/std (OpenAI's for most). Tags whose ``resize_mode`` is not
``shortest`` keep open_clip's own transform (:class:`OpenClipPreprocessing`).

Weights: ``default`` loads ``<pretrained>`` through open_clip (the Hugging Face cache, or ``~/.cache/clip``
for the few URL-only tags); offline, a missing file is one line naming the hub id and cache. ``none`` is
open_clip's random init of the same architecture (QuickGELU as the tag was trained). Another tag of the
same architecture (``--weights laion2b_s34b_b79k``) picks those weights; a path loads either an open_clip /
OpenAI CLIP checkpoint (the text tower's keys are needed and ignored) or a memscore export of this model
(a ``lamem-finetune`` checkpoint, with its one-unit head).

``--model-args image_size=N`` builds the tower for N-pixel input (open_clip's ``force_image_size``; the
positional embedding of pretrained weights is resampled by open_clip), e.g. for a fast small-image run.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from memscore.errors import MemscoreError, OptionError, UnknownNameError
from memscore.model import Model, Preprocessing
from memscore.weights import resolve_weights

PREFIX = "openclip:"
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")


class ClipImageTower(nn.Module):
    """A CLIP image tower (``visual``: image -> joint embedding) with a linear ``head`` on top."""

    def __init__(self, visual: nn.Module, embed_dim: int, n_outputs: int = 1, what: str = "this tower"):
        super().__init__()
        self.visual = visual
        self.head = nn.Linear(embed_dim, n_outputs)
        size = getattr(visual, "image_size", None)
        self.image_size = tuple(size) if isinstance(size, (tuple, list)) else ((size, size) if size else None)
        self.what = what

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image_size is not None and tuple(x.shape[-2:]) != self.image_size:
            h, w = self.image_size
            raise MemscoreError(f"{self.what} is built for {h}x{w} input, got {x.shape[-2]}x{x.shape[-1]}: build it "
                                f"for that size with --model-args image_size={x.shape[-1]}")
        return self.head(self.visual(x))


@dataclass
class OpenClipPreprocessing(Preprocessing):
    """A :class:`Preprocessing` that also carries open_clip's resize mode."""

    resize_mode: str = "shortest"
    fill_color: int = 0

    @property
    def exact(self) -> bool:
        """True when memscore's generic resize/crop transform equals open_clip's eval transform."""
        return self.resize_mode == "shortest"

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if not self.exact:
            d.update(resize_mode=self.resize_mode, fill_color=self.fill_color)
        return d

    def transform(self, *, image_size: int | None = None) -> Callable:
        if self.exact:
            return super().transform(image_size=image_size)
        from open_clip.transform import image_transform

        return image_transform(image_size or self.crop_size, is_train=False, mean=self.mean, std=self.std,
                               resize_mode=self.resize_mode, interpolation=self.interpolation,
                               fill_color=self.fill_color)


# -- names ---------------------------------------------------------------------------------------
def split_name(name: str) -> tuple[str, str]:
    """``"ViT-B-32/openai"`` -> ``("ViT-B-32", "openai")`` (tag ``""`` when not given)."""
    arch, _, tag = name.partition("/")
    return arch, tag


def check_name(arch: str, tag: str = "") -> None:
    import open_clip

    if arch not in open_clip.list_models():
        known = [f"{PREFIX}{a}/{t}" for a, t in open_clip.list_pretrained()]
        raise UnknownNameError("model", f"{PREFIX}{arch}" + (f"/{tag}" if tag else ""), known)
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if tag and tag not in tags:
        raise MemscoreError(f"{PREFIX}{arch}/{tag}: open_clip has no pretrained tag {tag!r} for {arch} "
                            f"(tags: {', '.join(tags) or 'none'})")


def pretrained_cfg(arch: str, tag: str) -> dict[str, Any]:
    """open_clip's pretrained config of ``arch``/``tag`` ({} without a tag)."""
    import open_clip

    return dict(open_clip.get_pretrained_cfg(arch, tag) or {}) if tag else {}


def preprocess_cfg(arch: str, tag: str) -> dict[str, Any]:
    """open_clip's eval preprocessing config of the tag (its defaults merged with the pretrained config),
    as ``create_model`` sets it; ``size`` is the model config's image size."""
    import open_clip
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    cfg = merge_preprocess_dict(PreprocessCfg(), pretrained_cfg(arch, tag))
    size = (open_clip.get_model_config(arch) or {}).get("vision_cfg", {}).get("image_size")
    if size:
        cfg["size"] = size
    return cfg


def preprocessing_of(cfg: dict[str, Any], image_size: int | None = None) -> OpenClipPreprocessing:
    """Map an open_clip preprocess config onto memscore's preprocessing ('shortest': resize the short side
    to the input size, centre-crop it; no crop margin)."""
    size = image_size or cfg["size"]
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    interp = cfg.get("interpolation") or "bicubic"
    if interp not in INTERPOLATIONS:
        interp = "bicubic"  # open_clip's 'random' is a training-time option
    return OpenClipPreprocessing(crop_size=size, resize_size=size, interpolation=interp,
                                 mean=tuple(float(v) for v in cfg["mean"]), std=tuple(float(v) for v in cfg["std"]),
                                 resize_mode=cfg.get("resize_mode") or "shortest",
                                 fill_color=int(cfg.get("fill_color") or 0))


# -- weights files ---------------------------------------------------------------------------------
def _hub_files(cfg: dict[str, Any]) -> tuple[str, list[str]]:
    """The hub id and the files open_clip tries for it (``open_clip.pretrained.download_pretrained``)."""
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    model_id, filename = os.path.split(cfg.get("hf_hub", ""))
    filename = filename or HF_WEIGHTS_NAME
    files = [filename]
    if filename == HF_WEIGHTS_NAME:
        files.insert(0, HF_SAFE_WEIGHTS_NAME)
    elif filename.endswith((".bin", ".pth")):
        files.insert(0, filename[:-4] + ".safetensors")
    return model_id, files


def _url_file(cfg: dict[str, Any]) -> Path:
    return Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(cfg.get("url", "") or "?")


def _uses_hub(cfg: dict[str, Any]) -> bool:
    return bool(cfg.get("hf_hub"))  # open_clip prefers the hub whenever the tag has one


def _cached(cfg: dict[str, Any]) -> bool:
    """Whether the weights file of the tag is already where open_clip looks first."""
    if _uses_hub(cfg):
        from huggingface_hub import constants, try_to_load_from_cache

        model_id, files = _hub_files(cfg)
        return any(isinstance(try_to_load_from_cache(model_id, f, cache_dir=constants.HF_HUB_CACHE), str)
                   for f in files)
    return bool(cfg.get("url")) and _url_file(cfg).is_file()


def _reachable(cfg: dict[str, Any]) -> bool:
    from memscore_plugins.models.timm.models import _reachable as reachable

    return reachable({"hf_hub_id": _hub_files(cfg)[0]} if _uses_hub(cfg) else {"url": cfg.get("url")})


def _missing_weights(name: str, cfg: dict[str, Any], exc: BaseException) -> MemscoreError:
    if _uses_hub(cfg):
        from memscore_plugins.models.timm.models import _hf_cache

        model_id, files = _hub_files(cfg)
        where = (f"hub id {model_id} (file {' or '.join(files)}) is not in the Hugging Face cache {_hf_cache()}; "
                 f"download it once with network (e.g. `hf download {model_id} {files[-1]}`, or copy a "
                 f"populated cache and set HF_HOME)")
    else:
        url = cfg.get("url") or "?"
        where = f"file {_url_file(cfg).name} is not in {_url_file(cfg).parent}/; download it once from {url}"
    first = (str(exc).splitlines() or [""])[0][:120]
    why = f"{type(exc).__name__}: {first}" if first and first != "offline" else type(exc).__name__
    return MemscoreError(f"could not load pretrained weights of {PREFIX}{name} ({why}): {where}, "
                         f"or pass --weights PATH")


# -- building --------------------------------------------------------------------------------------
def _create(arch: str, pretrained: str | None, quick_gelu: bool, image_size: int | None) -> nn.Module:
    """open_clip's CLIP of ``arch`` (``pretrained``: a tag, a file or None), returning its image tower.
    open_clip logs 'initialized randomly' / download failures on the root logger: silenced here, our
    errors say it in one line."""
    import open_clip

    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        clip = open_clip.create_model(arch, pretrained=pretrained, force_quick_gelu=quick_gelu,
                                      force_image_size=image_size)
    finally:
        logging.disable(previous)
    clip.eval()
    return clip.visual


def _state_of(path: Path) -> dict | None:
    """The state dict in ``path`` if ``torch.load`` (weights_only) reads one, else None."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None
    if isinstance(state, dict):
        for key in ("state_dict", "model", "model_state"):
            if isinstance(state.get(key), dict):
                return state[key]
        return state
    return None


def build(name: str, weights: str | None = "default", *, identifier: str | None = None,
          image_size: int | None = None) -> Model:
    """Build the image tower of open_clip model ``name`` (``arch/pretrained``).

    ``weights``: "default" (the name's pretrained weights), "none"/None (random init), another pretrained
    tag of the same architecture, or a path to a local checkpoint. ``image_size``: build for that input size.
    """
    from memscore.weights import check_finite, load_model_checkpoint, read_state_dict

    arch, tag = split_name(name)
    check_name(arch, tag)
    if image_size is not None:
        try:
            image_size = int(image_size)
            if image_size < 8:
                raise ValueError
        except (TypeError, ValueError):
            raise OptionError(f"--model-args image_size: {image_size!r} is not an input size (an integer >= 8)") \
                from None
    w = resolve_weights(weights)
    path: Path | None = None
    if w not in ("none", "default"):
        if Path(w).expanduser().exists() or any(sep in w for sep in "/\\") or Path(w).suffix:
            path = Path(w).expanduser()
        else:  # another pretrained tag of this architecture
            tag = w.removeprefix(arch + "/")
            check_name(arch, tag)
    if w == "default" and not tag:
        import open_clip

        raise MemscoreError(f"{PREFIX}{arch}: name its pretrained weights, {PREFIX}{arch}/<tag> (tags: "
                            f"{', '.join(open_clip.list_pretrained_tags_by_model(arch)) or 'none'}), "
                            f"or pass --weights none")
    full = f"{arch}/{tag}" if tag else arch
    cfg = pretrained_cfg(arch, tag)
    quick_gelu = bool(cfg.get("quick_gelu", False))
    pretrained: str | None = None
    if w != "none" and path is None:
        pretrained = tag
        if not _cached(cfg) and not _reachable(cfg):
            raise _missing_weights(full, cfg, ConnectionError("offline"))
    export = False
    if path is not None:
        if not path.is_file():
            read_state_dict(path)  # one line: no such file / is a folder
        state = _state_of(path)
        export = state is not None and any(k.removeprefix("module.").startswith("head.") for k in state)
        if not export:
            pretrained = str(path)
    try:
        visual = _create(arch, pretrained, quick_gelu, image_size)
    except Exception as exc:
        if path is not None:
            first = (str(exc).splitlines() or [""])[0][:200]
            raise MemscoreError(f"--weights {path}: not an open_clip checkpoint of {arch} "
                                f"({type(exc).__name__}: {first})") from None
        if pretrained is None:
            raise
        raise _missing_weights(full, cfg, exc) from None
    if path is not None and not export:
        check_finite(visual.state_dict(), f"--weights {path}")
    import open_clip

    embed_dim = int(open_clip.get_model_config(arch)["embed_dim"])
    ident = identifier or f"{PREFIX}{name}"
    module = ClipImageTower(visual, embed_dim, what=ident).eval()
    prep = preprocessing_of(preprocess_cfg(arch, tag), module.image_size[0] if module.image_size else image_size)
    resolved = "none" if w == "none" else (str(path) if path else full)
    meta = {"source": "openclip", "arch": arch, "pretrained": tag or None,
            "pretrained_cfg": {k: cfg[k] for k in ("hf_hub", "url") if cfg.get(k)},
            "head_note": "a fresh Linear(embed_dim, 1): CLIP has no classifier"}
    model = Model(identifier=ident, module=module, preprocessing=prep, weights=resolved, head="head", meta=meta)
    if export:
        # a memscore export of this model (a lamem-finetune checkpoint): head fitted, preprocessing read
        load_model_checkpoint(model, path, what=f"{PREFIX}{arch}")
        model.module.eval()
    return model


def build_any(name: str, weights: str | None = "default", image_size: int | None = None) -> Model:
    """The ``openclip:<arch>/<pretrained>`` family resolver."""
    return build(name, weights=weights, image_size=image_size)
