"""AMNet (Fajtl, Argyriou, Monekosso & Remagnino, CVPR 2018, "AMNet: Memorability Estimation with Attention") as a
memscore model: one memorability score per image (``meta["output"] = "memorability"``).

Rebuilt from the authors' code (https://github.com/ok1zjf/AMNet, MIT; ``amnet_model.py``, ``amnet.py``,
``config.py``); the network and its state-dict key names are theirs:

- **Backbone** (``ResNet50FC``): a whole torchvision ResNet-50 held as ``core_cnn.core_cnn`` and run up to
  ``layer3`` (1024 channels, 14x14 at 224 px). ``layer4``, ``avgpool`` and ``fc`` never run but are in the
  checkpoints, so they are kept. AMNet froze the backbone while training (``train_epoch``); it started from
  torchvision's ImageNet weights. ``backbone=resnet101`` is their ``ResNet101FC`` (also released for LaMem).
- **Head** (``AMemNetModel(core_cnn, hps, a_res=14, a_vec_size=1024)``): ``inconv`` (1x1 conv 1024->1024) ->
  ``bn1`` -> ReLU -> dropout 0.8 gives L=196 annotation vectors a (D=1024); their mean gives the LSTM's initial
  h and c (``hs1``/``hc1``, tanh). Soft attention: ``e1`` (D->D, no bias) -> ReLU on every location; per step
  ``eh1`` (H->L) of the previous h is added, ReLU, ``eh3`` (D->1, no bias), softmax over the 196 locations gives
  alpha; z = a·alpha enters one LSTM step (``rnn``, 1024 -> 1024); ``regnet1`` (1024->512) -> ReLU ->
  ``regnet4`` (512->1) gives the step's output. **3 steps** (``--lstm-steps`` default 3; every release is
  ``lstm3``). ``attention=false`` is their ``--att-off`` (the ``_noatt`` releases): alpha = 1/196 everywhere.
- **Output** (``AMNet.postprocess``, ``last_step_prediction`` off as in every release): the mean of the 3
  step outputs, divided by ``target_scale`` 2.0, plus ``target_mean`` 0.754 (the training targets were
  ``(score - 0.754) * 2``; the same constants for LaMem and SUN in ``config.py``). Not squashed: about 0.4-1.
- **Preprocessing** (``AMNet.init_transformations``, test): resize to 224x224 *without* keeping the aspect
  ratio (bilinear), ``ToTensor``, ImageNet mean/std. The attention (196 locations) fixes the input to 224 px.

Here every parameter-free step (ReLU, tanh, dropout) has a module of its own (AMNet reuses one ``relu``,
``tanh`` and ``drop50`` everywhere; no parameter changes), and the per-location and per-step tensors are laid
out batch first (the LSTM runs ``batch_first``), so every layer's output has one row per image. Modules run
once per step (``eh1``, ``eh3``, ``softmax``, ``rnn``, ``regnet1``, ...) are captured at the last (third) step.

**Weights.** The authors share per-split checkpoints as zip archives on Google Drive (``WEIGHTS_URL``;
``data/lamem_weights_urls.txt``, ``data/sun_weights_urls.txt``): folders ``<data>_<cnn>_lstm3[_noatt]_train_K``
holding ``weights_N.pkl``, a ``torch.save({'model': state_dict})`` (``AMNet.save_checkpoint``). Nothing is
downloaded: ``--weights FILE`` loads one (``{'model': ...}`` or a bare state dict), every key checked (the
same names and shapes as this network; the BatchNorm ``num_batches_tracked`` counters, absent from
checkpoints saved before PyTorch 0.4 — AMNet was developed on 0.2 — are filled with 0, they do nothing at
eval). Anything else is one line naming the file and what is wrong. ``"none"`` is random init (seeded).

**Training data.** A checkpoint file does not say what it was trained on; its folder name does, and the user
says it with ``--model-args split=K`` (and ``data=sun-memorability`` for the SUN releases). LaMem split K:
fitted on ``train_K``, epoch chosen on ``val_K`` (the highest validation Spearman, ``get_max_rc_weights``), so
both count as seen, as for memscore's own fine-tuned models. SUN split K: AMNet validates on ``test_K`` (SUN
has no val split, ``config.py``), so ``train_K`` and ``test_K`` count. Without ``split`` the whole data set
counts as seen. A file inside a release folder whose name contradicts the arguments (``_noatt`` with attention
on, another split, ResNet-101, SUN) is refused in one line: the ``_noatt`` and attention checkpoints have the
same keys and would load silently.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from memscore.arguments import Arg
from memscore.errors import MemscoreError, OptionError
from memscore.model import Model, Preprocessing
from memscore.weights import read_state_dict, resolve_weights

from . import ARCH, CODE_URL, LICENSE, WEIGHTS_URL

SIZE = 224
A_RES = 14  # attention map side: layer3's 14x14 at 224 px (AMemNetModel's a_res)
L = A_RES * A_RES  # attention locations (a_vec_num)
D = 1024  # annotation vector size (a_vec_size) = layer3's channels (ResNet50FC.D)
H = 1024  # LSTM hidden size (lstm_hidden_size)
STEPS = 3  # LSTM steps (hps.seq_steps)
TARGET_MEAN, TARGET_SCALE = 0.754, 2.0  # config.py, lamem and sun alike
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # config.py img_mean / img_std
HEAD = "regnet4"

#: backbone name -> (torchvision constructor, AMNet's --cnn name, blocks in layer3)
BACKBONES = {"resnet50": ("resnet50", "ResNet50FC", 6), "resnet101": ("resnet101", "ResNet101FC", 23)}
#: data set -> (AMNet's --dataset name, official splits, the parts of split K a checkpoint for split K saw)
DATA = {"lamem": ("lamem", 5, ("train", "val")), "sun-memorability": ("sun", 25, ("train", "test"))}
#: AMNet's experiment folder name (config.get_amnet_config): <dataset>_<cnn>_lstm<steps>[_last][_noatt]_train_<k>
RELEASE_DIR = re.compile(r"^(?P<data>[a-z]+)_(?P<cnn>[A-Za-z0-9]+)_lstm(?P<steps>\d+)(?P<last>_last)?"
                         r"(?P<noatt>_noatt)?_train_(?P<split>\d+)$")


class ResNetFC(nn.Module):
    """AMNet's ``ResNet50FC``/``ResNet101FC``: a whole torchvision ResNet as ``core_cnn``, run up to ``layer3``."""

    def __init__(self, arch: str = "resnet50"):
        super().__init__()
        import torchvision

        self.core_cnn = getattr(torchvision.models, arch)(weights=None)

    def forward(self, x):
        c = self.core_cnn
        x = c.maxpool(c.relu(c.bn1(c.conv1(x))))
        return c.layer3(c.layer2(c.layer1(x)))


