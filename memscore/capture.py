"""Capturing layer outputs: image loading and forward hooks that hand each layer's output to a sink.

A sink is called as ``sink(layer, output, offset)``: ``offset`` is the row of the batch's first stimulus,
so the sink needs no state shared with the loop that feeds the batches.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch

from .errors import DataError
from .model import Model
from .stimuli import Stimuli

Sink = Callable[[str, torch.Tensor, int], None]


class ImageDataset(torch.utils.data.Dataset):
    """Decodes and transforms images; a bad image either raises (naming it) or is flagged."""

    def __init__(self, paths_: Sequence[Path], transform: Callable, skip_bad: bool = False):
        self.paths, self.transform, self.skip_bad = list(paths_), transform, skip_bad

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        from .images import load_image

        try:
            return self.transform(load_image(self.paths[i])), i, True
        except DataError:
            if not self.skip_bad:
                raise
            return None, i, False


def _collate(batch):
    ok = torch.tensor([b[2] for b in batch])
    idx = torch.tensor([b[1] for b in batch])
    good = [b[0] for b in batch if b[2]]
    if good:
        x = torch.stack(good)
        if not ok.all():  # keep rows aligned: bad images become zeros and are flagged
            full = torch.zeros((len(batch), *x.shape[1:]), dtype=x.dtype)
            full[ok] = x
            x = full
    else:
        x = None
    return x, idx, ok


def make_loader(stimuli: Stimuli, transform: Callable, *, batch_size: int, num_workers: int = 0,
                device: torch.device | str = "cpu", skip_bad: bool = False):
    ds = ImageDataset(stimuli.paths, transform, skip_bad)
    return torch.utils.data.DataLoader(
        ds, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=_collate,
        pin_memory=torch.device(device).type == "cuda", persistent_workers=False,
    )


def tensor_part(out) -> torch.Tensor | None:
    """What a layer's output is captured as: the output itself when it is a tensor; for a tuple or list
    output (``nn.MultiheadAttention`` returns ``(output, weights)``, some blocks ``(x, extra)``) its first
    ``torch.Tensor`` element, the tensor part; None when it holds no tensor (such a module is no layer)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return next((o for o in out if isinstance(o, torch.Tensor)), None)
    return None


class _StopForward(Exception):
    pass


class Capture:
    """Hooks on ``layers`` that hand each layer's final output of a forward pass to ``sink``.

    A module that runs several times per forward (a ReLU reused inside a ResNet block) is captured at
    its last call. A module returning a tuple or list is captured as its tensor part (:func:`tensor_part`:
    the first tensor, e.g. an attention module's output without its weights). Once every layer of the
    group has been seen the forward is cut short.
    """

    def __init__(self, model: Model, layers: Sequence[str], sink: Sink,
                 image_size: int | None = None):
        info = {li.name: li for li in model.layer_info(image_size)}
        self.final_call = {name: info[name].calls for name in layers}
        self.sink = sink
        self.module = model.module
        self._handles = []
        self._calls: dict[str, int] = {}
        self._done = 0
        self._offset = 0

    def __enter__(self):
        for name in self.final_call:
            sub = self.module.get_submodule(name)
            self._handles.append(sub.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        return False

    def _hook(self, name: str):
        def fn(_mod, _inp, out):
            n = self._calls.get(name, 0) + 1
            self._calls[name] = n
            if n == self.final_call[name]:
                t = tensor_part(out)
                if t is None:
                    raise RuntimeError(f"layer {name} returned a {type(out).__name__} without a tensor")
                self.sink(name, t.flatten(1), self._offset)
                self._done += 1
                if self._done == len(self.final_call):
                    raise _StopForward
        return fn

    def run(self, x: torch.Tensor, offset: int = 0) -> None:
        """One forward of the batch ``x`` whose first row is stimulus ``offset``."""
        self._offset = offset
        self._calls.clear()
        self._done = 0
        try:
            self.module(x)
        except _StopForward:
            pass
        if self._done != len(self.final_call):
            missing = [n for n in self.final_call if self._calls.get(n, 0) < self.final_call[n]]
            raise RuntimeError(f"layers did not run in this forward pass: {missing[:5]}")


