"""torchvision classification models as memscore models.

Preprocessing comes from the weights' own transforms (``weights.transforms()``), also when the model
is built with random init (``weights="none"``), so a random-init model sees the same input.
"""
from __future__ import annotations

from pathlib import Path

from memscore.errors import MemscoreError, UnknownNameError
from memscore.model import Model, Preprocessing
from memscore.weights import load_model_checkpoint
from memscore.weights import resolve_weights


def classification_models() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def default_weights(arch: str):
    import torchvision

    try:
        return torchvision.models.get_model_weights(arch).DEFAULT
    except (ValueError, KeyError, AttributeError):
        return None


def preprocessing_of(weights_enum) -> Preprocessing:
    if weights_enum is None:
        return Preprocessing()
    t = weights_enum.transforms()
    crop = t.crop_size[0] if isinstance(t.crop_size, (list, tuple)) else t.crop_size
    resize = t.resize_size[0] if isinstance(t.resize_size, (list, tuple)) else t.resize_size
    return Preprocessing(crop_size=int(crop), resize_size=int(resize),
                         interpolation=t.interpolation.value, mean=tuple(t.mean), std=tuple(t.std))


def build(arch: str, weights: str | None = "default", **model_args) -> Model:
    """Build torchvision ``arch``; ``weights`` is "default", "none"/None, a weights enum name or a path."""
    import torchvision

    names = classification_models()
    if arch not in names:
        raise UnknownNameError("model", f"torchvision:{arch}", [f"torchvision:{n}" for n in names])
    enum = default_weights(arch)
    w = resolve_weights(weights)
    pretrained = None
    if w == "default":
        if enum is None:
            raise MemscoreError(f"torchvision:{arch} has no pretrained weights; use --weights none")
        pretrained = enum
    elif w != "none" and not Path(w).expanduser().exists():
        try:
            pretrained = torchvision.models.get_weight(w if "." in w else f"{type(enum).__name__}.{w}")
        except (ValueError, KeyError, AttributeError):
            raise MemscoreError(f"--weights {w!r}: not a file and not a weights name of torchvision:{arch} "
                                f"(use none, default or a checkpoint path)") from None
    try:
        module = torchvision.models.get_model(arch, weights=pretrained, **model_args)
    except TypeError as exc:
        raise MemscoreError(f"--model-args for torchvision:{arch}: {exc}") from None
    except (OSError, RuntimeError) as exc:  # download blocked / corrupt cache
        url = getattr(pretrained, "url", "?")
        raise MemscoreError(
            f"could not load weights {pretrained} for {arch} ({type(exc).__name__}); place the file from {url} "
            f"in {torch_hub_dir()}/checkpoints/ or pass --weights PATH"
        ) from None
    prep = preprocessing_of(pretrained or enum)
    meta = {"source": "torchvision", "arch": arch}
    if enum is not None:
        top1 = enum.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
        if top1 is not None:
            meta["imagenet_top1"] = top1
    model = Model(identifier=arch, module=module, preprocessing=prep,
                  weights="none" if w == "none" else str(pretrained or w), meta=meta)
    if w not in ("none", "default") and pretrained is None:
        # a lamem-finetune checkpoint (one-unit head) gets its head replaced before loading
        load_model_checkpoint(model, Path(w).expanduser(), what=f"torchvision:{arch}")
    module.eval()
    return model


def build_any(name: str, weights: str | None = "default", **model_args) -> Model:
    """The `torchvision:<name>` family resolver."""
    model = build(name, weights=weights, **model_args)
    model.identifier = f"torchvision:{name}"
    return model


def torch_hub_dir() -> str:
    import torch

    return torch.hub.get_dir()