class AMNetNet(nn.Module):
    """AMNet's ``AMemNetModel`` with AMNet's parameter names; ``forward`` gives the memorability score."""

    def __init__(self, backbone: str = "resnet50", attention: bool = True):
        super().__init__()
        self.attention = bool(attention)
        self.core_cnn = ResNetFC(BACKBONES[backbone][0])
        self.inconv = nn.Conv2d(D, D, kernel_size=(1, 1), stride=1, padding=0, bias=True)
        self.bn1 = nn.BatchNorm2d(D)
        self.hs1 = nn.Linear(D, H)  # initial LSTM h from the mean annotation vector
        self.hc1 = nn.Linear(D, H)  # initial LSTM c
        self.e1 = nn.Linear(D, D, bias=False)  # attention: per-location part
        self.eh1 = nn.Linear(H, L)  # attention: per-step part, from the hidden state
        self.eh3 = nn.Linear(D, 1, bias=False)  # attention: one logit per location
        # AMNet passes dropout=0.5, which does nothing to a 1-layer LSTM (and only warns); batch_first changes no
        # parameter: (h, c) stay (layers, batch, hidden)
        self.rnn = nn.LSTM(input_size=D, hidden_size=H, num_layers=1, batch_first=True)
        self.regnet1 = nn.Linear(H, 512)
        self.regnet4 = nn.Linear(512, 1)
        self.relu_a, self.drop80 = nn.ReLU(), nn.Dropout(0.8)
        self.tanh_h, self.tanh_c = nn.Tanh(), nn.Tanh()
        self.relu_e, self.drop_e = nn.ReLU(), nn.Dropout(0.5)
        self.relu_att, self.drop_att, self.softmax = nn.ReLU(), nn.Dropout(0.5), nn.Softmax(dim=1)
        self.drop_h, self.relu_reg, self.drop_reg = nn.Dropout(0.5), nn.ReLU(), nn.Dropout(0.5)

    def forward_steps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """AMNet's forward: the step outputs ``(batch, 3, outputs)`` (in training-target units) and the attention
        maps ``(batch, 3, 196)``."""
        x = self.drop80(self.relu_a(self.bn1(self.inconv(self.core_cnn(x)))))
        b = x.size(0)
        if tuple(x.shape[1:]) != (D, A_RES, A_RES):
            raise ValueError(f"AMNet takes {SIZE}-pixel input only: its attention covers {A_RES}x{A_RES} locations, "
                             f"the backbone gave {tuple(x.shape[2:])}")
        a = x.view(b, D, L)  # (B, D, L)
        af = a.mean(2)
        h = self.tanh_h(self.hs1(af))
        c = self.tanh_c(self.hc1(af))
        state = (h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous())
        if self.attention:
            e = self.drop_e(self.relu_e(self.e1(a.transpose(2, 1).contiguous())))  # (B, L, D)
        outs, alphas = [], []
        for _ in range(STEPS):
            if self.attention:
                eh = self.drop_att(self.relu_att(e + self.eh1(h).unsqueeze(2)))  # (B, L, D)
                alpha = self.softmax(self.eh3(eh).squeeze(2))  # (B, L)
            else:
                alpha = a.new_full((b, L), 1.0 / L)
            z = a.bmm(alpha.unsqueeze(2)).squeeze(2)  # (B, D): the attention-weighted annotation vector
            self.rnn.flatten_parameters()
            out, state = self.rnn(z.unsqueeze(1), state)
            h = self.drop_h(out.squeeze(1))
            outs.append(self.regnet4(self.drop_reg(self.relu_reg(self.regnet1(h)))))
            alphas.append(alpha)
        return torch.stack(outs, 1), torch.stack(alphas, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The memorability score ``(batch, 1)``: the steps' mean, back in score units."""
        outs, _ = self.forward_steps(x)
        return outs.mean(1) / TARGET_SCALE + TARGET_MEAN


@dataclass
class SquashPreprocessing(Preprocessing):
    """AMNet's test transform: resize both sides to ``resize_size`` (aspect ratio not kept), ``ToTensor``,
    normalise (the centre crop to ``crop_size`` = ``resize_size`` changes nothing)."""

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "resize_mode": "squash"}

    def transform(self, *, image_size: int | None = None) -> Callable:
        from torchvision import transforms as T

        if image_size not in (None, self.crop_size):
            raise OptionError(f"amnet takes {self.crop_size}-pixel input only (got image size {image_size}); "
                              f"drop the image-size option")
        interp = T.InterpolationMode(self.interpolation)
        return T.Compose([T.Resize((self.resize_size, self.resize_size), interpolation=interp),
                          T.CenterCrop(self.crop_size), T.ToTensor(), T.Normalize(self.mean, self.std)])


