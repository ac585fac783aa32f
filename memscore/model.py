"""The model object a model plugin yields, and the generic machinery behind it.

A plugin constructs a :class:`Model` from a torch module and its preprocessing; layer discovery
(every module whose output has at least ``min_units`` units), the penultimate layer and head
replacement are derived here, so plugins stay a few lines long.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

MIN_UNITS = 24


@dataclass
class Preprocessing:
    """Eval-time preprocessing from the weights' own config."""

    crop_size: int = 224
    resize_size: int = 256
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    crop_pct: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"crop_size": self.crop_size, "resize_size": self.resize_size,
                "interpolation": self.interpolation, "mean": list(self.mean), "std": list(self.std)}

    def transform(self, *, image_size: int | None = None) -> Callable:
        """The eval transform (PIL image -> normalised tensor); ``image_size`` overrides the crop."""
        from torchvision import transforms as T

        crop = image_size or self.crop_size
        resize = self.resize_size if image_size is None else round(image_size * self.resize_size / self.crop_size)
        interp = T.InterpolationMode(self.interpolation)
        return T.Compose([T.Resize(resize, interpolation=interp), T.CenterCrop(crop),
                          T.ToTensor(), T.Normalize(self.mean, self.std)])

    def train_transform(self, *, image_size: int | None = None) -> Callable:
        """ImageNet-style augmentation: random resized crop and horizontal flip."""
        from torchvision import transforms as T

        crop = image_size or self.crop_size
        interp = T.InterpolationMode(self.interpolation)
        return T.Compose([T.RandomResizedCrop(crop, interpolation=interp), T.RandomHorizontalFlip(),
                          T.ToTensor(), T.Normalize(self.mean, self.std)])


@dataclass
class LayerInfo:
    name: str
    units: int  # output units per image (at the model's input size)
    shape: tuple[int, ...]
    calls: int  # how often the module runs per forward; the last call is the one captured


@dataclass
class Model:
    identifier: str
    module: nn.Module
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    weights: str = "default"  # "none", "default", a hub id or a local path
    head: str | None = None  # dotted name of the classifier module (replaced for fine-tuning)
    meta: dict[str, Any] = field(default_factory=dict)
    _layers: dict[int, list[LayerInfo]] = field(default_factory=dict, repr=False)

    # -- layers ----------------------------------------------------------------------------------
    def layer_info(self, image_size: int | None = None) -> list[LayerInfo]:
        """Every module (in first-execution order) with a tensor output, from one dry forward pass
        at ``image_size`` (default: the model's own input size)."""
        size = image_size or self.preprocessing.crop_size
        if size not in self._layers:
            self._layers[size] = discover_layers(self.module, size)
        return self._layers[size]

    def layers(self, min_units: int = MIN_UNITS, image_size: int | None = None) -> list[str]:
        return [li.name for li in self.layer_info(image_size) if li.units >= min_units]

    def excluded_layers(self, min_units: int = MIN_UNITS, image_size: int | None = None) -> list[tuple[str, int]]:
        return [(li.name, li.units) for li in self.layer_info(image_size) if li.units < min_units]

    @property
    def penultimate_layer(self) -> str:
        """The last scoreable layer that runs before the classifier head.

        The head is looked up among all layers (a 1-unit fine-tuning head has < 24 units and is not
        scoreable itself)."""
        names = self.layers()
        head = self.head or _find_head(self.module)
        order = [li.name for li in self.layer_info()]
        if head is None or head not in order:
            return names[-2] if len(names) > 1 else names[-1]
        before = set(order[:order.index(head)])
        candidates = [n for n in names if n in before and not n.startswith(head + ".")]
        return candidates[-1] if candidates else names[-1]

    # -- fine-tuning -----------------------------------------------------------------------------
    def replace_head(self, n_outputs: int = 1) -> nn.Module:
        """Swap the classifier for a fresh ``n_outputs``-way linear layer; returns the new head."""
        name = self.head or _find_head(self.module)
        if name is None:
            raise ValueError(f"{self.identifier}: no classifier head found to replace")
        parent, _, attr = name.rpartition(".")
        owner = self.module.get_submodule(parent) if parent else self.module
        old = getattr(owner, attr)
        if isinstance(old, nn.Linear):
            new: nn.Module = nn.Linear(old.in_features, n_outputs)
        elif isinstance(old, nn.Conv2d):  # e.g. SqueezeNet's 1x1-conv classifier
            new = nn.Conv2d(old.in_channels, n_outputs, old.kernel_size, old.stride, old.padding)
        else:
            raise ValueError(f"{self.identifier}: head {name!r} is a {type(old).__name__}, not Linear/Conv2d")
        setattr(owner, attr, new)
        self._layers.clear()
        return new

    def transform(self, image_size: int | None = None) -> Callable:
        return self.preprocessing.transform(image_size=image_size)

    def describe(self) -> dict[str, Any]:
        return {"identifier": self.identifier, "weights": self.weights,
                "preprocessing": self.preprocessing.to_dict(), **self.meta}


def _find_head(module: nn.Module) -> str | None:
    """The last Linear (or 1x1 Conv2d classifier) registered in the module tree."""
    last = None
    for name, sub in module.named_modules():
        if isinstance(sub, nn.Linear):
            last = name
    return last


def discover_layers(module: nn.Module, size: int) -> list[LayerInfo]:
    calls: dict[str, int] = {}
    info: dict[str, LayerInfo] = {}
    handles = []

    def hook(name):
        def fn(_mod, _inp, out):
            calls[name] = calls.get(name, 0) + 1
            if isinstance(out, torch.Tensor):
                info[name] = LayerInfo(name, int(out[0].numel()), tuple(out.shape[1:]), calls[name])
            elif name in info:
                del info[name]
        return fn

    for name, sub in module.named_modules():
        if name:
            handles.append(sub.register_forward_hook(hook(name)))
    was_training = module.training
    module.eval()
    try:
        device = next((p.device for p in module.parameters()), torch.device("cpu"))
        with torch.inference_mode():
            module(torch.zeros(1, 3, size, size, device=device))
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    order = list(calls)  # dicts keep first-call order
    return [info[n] for n in order if n in info]
