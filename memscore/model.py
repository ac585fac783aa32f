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
#: which modules are layers, as keyed in a layer-by-layer benchmark's run key and the model stats cache:
#: 2: aliases (modules handing on another layer's output unmodified) are folded into their layer;
#: 3: placeholders (modules handing on their own input unmodified — an ``nn.Identity``, a disabled norm) are
#: never layers under their own name (timm ViT's ``attn.q_norm``/``k_norm``/``norm``). Runs keyed under 2
#: stay as history and are never served to a run keyed under 3.
LAYER_RULE = 3


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
    aliases: tuple[str, ...] = ()  # later modules that hand on this layer's output unmodified
    depth: float = 0.0  # relative depth: 0 first canonical layer ... 1 last (an alias has its layer's)
    alias_of: str | None = None  # the canonical layer whose output this module hands on (None: a layer)

    @property
    def is_alias(self) -> bool:
        return self.alias_of is not None


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
        """Every module with a tensor output, aliases included, in forward order (of the call that is
        captured), from one dry forward pass at ``image_size`` (default: the model's own input size).
        See :func:`discover_layers` for what an alias is and which name is canonical."""
        size = image_size or self.preprocessing.crop_size
        if size not in self._layers:
            try:
                self._layers[size] = discover_layers(self.module, size)
            except (RuntimeError, ValueError, AssertionError) as exc:
                own = self.preprocessing.crop_size
                if size == own:
                    raise  # at its own input size: the model's bug, not the user's choice
                from .errors import OptionError

                why = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:160]}"
                small = size < own and any(w in str(exc).lower() for w in ("too small", "greater than", "kernel size"))
                fix = (f"use a larger image size (its own input is {own} px)" if small else
                       f"use its own input size, {own} px")
                raise OptionError(f"model {self.identifier!r} cannot run on {size}x{size} px images ({why}); "
                                  f"{fix}") from None
        return self._layers[size]

    def canonical_info(self, image_size: int | None = None) -> list[LayerInfo]:
        """The layers proper: :meth:`layer_info` without the aliases (the < ``min_units`` ones included)."""
        return [li for li in self.layer_info(image_size) if li.alias_of is None]

    def layers(self, min_units: int = MIN_UNITS, image_size: int | None = None) -> list[str]:
        """The scoreable layers: canonical layers (no aliases) with at least ``min_units`` output units."""
        return [li.name for li in self.canonical_info(image_size) if li.units >= min_units]

    def excluded_layers(self, min_units: int = MIN_UNITS, image_size: int | None = None) -> list[tuple[str, int]]:
        """Canonical layers below ``min_units`` units, with their units (their aliases are not listed)."""
        return [(li.name, li.units) for li in self.canonical_info(image_size) if li.units < min_units]

    def aliases(self, image_size: int | None = None) -> dict[str, tuple[str, ...]]:
        """Canonical layer -> the modules that hand on its output unmodified (only layers that have any)."""
        return {li.name: li.aliases for li in self.canonical_info(image_size) if li.aliases}

    def canonical(self, name: str, image_size: int | None = None) -> str:
        """The canonical layer of module ``name`` (``name`` itself when it is a layer; unknown names too)."""
        for li in self.layer_info(image_size):
            if li.name == name:
                return li.alias_of or name
        return name

    @property
    def penultimate_layer(self) -> str:
        """The last scoreable (canonical) layer that runs before the classifier head.

        The head is looked up among all modules (a 1-unit fine-tuning head has < 24 units and is not
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
    """Every module with a tensor output, from one dry forward pass of a zero image at ``size``.

    A module run several times per forward is described by its last call (the one captured); the list
    is in forward order of those calls. A module returning a tuple or list is described by its tensor
    part (:func:`memscore.capture.tensor_part`, what :class:`~memscore.capture.Capture` captures).

    **Aliases.** A module whose (captured) output is the very tensor, unmodified, that another module's
    captured output already was earlier in the same forward is an *alias* of that module, not a layer:
    ``nn.Identity``, eval-mode ``Dropout``/``DropPath``, timm's placeholder norms, a container returning its
    last child's output, a ``Flatten`` or token ``transpose`` that only lays the same numbers out
    differently. "The very tensor" means the same elements of the same storage (data pointer, and the
    strides and sizes of the view up to their order: :func:`_footprint`; same dtype and device) *and* the
    same version counter as when it was first seen: an in-place op in between (a ``ReLU(inplace=True)``
    after a BatchNorm, ``out += identity``) bumps the version, so its module is a layer of its own. Equal
    values never make an alias; only the same unmodified storage does. A reordered view captures the same
    units in another order, which changes no PCA or PLS score; a part of another layer's output (ViT's
    class token, ``q`` sliced from ``qkv``) is a layer of its own.

    **Canonical name.** The canonical layer is the *first* module whose captured call produced the tensor,
    in the order the forward hooks fire: the innermost module that made it (a container's hook fires after
    its children's). Its aliases are the later modules handing on the same tensor, listed in
    ``aliases``; each alias points back through ``alias_of`` and carries its layer's units and depth.
    E.g. in torchvision's resnet18 ``layer4.1.relu`` (its last call is the block's output) is the layer and
    ``layer4.1`` and ``layer4`` its aliases; in timm's ViT ``blocks.11.attn.proj`` is the layer and
    ``.attn.proj_drop``, ``.attn``, ``.ls1`` and ``.drop_path1`` its aliases. Only captured calls are
    compared: a module handing on the output of another module's earlier, uncaptured call is a layer.

    **Placeholders.** A module that hands on its own input unmodified (an ``nn.Identity``, a disabled norm,
    eval-mode dropout) is never a layer under its own name: an alias where that input is another layer's
    captured output, else left out (timm ViT's ``attn.q_norm``, ``attn.k_norm`` and ``attn.norm``, whose input
    is ``q``/``k`` sliced inside the attention module).

    **Depth.** ``depth`` is the layer's position among all canonical layers (those below 24 units
    included, so it does not depend on ``min_units``) in forward order, scaled to 0 (first) ... 1 (last):
    ``index / (n - 1)`` (0 for a model with a single layer).
    """
    from .capture import tensor_part

    calls: dict[str, int] = {}
    last: dict[str, int] = {}  # module -> index in ``events`` of its last call
    events: list[tuple[str, int, torch.Tensor | None, tuple | None]] = []  # every hook firing, in order
    entering: dict[str, tuple | None] = {}  # module -> key of its first input as the call began
    passthrough: set[str] = set()  # modules whose last call handed on its own input unmodified
    handles = []

    def tensor_key(t):
        try:
            version = t._version
        except RuntimeError:  # an inference tensor made inside the module: never an alias
            version = ("unversioned", len(events))
        return (*_footprint(t), t.dtype, t.device, version)

    def pre_hook(name):
        def fn(_mod, inp):
            t = tensor_part(inp[0]) if inp else None
            entering[name] = tensor_key(t) if t is not None and t.dim() > 0 else None
        return fn

    def hook(name):
        def fn(_mod, _inp, out):
            calls[name] = calls.get(name, 0) + 1
            t = tensor_part(out)
            if t is not None and t.dim() == 0:
                t = None  # a scalar is no per-image layer
            key = tensor_key(t) if t is not None else None
            passthrough.discard(name)
            if key is not None and key == entering.get(name):
                passthrough.add(name)  # its own input, unmodified (an in-place op would have bumped the version)
            if name in last:  # an earlier call is never captured: let its output go
                events[last[name]] = (name, calls[name] - 1, None, None)
            last[name] = len(events)
            events.append((name, calls[name], t, key))  # holding ``t`` keeps its memory from being reused
        return fn

    for name, sub in module.named_modules():
        if name:
            handles.append(sub.register_forward_pre_hook(pre_hook(name)))
            handles.append(sub.register_forward_hook(hook(name)))
    was_training = module.training
    module.eval()
    try:
        device = next((p.device for p in module.parameters()), torch.device("cpu"))
        with torch.no_grad():  # not inference_mode: its tensors keep no version counter
            module(torch.zeros(1, 3, size, size, device=device))
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    captured = sorted(i for i in last.values() if events[i][2] is not None)
    first: dict[tuple, str] = {}  # tensor key -> canonical layer
    info: dict[str, LayerInfo] = {}
    for i in captured:
        name, n_calls, t, key = events[i]
        if name in passthrough and key not in first:
            continue  # a placeholder handing on an uncaptured tensor: no layer under its own name
        canonical = first.setdefault(key, name)
        info[name] = LayerInfo(name, int(t[0].numel()), tuple(t.shape[1:]), n_calls,
                               alias_of=None if canonical == name else canonical)
    layers = [li for li in info.values() if li.alias_of is None]
    for k, li in enumerate(layers):
        li.depth = k / (len(layers) - 1) if len(layers) > 1 else 0.0
    for li in info.values():
        if li.alias_of is not None:
            canon = info[li.alias_of]
            canon.aliases += (li.name,)
            li.depth = canon.depth
    events.clear()
    return list(info.values())


def _footprint(t: torch.Tensor) -> tuple:
    """Which elements of which storage ``t`` reads, whatever their layout: its data pointer and its
    (stride, size) dimensions sorted by stride, size-1 dimensions dropped and adjacent ones merged where
    they tile memory contiguously. Two tensors with the same footprint hold the same numbers, one a fixed
    reordering of the other (a view, ``reshape``, ``flatten``, ``permute`` or ``transpose``)."""
    dims: list[tuple[int, int]] = []
    for stride, size in sorted((st, sz) for sz, st in zip(t.shape, t.stride()) if sz != 1):
        if dims and dims[-1][0] * dims[-1][1] == stride:
            dims[-1] = (dims[-1][0], dims[-1][1] * size)
        else:
            dims.append((stride, size))
    return t.data_ptr(), tuple(dims)
