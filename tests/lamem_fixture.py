"""Small LaMem trees in the real on-disk format, with planted signal (used by many test modules).

``build_lamem(root)`` writes ``<root>/images/00000001.jpg …`` (small real JPEGs) and
``<root>/splits/{train,val,test}_{k}.txt`` for k = 1..n_splits, with the official proportions
(45,000 / 3,741 / 10,000 of 58,741, rounded), disjoint, every image in every split, an independent
random split per k, and **split-specific scores**: each image gets a fresh noisy score in every split
(as in the real data, where each split's files were scored by different participants).

Planted signal: a latent u ∈ [0, 1] per image sets the image's overall brightness (mean grey level
0.15 + 0.7·u) and its contrast (texture amplitude grows with u) on a smooth random colour texture —
global first- and second-order statistics that any random-init CNN's pooled features carry. Scores are
``clip(0.3 + 0.6·u + noise·N(0, 1), 0, 1)`` rounded to multiples of 1/40 (many ties), written with 6
decimals. ``shuffled=True`` scores a random permutation of u instead (no signal).

Tests import it as ``from lamem_fixture import build_lamem`` (pytest puts ``tests/`` on ``sys.path``
because the test modules there are not in a package).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

__all__ = ["build_lamem", "build_bad_images", "split_sizes", "latent", "OFFICIAL"]

OFFICIAL = (45000, 3741, 10000)  # train, val, test of 58,741


def split_sizes(n_images: int) -> tuple[int, int, int]:
    """(train, val, test) for ``n_images`` in the official proportions (exact for 58,741)."""
    total = sum(OFFICIAL)
    n_train = int(round(n_images * OFFICIAL[0] / total))
    n_val = int(round(n_images * OFFICIAL[1] / total))
    if n_images >= 3:
        n_val = max(n_val, 1)
        n_train = min(n_train, n_images - n_val - 1)
    return n_train, n_val, n_images - n_train - n_val


def latent(n_images: int, seed: int = 0) -> np.ndarray:
    """The planted per-image value u ∈ [0, 1] that :func:`build_lamem` uses (image i+1 ↔ u[i])."""
    return np.random.default_rng([seed, 1]).uniform(0.0, 1.0, n_images)


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random colour texture in [-1, 1], shape (size, size, 3)."""
    from PIL import Image

    coarse = rng.uniform(0, 255, (8, 8, 3)).astype(np.uint8)
    t = np.asarray(Image.fromarray(coarse, "RGB").resize((size, size), Image.BICUBIC), dtype=np.float64)
    fine = rng.normal(0.0, 0.25, (size, size, 3))
    return np.clip((t / 127.5 - 1.0) * 0.8 + fine, -1.0, 1.0)


def _image(u: float, rng: np.random.Generator, size: int) -> np.ndarray:
    mean = 0.15 + 0.7 * u
    amp = 0.04 + 0.12 * u
    tint = rng.normal(0.0, 0.03, 3)  # a little nuisance colour
    img = mean + tint + amp * _texture(rng, size)
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def build_lamem(root: Path, n_images: int = 300, *, seed: int = 0, image_size: int = 64,
                shuffled: bool = False, noise: float = 0.05, n_splits: int = 5) -> Path:
    """Write a LaMem-format tree with planted signal under ``root``; return ``root``."""
    from PIL import Image

    root = Path(root)
    images, splits = root / "images", root / "splits"
    images.mkdir(parents=True, exist_ok=True)
    splits.mkdir(parents=True, exist_ok=True)
    u = latent(n_images, seed)
    rng = np.random.default_rng([seed, 2])
    names = [f"{i:08d}.jpg" for i in range(1, n_images + 1)]
    for name, ui in zip(names, u):
        Image.fromarray(_image(float(ui), rng, image_size), "RGB").save(images / name, "JPEG", quality=90)

    u_scored = u[np.random.default_rng([seed, 3]).permutation(n_images)] if shuffled else u
    n_train, n_val, _ = split_sizes(n_images)
    for k in range(1, n_splits + 1):
        srng = np.random.default_rng([seed, 4, k])
        order = srng.permutation(n_images)
        # a fresh draw per split (each image is in exactly one part of split k, so per file too)
        scores = np.clip(0.3 + 0.6 * u_scored + noise * srng.standard_normal(n_images), 0.0, 1.0)
        scores = np.round(scores * 40.0) / 40.0
        for part, idx in (("train", order[:n_train]), ("val", order[n_train:n_train + n_val]),
                          ("test", order[n_train + n_val:])):
            lines = "".join(f"{names[i]} {scores[i]:.6f}\n" for i in idx)
            (splits / f"{part}_{k}.txt").write_text(lines)
    return root


