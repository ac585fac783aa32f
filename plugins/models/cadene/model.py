"""Models only Cadene's ``pretrainedmodels`` provides (optional extra ``memscore[cadene]``).

Used for the Harada & Sakai (2023) models no maintained library carries: BNInception, CaffeResNet101,
FBResNet152, PolyNet and NASNet-A-Mobile. Weights download through torch.hub's cache from the URLs
in ``pretrainedmodels.pretrained_settings``.

Preprocessing is that library's own ``utils.TransformImage``: resize the short side to
``floor(size / 0.875)`` (bilinear), centre-crop, then the settings' input space, range and mean/std.
Models trained in Caffe (BNInception, CaffeResNet101) expect BGR pixels in 0..255: memscore's
preprocessing gives RGB normalised with ``mean/255`` and ``std/255`` (the same numbers), and a forward
pre-hook on the model flips RGB to BGR, so layer names stay the library's own.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from memscore.errors import MemscoreError
from memscore.model import Model, Preprocessing
from memscore.weights import resolve_weights

SCALE = 0.875  # pretrainedmodels.utils.TransformImage default
ARCHS = ("bninception", "cafferesnet101", "fbresnet152", "polynet", "nasnetamobile")
INSTALL = "pip install memscore[cadene]"


def installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("pretrainedmodels", "six", "munch"))


def _import():
    try:
        import pretrainedmodels
    except ImportError as exc:
        raise MemscoreError(f"Cadene's pretrainedmodels is not importable ({exc}); {INSTALL}") from None
    return pretrainedmodels


def rgb_to_bgr(_module, args):
    """Forward pre-hook: the Caffe-trained models read BGR channel order."""
    return (args[0].flip(1), *args[1:])


def settings(arch: str) -> dict:
    return dict(_import().pretrained_settings[arch]["imagenet"])


def preprocessing_of(s: dict) -> Preprocessing:
    import math

    size = max(s["input_size"])
    scale = 255.0 if max(s["input_range"]) == 255 else 1.0
    mean, std = list(s["mean"]), list(s["std"])
    if s["input_space"] == "BGR":  # settings list BGR order; our normalisation runs before the flip, on RGB
        mean, std = mean[::-1], std[::-1]
    return Preprocessing(crop_size=size, resize_size=int(math.floor(size / SCALE)), interpolation="bilinear",
                         mean=tuple(m / scale for m in mean), std=tuple(v / scale for v in std))


def build(arch: str, weights: str | None = "default") -> Model:
    import torch

    from memscore.weights import load_model_checkpoint

    pm = _import()
    if arch not in ARCHS and arch not in pm.model_names:
        raise MemscoreError(f"unknown pretrainedmodels architecture {arch!r}")
    s = settings(arch)
    module = pm.__dict__[arch](num_classes=1000, pretrained=None)
    w = resolve_weights(weights)
    resolved = "none"
    if w == "default":
        url = s["url"]
        fname = url.rsplit("/", 1)[-1]
        try:
            state = torch.hub.load_state_dict_from_url(url, map_location="cpu", weights_only=True, progress=False)
        except Exception as exc:
            raise MemscoreError(
                f"could not load {arch} weights {fname} ({type(exc).__name__}); place the file from {url} in "
                f"{torch.hub.get_dir()}/checkpoints/ or pass --weights PATH") from None
        try:
            module.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=True)
        except (RuntimeError, AttributeError) as exc:
            raise MemscoreError(f"{torch.hub.get_dir()}/checkpoints/{fname} does not fit {arch} "
                                f"({type(exc).__name__}); delete it to download again") from None
        resolved = url
    model = Model(identifier=arch, module=module, preprocessing=preprocessing_of(s), weights=resolved,
                  head="last_linear" if hasattr(module, "last_linear") else None,
                  meta={"source": "cadene", "arch": arch, "input_space": s["input_space"]})
    if w not in ("none", "default"):  # a lamem-finetune checkpoint (one-unit head) gets its head replaced first
        load_model_checkpoint(model, Path(w).expanduser(), what=f"pretrainedmodels {arch}")
        model.weights = w
    if s["input_space"] == "BGR":
        model.module.register_forward_pre_hook(rgb_to_bgr)
    model.module.eval()
    return model
