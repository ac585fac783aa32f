"""CORnet-Z, -R, -RT and -S (Kubilius, Schrimpf et al. 2018/2019), written for memscore.

The architectures follow the published descriptions (dicarlolab/CORnet); parameter names match the
published checkpoints, so the original ImageNet weights load unchanged (their ``module.`` prefix,
left by ``nn.DataParallel``, is stripped). Each area (``V1``, ``V2``, ``V4``, ``IT``) is one module
whose output is a tensor, so the areas Brain-Score commits to regions are scoreable layers by name.

Recurrence: in CORnet-R/RT every area module runs ``times`` (5) times per image, and inside a
CORnet-S block the bottleneck convolutions run 2 (V2, IT) or 4 (V4) times. The activation engine
captures a module at its **last** call of the forward pass: the area's state after the final time
step, which is what feeds the next area and the decoder, and what Brain-Score commits for static
benchmarks (e.g. ``V4.output-t3``, ``IT.output-t1`` for CORnet-S). Intermediate time steps are not
separate layers.

Differences from the original code that do not change results: a block returns one tensor (not an
``(output, state)`` pair; in R/RT they are the same tensor), the zero input of an area at t=0 takes
its spatial size from the previous area instead of a hard-coded 224-pixel value (identical at 224,
and it lets smaller test images through), and CORnet-S switches its bottleneck stride by argument
instead of mutating the convolution.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from memscore.errors import MemscoreError
from memscore.model import Model, Preprocessing
from memscore.weights import resolve_weights

#: published ImageNet weights: file names (with the hash suffix the authors gave them)
BASE_URL = "https://s3.amazonaws.com/cornet-models/"
WEIGHTS = {
    "z": "cornet_z-5c427c9c.pth",
    "r": "cornet_r-5930a990.pth",
    "rt": "cornet_rt-933c001c.pth",
    "s": "cornet_s-1d3f7974.pth",
}
#: the CORnet repository's validation transform (run.py): Resize(256), CenterCrop(224), ImageNet mean/std
PREPROCESSING = dict(crop_size=224, resize_size=256, interpolation="bilinear",
                     mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


class Identity(nn.Module):
    """Named pass-through: gives a block's output a stable module name (``V1.output``)."""

    def forward(self, x):
        return x


class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.size(0), -1)


def _decoder(with_output: bool) -> nn.Sequential:
    parts = [("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", Flatten()), ("linear", nn.Linear(512, 1000))]
    if with_output:
        parts.append(("output", Identity()))
    return nn.Sequential(OrderedDict(parts))


# ---------------------------------------------------------------------------------------------
# CORnet-Z: four conv-relu-maxpool areas
# ---------------------------------------------------------------------------------------------
class BlockZ(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)
        self.nonlin = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.output = Identity()

    def forward(self, x):
        return self.output(self.pool(self.nonlin(self.conv(x))))


def cornet_z() -> nn.Module:
    model = nn.Sequential(OrderedDict([
        ("V1", BlockZ(3, 64, kernel=7, stride=2)),
        ("V2", BlockZ(64, 128)),
        ("V4", BlockZ(128, 256)),
        ("IT", BlockZ(256, 512)),
        ("decoder", _decoder(True)),
    ]))
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


