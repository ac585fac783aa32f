"""Which device a run uses: one line for a device this machine cannot run on."""
from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto`` → CUDA when present, else CPU; anything this machine cannot run on is one line."""
    from .errors import OptionError

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise OptionError(f"--device {device}: not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise OptionError(f"--device {device}: memscore runs on cpu or cuda; use --device cpu, cuda or auto")
    if not torch.cuda.is_available():
        raise OptionError(f"--device {device}: no CUDA device is available here; use --device cpu or auto")
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise OptionError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                          f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
    return dev