# ------------------------------------------------------------------------------------- bad images

def _exif_orientation(value: int) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = value  # Orientation
    return exif.tobytes()


def build_bad_images(folder: Path) -> dict[str, Path]:
    """Write awkward-but-valid images and broken ones; return ``{kind: path}``.

    Valid (``load_image`` gives RGB): ``grayscale`` (L JPEG, 32×24), ``cmyk`` (CMYK JPEG, 32×24),
    ``rgba_png_as_jpg`` (RGBA PNG bytes named .jpg, 32×24, left half fully transparent → white),
    ``palette`` (P-mode PNG with a transparent index, 32×24), ``gray16`` (16-bit PNG, 32×24, a ramp over
    the full 16-bit range), ``exif_rotated`` (stored 40×20 with EXIF orientation 6, left half red and
    right half blue → shown 20×40, red on top). Broken (``DataError``): ``corrupt`` (JPEG header then
    garbage), ``truncated`` (a JPEG cut in half), ``empty`` (0 bytes), ``not_an_image`` (text).
    """
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out: dict[str, Path] = {}
    w, h = 32, 24

    p = out["grayscale"] = folder / "grayscale.jpg"
    Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8), "L").save(p, "JPEG")

    p = out["cmyk"] = folder / "cmyk.jpg"
    Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), "CMYK").save(p, "JPEG")

    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., 0] = 200  # red-ish everywhere
    rgba[:, w // 2:, 3] = 255  # right half opaque, left half fully transparent
    p = out["rgba_png_as_jpg"] = folder / "rgba_png.jpg"
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    p.write_bytes(buf.getvalue())

    pal = Image.fromarray(rng.integers(0, 4, (h, w), dtype=np.uint8), "P")
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0] + [0] * (256 * 3 - 12))
    p = out["palette"] = folder / "palette.png"
    pal.save(p, "PNG", transparency=3)

    ramp = np.linspace(0, 65535, w * h).round().astype(np.uint16).reshape(h, w)
    p = out["gray16"] = folder / "gray16.png"
    Image.fromarray(ramp).save(p, "PNG")

    rot = np.zeros((20, 40, 3), np.uint8)
    rot[:, :20] = (255, 0, 0)
    rot[:, 20:] = (0, 0, 255)
    p = out["exif_rotated"] = folder / "exif_rotated.jpg"
    Image.fromarray(rot, "RGB").save(p, "JPEG", quality=95, exif=_exif_orientation(6))

    good = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), "RGB").save(good, "JPEG", quality=90)
    data = good.getvalue()
    p = out["corrupt"] = folder / "corrupt.jpg"
    p.write_bytes(data[:20] + bytes(rng.integers(0, 256, 2000, dtype=np.uint8)))
    p = out["truncated"] = folder / "truncated.jpg"
    p.write_bytes(data[: len(data) // 2])
    p = out["empty"] = folder / "empty.jpg"
    p.write_bytes(b"")
    p = out["not_an_image"] = folder / "not_an_image.jpg"
    p.write_text("this is not an image\n")
    return out