# ---------------------------------------------------------------------------------------------
# CORnet-R and CORnet-RT: one recurrent conv area per region, unrolled over `times` steps
# ---------------------------------------------------------------------------------------------
class BlockR(nn.Module):
    """``state_t = relu(gn(conv(relu(gn(conv_in(input))) + state_{t-1})))``; no input yet -> zeros."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1):
        super().__init__()
        self.cout = cout
        self.conv_input = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)
        self.norm_input = nn.GroupNorm(32, cout)
        self.nonlin_input = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(32, cout)
        self.nonlin1 = nn.ReLU(inplace=True)
        self.output = Identity()

    def out_size(self, size: int) -> int:
        k, s, p = self.conv_input.kernel_size[0], self.conv_input.stride[0], self.conv_input.padding[0]
        return (size + 2 * p - k) // s + 1

    def forward(self, inp: torch.Tensor | None, state: torch.Tensor | None = None,
                like: torch.Tensor | None = None) -> torch.Tensor:
        if inp is None:  # t=0 above V1: no feedforward input has arrived yet
            size = self.out_size(like.shape[-1])
            x = like.new_zeros(like.shape[0], self.cout, size, size)
        else:
            x = self.nonlin_input(self.norm_input(self.conv_input(inp)))
        if state is not None:
            x = x + state
        return self.output(self.nonlin1(self.norm1(self.conv1(x))))


class CORnetR(nn.Module):
    """``biological=False``: CORnet-R (legacy; each step feeds the *current* step's lower output);
    ``biological=True``: CORnet-RT (each area sees the lower area's output of the previous step)."""

    AREAS = ("V1", "V2", "V4", "IT")

    def __init__(self, times: int = 5, biological: bool = False):
        super().__init__()
        self.times, self.biological = times, biological
        self.V1 = BlockR(3, 64, kernel=7, stride=4)
        self.V2 = BlockR(64, 128, stride=2)
        self.V4 = BlockR(128, 256, stride=2)
        self.IT = BlockR(256, 512, stride=2)
        self.decoder = _decoder(False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out: dict[str, torch.Tensor] = {}
        state: dict[str, torch.Tensor] = {}
        below = ("image",) + self.AREAS[:-1]
        for area, lower in zip(self.AREAS, below):  # t = 0
            block = getattr(self, area)
            out[area] = state[area] = block(image if area == "V1" else None,
                                            like=image if area == "V1" else out[lower])
        for _t in range(1, self.times):
            prev = dict(out)
            for area, lower in zip(self.AREAS, below):
                src = image if lower == "image" else (prev[lower] if self.biological else out[lower])
                out[area] = state[area] = getattr(self, area)(src, state[area])
        return self.decoder(out["IT"])


def cornet_r(times: int = 5) -> nn.Module:
    return CORnetR(times=times, biological=False)


def cornet_rt(times: int = 5) -> nn.Module:
    return CORnetR(times=times, biological=True)


# ---------------------------------------------------------------------------------------------
# CORnet-S: a ResNet-like bottleneck area, repeated in time with per-step batch norms
# ---------------------------------------------------------------------------------------------
class StridedConv(nn.Conv2d):
    """A 3x3 conv whose stride is chosen per call (2 at the first time step, then 1)."""

    def forward(self, x, stride: int = 1):
        return F.conv2d(x, self.weight, self.bias, stride, self.padding)


class BlockS(nn.Module):
    scale = 4

    def __init__(self, cin: int, cout: int, times: int):
        super().__init__()
        self.times = times
        mid = cout * self.scale
        self.conv_input = nn.Conv2d(cin, cout, 1, bias=False)
        self.skip = nn.Conv2d(cout, cout, 1, stride=2, bias=False)
        self.norm_skip = nn.BatchNorm2d(cout)
        self.conv1 = nn.Conv2d(cout, mid, 1, bias=False)
        self.nonlin1 = nn.ReLU(inplace=True)
        self.conv2 = StridedConv(mid, mid, 3, padding=1, bias=False)
        self.nonlin2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.nonlin3 = nn.ReLU(inplace=True)
        self.output = Identity()
        for t in range(times):  # one set of batch norms per time step (checkpoint names norm{1,2,3}_{t})
            setattr(self, f"norm1_{t}", nn.BatchNorm2d(mid))
            setattr(self, f"norm2_{t}", nn.BatchNorm2d(mid))
            setattr(self, f"norm3_{t}", nn.BatchNorm2d(cout))

    def forward(self, inp):
        x = self.conv_input(inp)
        for t in range(self.times):
            skip = self.norm_skip(self.skip(x)) if t == 0 else x
            y = self.nonlin1(getattr(self, f"norm1_{t}")(self.conv1(x)))
            y = self.nonlin2(getattr(self, f"norm2_{t}")(self.conv2(y, 2 if t == 0 else 1)))
            y = getattr(self, f"norm3_{t}")(self.conv3(y))
            x = self.output(self.nonlin3(y + skip))
        return x


def cornet_s() -> nn.Module:
    model = nn.Sequential(OrderedDict([
        ("V1", nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)),
            ("norm1", nn.BatchNorm2d(64)),
            ("nonlin1", nn.ReLU(inplace=True)),
            ("pool", nn.MaxPool2d(3, stride=2, padding=1)),
            ("conv2", nn.Conv2d(64, 64, 3, padding=1, bias=False)),
            ("norm2", nn.BatchNorm2d(64)),
            ("nonlin2", nn.ReLU(inplace=True)),
            ("output", Identity()),
        ]))),
        ("V2", BlockS(64, 128, times=2)),
        ("V4", BlockS(128, 256, times=4)),
        ("IT", BlockS(256, 512, times=2)),
        ("decoder", _decoder(True)),
    ]))
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


