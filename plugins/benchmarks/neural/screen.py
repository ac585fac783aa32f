"""Stimuli on the model's screen, as Brain-Score's ``place_on_screen`` / ``ImageConverter`` does it.

A data set's images were shown to the animals at ``source`` visual degrees; the model sees a field of
``target`` degrees (Brain-Score's default: 8). With ``ratio = target / source``:

* ``ratio > 1`` — the image is smaller than the field: it is pasted, unscaled, at the centre of a
  ``round(ratio × size)`` canvas of PIL's ``"gray"`` (RGB 128, 128, 128). The model's preprocessing then
  resizes the whole canvas to its input size, so the image ends up shrunk to ``1 / ratio`` of the field.
* ``ratio < 1`` — the image is larger than the field: its centre ``round(ratio × size)`` is cropped.
* ``ratio == 1`` — the original files are used.

Placed images are written (PNG, lossless; Brain-Score re-saves in the source format) into a cache folder
keyed by the stimulus set's digest and both degrees, written once and then reused.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from memscore.stimuli import Stimuli

GRAY = (128, 128, 128)  # PIL's ImageColor "gray", Brain-Score's background


def place_image(image, source_degrees: float, target_degrees: float):
    """One PIL image placed as Brain-Score's ``ImageConverter.apply_ratio`` places it."""
    from PIL import Image

    ratio = target_degrees / source_degrees
    size = np.array(image.size)
    target = (ratio * size).round().astype(int)
    if ratio >= 1:
        canvas = Image.new("RGB", tuple(int(t) for t in target), GRAY)
        topleft = ((target - size) / 2).round().astype(int)
        canvas.paste(image.convert("RGB"), tuple(int(t) for t in topleft))
        return canvas
    left, upper = ((size - target) / 2).round().astype(int)
    right, lower = np.array([left, upper]) + target
    return image.crop((int(left), int(upper), int(right), int(lower)))


def place_on_screen(stimuli: Stimuli, source_degrees: float, target_degrees: float, cache_dir: Path,
                    *, name: str = "stimuli", progress: bool = False) -> Stimuli:
    """The stimuli as the model sees them; identical degrees give the stimuli back unchanged."""
    if float(source_degrees) == float(target_degrees):
        return stimuli
    from memscore.images import load_image

    key = f"{_safe(name)}-{stimuli.digest()}--target{target_degrees:.2f}--source{source_degrees:.2f}"
    folder = Path(cache_dir) / "screen" / key
    names = [f"{i:06d}.png" for i in range(len(stimuli))]
    done = folder / "done.json"
    if not done.exists():
        from tqdm.auto import tqdm

        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = folder.with_name(folder.name + f".tmp{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for path, fname in tqdm(list(zip(stimuli.paths, names)), desc=f"place on screen ({source_degrees:g}° in "
                                f"{target_degrees:g}°)", unit="img", disable=not progress, leave=False):
            place_image(load_image(path), source_degrees, target_degrees).save(staging / fname)
        (staging / "done.json").write_text(json.dumps({"n": len(stimuli), "source_degrees": source_degrees,
                                                        "target_degrees": target_degrees,
                                                        "ids": list(stimuli.ids)}))
        try:
            os.replace(staging, folder)
        except OSError:  # another process finished first
            shutil.rmtree(staging, ignore_errors=True)
    return Stimuli(stimuli.ids, tuple(folder / n for n in names))


def screen_transform(model, image_size: int | None = None):
    """Brain-Score's model input: the whole screen resized to the input size (no crop), then normalised."""
    from torchvision import transforms as T

    prep = model.preprocessing
    size = image_size or prep.crop_size
    return T.Compose([T.Resize((size, size), interpolation=T.InterpolationMode(prep.interpolation)),
                      T.ToTensor(), T.Normalize(prep.mean, prep.std)])


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