def preprocessing() -> SquashPreprocessing:
    return SquashPreprocessing(crop_size=SIZE, resize_size=SIZE, interpolation="bilinear", mean=MEAN, std=STD)


def trained_on(weights: str | None, data: str = "lamem", split: int | None = None) -> list:
    """The training-data marks of AMNet weights (see the module's docstring): none for random init."""
    if resolve_weights(weights) == "none":
        return []
    seen: dict[str, Any] = {"data": data}
    if split is not None:
        seen.update(split=int(split), parts=list(DATA[data][2]))
    return ["imagenet", seen]


def _check_args(split, data: str, backbone: str) -> None:
    if data not in DATA:
        raise OptionError(f"--model-args data={data}: expected one of {', '.join(DATA)}")
    if backbone not in BACKBONES:
        raise OptionError(f"--model-args backbone={backbone}: expected one of {', '.join(BACKBONES)}")
    n = DATA[data][1]
    if split is not None and (isinstance(split, bool) or not isinstance(split, int) or not 1 <= split <= n):
        raise OptionError(f"--model-args split={split}: {data} has splits 1 to {n}")


def _check_release_folder(path: Path, *, split, data: str, attention: bool, backbone: str) -> None:
    """Refuse a checkpoint whose AMNet release folder name contradicts the arguments (one line)."""
    m = RELEASE_DIR.match(path.parent.name)
    if not m:
        return
    where = f"--weights {path}: its folder {path.parent.name!r} is AMNet's"
    names = {v[0]: k for k, v in DATA.items()}
    if m["data"] not in names:
        raise MemscoreError(f"{where} {m['data']!r} release; amnet takes the memorability releases only "
                            f"({', '.join(names)})")
    cnns = {v[1]: k for k, v in BACKBONES.items()}
    if m["cnn"] not in cnns:
        raise MemscoreError(f"{where} {m['cnn']} release; amnet takes {' and '.join(cnns)} only")
    if int(m["steps"]) != STEPS or m["last"]:
        raise MemscoreError(f"{where} lstm{m['steps']}{m['last'] or ''} variant; amnet takes the released "
                            f"lstm{STEPS} (mean over the steps) only")
    wrong = []
    if names[m["data"]] != data:
        wrong.append(f"data={names[m['data']]}")
    if cnns[m["cnn"]] != backbone:
        wrong.append(f"backbone={cnns[m['cnn']]}")
    if bool(m["noatt"]) == bool(attention):
        wrong.append(f"attention={'false' if m['noatt'] else 'true'}")
    if split is not None and int(m["split"]) != int(split):
        wrong.append(f"split={int(m['split'])}")
    if wrong:
        raise MemscoreError(f"{where} release for {m['data']} split {int(m['split'])}"
                            f"{' without attention' if m['noatt'] else ''}; pass --model-args {','.join(wrong)}")