ARCHS = {"z": cornet_z, "r": cornet_r, "rt": cornet_rt, "s": cornet_s}


# ---------------------------------------------------------------------------------------------
# weights and the memscore Model
# ---------------------------------------------------------------------------------------------
def _state_dict_of(obj) -> dict:
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise MemscoreError(f"CORnet checkpoint holds a {type(obj).__name__}, not a state dict")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _load_published(module: nn.Module, letter: str) -> str:
    fname = WEIGHTS[letter]
    url = BASE_URL + fname
    try:
        ckpt = torch.hub.load_state_dict_from_url(url, map_location="cpu", file_name=fname,
                                                  weights_only=True, progress=False)
    except Exception as exc:  # offline, blocked, truncated download
        raise MemscoreError(
            f"could not load CORnet-{letter.upper()} weights {fname} ({type(exc).__name__}); place the file "
            f"from {url} in {torch.hub.get_dir()}/checkpoints/ or pass --weights PATH") from None
    try:
        module.load_state_dict(_state_dict_of(ckpt), strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise MemscoreError(f"{torch.hub.get_dir()}/checkpoints/{fname} does not fit CORnet-{letter.upper()} "
                            f"({first[:160]}); delete it to download again") from None
    return url


def build(arch: str, weights: str | None = "default", times: int | str | None = None) -> Model:
    """CORnet ``arch`` in z, r, rt, s; ``weights``: "default" (published), "none" or a checkpoint path."""
    from memscore.weights import load_model_checkpoint

    letter = arch.lower().removeprefix("cornet").strip("-_")
    if letter not in ARCHS:
        raise MemscoreError(f"unknown CORnet variant {arch!r}; choose one of z, r, rt, s")
    kwargs = {}
    if times is not None:
        if letter not in ("r", "rt"):
            raise MemscoreError("--model-args times=...: only CORnet-R and CORnet-RT have `times`")
        kwargs["times"] = int(times)
    module = ARCHS[letter](**kwargs)
    w = resolve_weights(weights)
    model = Model(identifier=f"cornet-{letter}", module=module, preprocessing=Preprocessing(**PREPROCESSING),
                  weights="none", head="decoder.linear",
                  meta={"source": "cornet", "arch": f"cornet_{letter}",
                        "regions": {"V1": "V1", "V2": "V2", "V4": "V4", "IT": "IT"}})
    if w == "default":
        model.weights = _load_published(module, letter)
    elif w != "none":  # a lamem-finetune checkpoint (one-unit head) gets its head replaced first
        load_model_checkpoint(model, Path(w).expanduser(), what=f"CORnet-{letter.upper()}")
        model.weights = w
    model.module.eval()
    return model
