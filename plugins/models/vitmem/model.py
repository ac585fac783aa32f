"""ViTMem (Hagen & Espeseth 2023, "Image memorability prediction with vision transformers") as a
memscore model: one memorability score in [0, 1] per image (``meta["output"] = "memorability"``).

Architecture, as the ``vitmem`` package (1.0.1, MIT) builds it: timm's ``vit_base_patch16_224_miil``
(ViT-B/16, 224-pixel input, no qkv bias) with a one-unit linear head, held as the ``vit`` attribute of
a wrapper whose forward applies a sigmoid. The state dict therefore has vitmem's own key names
(``vit.cls_token``, ``vit.blocks.0.attn.qkv.weight``, ..., ``vit.head.weight``), so vitmem's weights
file, or a ``torch.save(model.state_dict())`` of either implementation, loads as it is. This plugin
builds the network with timm itself: the ``vitmem`` package is not needed at run time.

Preprocessing is vitmem's own ``transform``: resize to 256x256 *without* keeping the aspect ratio
(bilinear), centre-crop 224, ``ToTensor`` and *no* normalisation (mean 0, std 1: pixels stay in [0, 1]).
The network only takes 224-pixel input.

Weights: ``"default"`` is the published checkpoint, read from where vitmem caches it
(``torch.hub.get_dir()/checkpoints/vitmem_base_patch16_224_miil_v1-f580d24a.pth``, i.e.
``$TORCH_HOME/hub/checkpoints``) and downloaded there (sha256-checked, as vitmem does) when it is
missing and the host is reachable; offline, a missing file is one line naming it and the fix.
``"none"`` is timm's random init (seeded by ``torch.manual_seed``); a FILE loads through
:func:`memscore.weights.apply_weights`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from torch import nn

from memscore.errors import MemscoreError, OptionError
from memscore.model import Model, Preprocessing
from memscore.weights import apply_weights, check_finite, resolve_weights

from . import ARCH, LICENSE, WEIGHTS_URL

SIZE = 224
RESIZE = 256
HEAD = "vit.head"


class ViTMemNet(nn.Module):
    """timm's ViT-B/16 with one output unit (``self.vit``), squashed by a sigmoid into a score in [0, 1]."""

    def __init__(self):
        super().__init__()
        import timm

        self.vit = timm.create_model(ARCH, pretrained=False, num_classes=1)
        self.sigmoid = nn.Sigmoid()  # parameter-free: the state dict keeps vitmem's key names

    def forward(self, x):
        return self.sigmoid(self.vit(x))


@dataclass
class SquashPreprocessing(Preprocessing):
    """vitmem's transform: resize both sides to ``resize_size`` (aspect ratio not kept), centre-crop
    ``crop_size``, ``ToTensor``, normalise with ``mean``/``std`` (0 and 1: none)."""

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "resize_mode": "squash"}

    def transform(self, *, image_size: int | None = None) -> Callable:
        from torchvision import transforms as T

        if image_size not in (None, self.crop_size):
            raise OptionError(f"vitmem takes {self.crop_size}-pixel input only (got image size {image_size}); "
                              f"drop the image-size option")
        interp = T.InterpolationMode(self.interpolation)
        return T.Compose([T.Resize((self.resize_size, self.resize_size), interpolation=interp),
                          T.CenterCrop(self.crop_size), T.ToTensor(), T.Normalize(self.mean, self.std)])


def preprocessing() -> SquashPreprocessing:
    return SquashPreprocessing(crop_size=SIZE, resize_size=RESIZE, interpolation="bilinear",
                               mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def weights_file() -> Path:
    """Where the vitmem package caches (and this plugin looks for) the published weights."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_URL.rsplit("/", 1)[-1]


def _reachable() -> bool:
    """False when offline for sure (HF_HUB_OFFLINE, or the weights' host does not resolve), so a
    missing file fails in one line instead of after a download's timeouts."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    try:
        socket.getaddrinfo(urlparse(WEIGHTS_URL).hostname, 443)
    except OSError:
        return False
    return True


def _empty_net() -> ViTMemNet:
    """The network with uninitialised parameters (built on the meta device: no random init to pay for),
    for weights that a strict ``load_state_dict`` then overwrites completely (the ViT has no buffers)."""
    import torch

    with torch.device("meta"):
        net = ViTMemNet()
    return net.to_empty(device="cpu")


def _published_state() -> dict:
    import torch

    path = weights_file()
    fix = f"download {WEIGHTS_URL} to {path} with network, or pass --weights FILE"
    if not path.is_file() and not _reachable():
        raise MemscoreError(f"ViTMem weights {path} are missing and {WEIGHTS_URL.split('/')[2]} is unreachable; "
                            f"{fix}")
    try:  # a cached file is read without touching the network; a download is sha256-checked
        state = torch.hub.load_state_dict_from_url(WEIGHTS_URL, map_location="cpu", check_hash=True,
                                                   progress=False, weights_only=True)
    except Exception as exc:  # offline after all, blocked, truncated, corrupt cache
        why = (str(exc).strip().splitlines() or [""])[0][:160]
        what = "are unreadable" if path.is_file() else "could not be downloaded"
        raise MemscoreError(f"ViTMem weights {path} {what} ({type(exc).__name__}: {why}); "
                            + ("delete the file to download it again, or pass --weights FILE" if path.is_file()
                               else fix)) from None
    if not isinstance(state, dict):
        raise MemscoreError(f"ViTMem weights {path} hold a {type(state).__name__}, not a state dict; "
                            f"delete the file to download it again, or pass --weights FILE")
    check_finite(state, f"ViTMem weights {path}")
    return state


def build(weights: str | None = "default", **model_args) -> Model:
    """ViTMem; ``weights``: "default" (the published weights), "none" (random init) or a checkpoint FILE."""
    if model_args:
        bad = next(iter(model_args))
        raise OptionError(f"--model-args: unknown key {bad!r}; vitmem takes none (its architecture and input size "
                          f"are fixed by the published weights)")
    w = resolve_weights(weights)
    meta = {"source": "vitmem", "arch": ARCH, "output": "memorability", "license": LICENSE}
    if w == "default":
        state = _published_state()  # before building: a missing file costs nothing
        net = _empty_net()
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            lines = str(exc).splitlines()
            first = (lines[1] if len(lines) > 1 else lines[0] if lines else "").strip()
            raise MemscoreError(f"ViTMem weights {weights_file()} do not fit ViTMem ({first[:160]}); delete the "
                                f"file to download it again, or pass --weights FILE") from None
        model = Model(identifier="vitmem", module=net.eval(), preprocessing=preprocessing(), weights=WEIGHTS_URL,
                      head=HEAD, meta=meta)
        return model
    net = ViTMemNet() if w == "none" else _empty_net()  # a FILE overwrites every parameter (strict load)
    model = Model(identifier="vitmem", module=net.eval(), preprocessing=preprocessing(), weights="none",
                  head=HEAD, meta=meta)
    return apply_weights(model, w, what="ViTMem")