def _mismatch(state: dict, own: dict, backbone: str) -> str:
    """What keeps ``state`` from loading into a network whose state dict is ``own`` ("" when nothing)."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = [f"{len(missing)} key(s) missing, e.g. {missing[0]!r}"] if missing else []
        parts += [f"{len(unexpected)} unexpected, e.g. {unexpected[0]!r}"] if unexpected else []
        blocks = {int(m[1]) for k in state if (m := re.match(r"core_cnn\.core_cnn\.layer3\.(\d+)\.", k))}
        n = max(blocks) + 1 if blocks else 0
        hint = next((f"; its layer3 has {n} blocks, an AMNet {cnn} checkpoint: pass --model-args backbone={name}"
                     for name, (_, cnn, k) in BACKBONES.items() if k == n and name != backbone), "")
        return ", ".join(parts) + hint
    for k, t in own.items():
        v = state[k]
        if not isinstance(v, torch.Tensor):
            return f"{k!r} holds a {type(v).__name__}, not a tensor"
        if tuple(v.shape) != tuple(t.shape):
            return f"{k!r} has shape {tuple(v.shape)}, AMNet's is {tuple(t.shape)}"
    return ""


def load_state(path: Path, *, backbone: str = "resnet50", attention: bool = True) -> AMNetNet:
    """The network with the checkpoint ``path`` loaded (AMNet's key names, every key checked)."""
    state = read_state_dict(path)  # one line: no such file, unreadable, not a state dict, NaN/inf values
    with torch.device("meta"):  # no random init to pay for: every parameter and buffer comes from the file
        net = AMNetNet(backbone, attention)
    own = net.state_dict()
    state = dict(state)
    for k in own:  # counters that checkpoints saved before PyTorch 0.4 lack; unused at eval
        if k.endswith(".num_batches_tracked") and k not in state:
            state[k] = torch.zeros((), dtype=torch.long)
    problem = _mismatch(state, own, backbone)
    if problem:
        raise MemscoreError(f"--weights {path}: does not fit AMNet with a {BACKBONES[backbone][1]} backbone "
                            f"({problem[:300]})")
    net = net.to_empty(device="cpu")
    net.load_state_dict(state, strict=True)
    return net


def build(weights: str | None = "default", split: int | None = None, data: str = "lamem", attention: bool = True,
          backbone: str = "resnet50") -> Model:
    """AMNet; ``weights``: a checkpoint FILE of the authors' (or "none": random init; there is no default to
    download). ``split``/``data``: what the checkpoint was trained on (LaMem split K; ``sun-memorability``
    for the SUN releases); ``attention=false`` for the ``_noatt`` releases; ``backbone=resnet101`` for
    ``ResNet101FC``."""
    _check_args(split, data, backbone)
    w = resolve_weights(weights)
    if w == "default":
        raise MemscoreError(f"AMNet has no weights memscore can download (the authors share them on Google Drive, "
                            f"{WEIGHTS_URL}); download and unpack e.g. lamem_ResNet50FC_lstm3.zip, then pass --weights "
                            f"lamem_ResNet50FC_lstm3_train_K/weights_N.pkl --model-args split=K")
    if w == "none":
        net, resolved = AMNetNet(backbone, attention), "none"
    else:
        path = Path(w).expanduser()
        _check_release_folder(path, split=split, data=data, attention=attention, backbone=backbone)
        net, resolved = load_state(path, backbone=backbone, attention=attention), str(path)
    meta = {"source": "amnet", "arch": ARCH, "output": "memorability", "license": LICENSE, "code": CODE_URL,
            "backbone": backbone, "attention": bool(attention), "lstm_steps": STEPS,
            "trained_on": trained_on(w, data, split)}
    return Model(identifier="amnet", module=net.eval(), preprocessing=preprocessing(), weights=resolved, head=HEAD,
                 meta=meta)


build.arguments = (  # type: ignore[attr-defined]
    Arg("split", int, None, "the split the checkpoint was trained on (its release folder's _train_K); unset: the "
        "whole data set counts as seen", min=1, nullable=True),
    Arg("data", str, "lamem", "the data set the checkpoint was trained on", choices=tuple(DATA)),
    Arg("attention", bool, True, "false for AMNet's _noatt releases (uniform attention)"),
    Arg("backbone", str, "resnet50", "resnet101 for AMNet's ResNet101FC releases", choices=tuple(BACKBONES)),
)
