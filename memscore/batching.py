"""``--batch-size auto``: the largest batch that fits this device's memory, found once per model, input size
and device and remembered (``$MEMSCORE_CACHE/batch_sizes.json``); on CUDA a forward that still runs out of
memory is split in halves and retried (:func:`forward_halving`), so a run is never lost to it."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from . import atomic
from .cache import read_json

MAX_BATCH = 256


def auto_batch_size(model, device: torch.device, image_size: int | None, budget: int, cache: Path) -> int:
    """The remembered size, else: on CUDA the largest power of two up to MAX_BATCH whose forward runs; on CPU
    the largest power of two whose activations (every module's output, 4 bytes a unit) fit a quarter of the
    memory budget."""
    size = image_size or model.preprocessing.crop_size
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    key = f"{model.identifier}|{size}|{name}"
    path = Path(cache) / "batch_sizes.json"
    known = read_json(path, None) if path.exists() else {}
    if isinstance(known, dict) and isinstance(known.get(key), int) and known[key] >= 1:
        return known[key]
    if device.type == "cuda":
        found = 1
        b = MAX_BATCH
        while b >= 1:
            try:
                with torch.inference_mode():
                    model.module(torch.zeros(b, 3, size, size, device=device))
                found = b
                break
            except torch.OutOfMemoryError:
                torch.cuda.empty_cache()
                b //= 2
    else:
        per_image = 4 * sum(li.units for li in model.layer_info(image_size)) + 4 * 3 * size * size
        found = 1
        while found * 2 <= MAX_BATCH and found * 2 * per_image <= budget // 4:
            found *= 2
    Path(cache).mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps({**(known if isinstance(known, dict) else {}), key: found}, indent=1))
    return found


def forward_halving(run, x: torch.Tensor, offset: int) -> int:
    """``run(x, offset)``; on a CUDA out-of-memory error the batch is split in halves, each run (and split again
    if need be). Returns the largest batch that ran (what later batches should use)."""
    try:
        run(x, offset)
        return len(x)
    except torch.OutOfMemoryError:
        if len(x) == 1:
            raise
        torch.cuda.empty_cache()
        h = len(x) // 2
        a = forward_halving(run, x[:h], offset)
        b = forward_halving(run, x[h:], offset + h)
        return min(a, b)
