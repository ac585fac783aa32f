"""ResMem (Needell & Bainbridge 2022) as a memscore model: one memorability score per image.

Wraps ``resmem.ResMem`` from the ``resmem`` package (optional extra ``memscore[resmem]``), whose wheel
ships the trained weights (``resmem/model.pt``), so nothing is downloaded. Its forward returns a
sigmoid score in [0, 1] per image (``meta["output"] = "memorability"``); its layers (an AlexNet-like
branch ``conv1``..``conv5``, a ResNet-152 branch ``features.*`` and the ``fc6``..``fc12`` head) are
scoreable like any model's.

Preprocessing is the package's own ``resmem.transformer``: resize to 256x256 *without* keeping the
aspect ratio, centre-crop 227, no normalisation. The network only accepts 227-pixel input.

Licence: ResMem's weights and code are under the ResMem Non-commercial License (University of
Chicago): research and other non-commercial use only.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from memscore.errors import MemscoreError
from memscore.model import Model, Preprocessing
from memscore.weights import resolve_weights

INSTALL = "pip install memscore[resmem]"
LICENSE = "ResMem Non-commercial License (University of Chicago): non-commercial use only"
SIZE = 227


def installed() -> bool:
    return importlib.util.find_spec("resmem") is not None


@dataclass
class SquashPreprocessing(Preprocessing):
    """Resize both sides to ``resize_size`` (aspect ratio not kept), centre-crop, no normalisation."""

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "resize_mode": "squash"}

    def transform(self, *, image_size: int | None = None) -> Callable:
        from torchvision import transforms as T

        if image_size not in (None, self.crop_size):
            raise MemscoreError(f"ResMem takes {self.crop_size}-pixel input only (got image size {image_size}); "
                                f"drop the image-size option")
        interp = T.InterpolationMode(self.interpolation)
        return T.Compose([T.Resize((self.resize_size, self.resize_size), interpolation=interp),
                          T.CenterCrop(self.crop_size), T.ToTensor(), T.Normalize(self.mean, self.std)])


def preprocessing() -> SquashPreprocessing:
    return SquashPreprocessing(crop_size=SIZE, resize_size=256, interpolation="bilinear",
                               mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def build(weights: str | None = "default") -> Model:
    """``weights``: "default" (the weights shipped in the resmem wheel), "none" or a checkpoint path."""
    if not installed():
        raise MemscoreError(f"the resmem package is not installed; {INSTALL}")
    from unittest import mock

    import resmem
    import torch
    import torchvision

    from memscore.weights import load_checkpoint

    # resmem.ResMem(pretrained=False) would download torchvision's ResNet-152 weights for its branch;
    # build the branch empty instead and load the complete ResMem state dict below.
    with mock.patch.object(resmem, "resnet152", lambda *a, **k: torchvision.models.resnet152(weights=None)):
        module = resmem.ResMem(pretrained=False)
    w = resolve_weights(weights)
    resolved = "none"
    if w == "default":
        path = Path(resmem.path).resolve()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            module.load_state_dict(state, strict=True)
        except FileNotFoundError:
            raise MemscoreError(f"ResMem weights {path} are missing; reinstall with {INSTALL}") from None
        except Exception as exc:
            raise MemscoreError(f"ResMem weights {path} are unreadable ({type(exc).__name__}); "
                                f"reinstall with {INSTALL}") from None
        resolved = f"resmem-{_version()}"
    elif w != "none":
        load_checkpoint(module, Path(w).expanduser(), what="ResMem")
        resolved = w
    module.eval()
    return Model(identifier="resmem", module=module, preprocessing=preprocessing(), weights=resolved,
                 head="fc12", meta={"source": "resmem", "output": "memorability", "license": LICENSE,
                       # ResMem (Needell & Bainbridge 2022) was trained on LaMem and MemCat together; which
                       # images of each went to training is not published: both whole sets count as seen
                       "trained_on": [] if weights == "none" else ["imagenet", {"data": "lamem"}, {"data": "memcat"}]})


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("resmem")
    except metadata.PackageNotFoundError:
        return "?"
