"""Synthetic data sets in the real on-disk formats, with planted signal: for the tests and `memscore demo`.

Two builders, no download: :func:`build_lamem` (a LaMem tree) and :func:`build_neural` (a BrainIO neural
assembly). Tests import them through ``tests/lamem_fixture.py`` and ``tests/neural_fixture.py`` (re-exports).

LaMem
-----
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

Neural
------
``build_neural(root, model)`` writes

* ``images/<stimulus_id>.png`` — structured images (a few smooth colour patterns per object, mixed with
  per-image weights: a low-dimensional family, so responses generalise to held-out images);
* ``stimuli.csv`` — the BrainIO stimulus CSV (``stimulus_id``, ``filename``, ``object_name``);
* ``assy.nc`` — a ``presentation × neuroid × time_bin`` assembly written as BrainIO's ``write_netcdf``
  writes it: MultiIndexes (``presentation``: stimulus_id, repetition, object_name; ``neuroid``: neuroid_id,
  region; ``time_bin``: time_bin_start, time_bin_end) flattened by ``reset_index``, stored compressed as the
  data variable ``data``;
* ``neural.json`` — the manifest the benchmarks read (``dataset=<root>/neural.json``), with the files' SHA-1.

Planted signal: "V1" sites are linear readouts of the top principal components of an *early* layer of
``model`` (as the benchmark presents the images), "IT" sites of a *late* layer. The first ``clean`` sites of
each region have no trial noise; the others get trial noise (so the split-half ceiling lies inside (0, 1)).
Time bins: 70-120 and 120-170 ms carry the response, 170-220 ms pure noise (outside the 70-170 window).
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

__all__ = ["build_lamem", "build_bad_images", "split_sizes", "latent", "OFFICIAL",
           "build_neural", "write_brainio", "brainscore_assembly", "EARLY", "LATE"]

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
    _write_splits(splits, names, u_scored, seed=seed, noise=noise, n_splits=n_splits)
    return root


# ------------------------------------------------------------------------------------- bad images

def _write_splits(splits: Path, names: list[str], u: np.ndarray, *, seed: int, noise: float, n_splits: int) -> None:
    """LaMem's split files: per split a fresh noisy score 0.3 + 0.6 u (clipped, in 1/40 steps) per image."""
    n_images = len(names)
    n_train, n_val, _ = split_sizes(n_images)
    for k in range(1, n_splits + 1):
        srng = np.random.default_rng([seed, 4, k])
        order = srng.permutation(n_images)
        # a fresh draw per split (each image is in exactly one part of split k, so per file too)
        scores = np.clip(0.3 + 0.6 * u + noise * srng.standard_normal(n_images), 0.0, 1.0)
        scores = np.round(scores * 40.0) / 40.0
        for part, idx in (("train", order[:n_train]), ("val", order[n_train:n_train + n_val]),
                          ("test", order[n_train + n_val:])):
            lines = "".join(f"{names[i]} {scores[i]:.6f}\n" for i in idx)
            (splits / f"{part}_{k}.txt").write_text(lines)


def build_lamem_readout(root: Path, model, n_images: int = 240, *, image_size: int = 64, layer: str = "layer4.1",
                        k: int = 8, seed: int = 0, noise: float = 0.05, n_splits: int = 5) -> Path:
    """A LaMem-format tree whose memorability is planted as the IT sites of :func:`build_neural` are: a random
    linear readout of the top ``k`` principal components of ``model``'s late ``layer``. Layers like that one
    (deep, IT-like) then predict memorability best, so Fig. 2's layer-wise ρ comes out positive, as the
    paper's — by construction, not as a finding. Images are object-like patterns (as the neural stimuli)."""
    from PIL import Image

    from memscore.activations import Extractor
    from memscore.stimuli import Stimuli

    root = Path(root)
    images, splits = root / "images", root / "splits"
    images.mkdir(parents=True, exist_ok=True)
    splits.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 5])
    per_object = 20
    imgs = _images(-(-n_images // per_object), per_object, image_size, rng)[:n_images]
    names = [f"{i:08d}.jpg" for i in range(1, n_images + 1)]
    for name, img in zip(names, imgs):
        Image.fromarray(img, "RGB").save(images / name, "JPEG", quality=90)
    stimuli = Stimuli.from_paths([images / n for n in names], names)
    acts = Extractor(model, n_components=None, batch_size=64, device="cpu", image_size=image_size,
                     cache_dir=root / ".fixture-cache", progress=False, announce=False).extract(stimuli, [layer])
    import shutil

    shutil.rmtree(root / ".fixture-cache", ignore_errors=True)  # the planter's activations, not part of the data
    r = _top_pcs(np.asarray(acts[layer], dtype=np.float64), k) @ rng.normal(0, 1, k)
    u = (r - r.min()) / (r.max() - r.min())
    _write_splits(splits, names, u, seed=seed, noise=noise, n_splits=n_splits)
    return root


MEMCAT_CATEGORIES = {"animal": ["bird", "dog"], "food": ["fruit", "dessert"], "landscape": ["mountain", "beach"],
                     "sports": ["ball", "water"], "vehicle": ["car", "boat"]}


def build_memcat(root: Path, n_images: int = 200, *, seed: int = 0, image_size: int = 64, shuffled: bool = False,
                 noise: float = 0.03) -> Path:
    """A MemCat-format tree with planted memorability under ``root`` (as :func:`build_lamem` plants it: the
    image's brightness and contrast follow u): ``MemCat_data/memcat_image_data.csv`` with the official columns
    (and a few others the reader must ignore) and ``MemCat_images/MemCat/<category>/<subcategory>/``."""
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng([seed, 7])
    u = rng.uniform(0.0, 1.0, n_images)
    cats = [(c, sub) for c, subs in MEMCAT_CATEGORIES.items() for sub in subs]
    rows = []
    for i in range(n_images):
        cat, sub = cats[i % len(cats)]
        folder = root / "MemCat_images" / "MemCat" / cat / sub
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{cat}_{sub}_{i:05d}.jpg"
        Image.fromarray(_image(float(u[i]), rng, image_size), "RGB").save(folder / name, "JPEG", quality=90)
        rows.append((name, cat, sub))
    scored = u[np.random.default_rng([seed, 8]).permutation(n_images)] if shuffled else u
    w_fa = np.clip(0.45 + 0.5 * scored + noise * rng.standard_normal(n_images), 0.0, 1.0)
    wo_fa = 0.1 + 0.9 * w_fa  # a second column the reader must tell apart by name
    (root / "MemCat_data").mkdir(parents=True, exist_ok=True)
    with open(root / "MemCat_data" / "memcat_image_data.csv", "w", newline="") as f:
        f.write("image_file,category,subcategory,cat_id,memorability_w_fa_correction,"
                "memorability_wo_fa_correction,n_responses\n")
        for j, ((name, cat, sub), a, b) in enumerate(zip(rows, w_fa, wo_fa)):
            f.write(f"{name},{cat},{sub},{list(MEMCAT_CATEGORIES).index(cat)},{a:.6f},{b:.6f},{80 + j % 7}\n")
    return root


def build_memorability_csv(root: Path, n_images: int = 150, *, seed: int = 0, image_size: int = 64,
                           split_column: bool = False, groups: int = 0) -> Path:
    """``scores.csv`` (image,score[,split][,group]) and ``images/`` with planted memorability."""
    from PIL import Image

    root = Path(root)
    (root / "images" / "sub").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 9])
    u = rng.uniform(0.0, 1.0, n_images)
    header = ["image", "score"] + (["split"] if split_column else []) + (["group"] if groups else [])
    lines = [",".join(header)]
    for i in range(n_images):
        name = f"sub/img{i:04d}.png" if i % 2 else f"img{i:04d}.png"
        Image.fromarray(_image(float(u[i]), rng, image_size), "RGB").save(root / "images" / name)
        cells = [name, f"{0.3 + 0.6 * u[i] + 0.03 * rng.standard_normal():.5f}"]
        if split_column:
            cells.append("train" if i % 10 < 7 else "val" if i % 10 == 7 else "test")
        if groups:
            cells.append(f"g{i % groups}")
        lines.append(",".join(cells))
    (root / "scores.csv").write_text("\n".join(lines) + "\n")
    return root


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


# ------------------------------------------------------------------------------------- neural

EARLY = "layer1.0"
LATE = "layer4.1"


def _images(n_objects: int, per_object: int, size: int, rng: np.random.Generator, n_bases: int = 8) -> np.ndarray:
    from PIL import Image

    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n_objects):
        bases = []
        for _ in range(n_bases):  # smooth colour patterns per object
            coarse = rng.uniform(0, 1, (4, 4, 3))
            base = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8), "RGB").resize((size, size),
                              Image.BICUBIC), dtype=np.float64) / 255
            f, th = rng.uniform(2, 6), rng.uniform(0, np.pi)
            grating = np.sin(2 * np.pi * f * (xx * np.cos(th) + yy * np.sin(th)))[..., None]
            bases.append(base - 0.5 + 0.3 * grating)
        bases = np.stack(bases)
        for _ in range(per_object):
            w = rng.normal(0, 1, n_bases)
            img = 0.5 + 0.5 / np.sqrt(n_bases) * np.tensordot(w, bases, axes=1)
            out.append(np.clip(img, 0, 1))
    return (np.stack(out) * 255).round().astype(np.uint8)


def _top_pcs(acts: np.ndarray, k: int) -> np.ndarray:
    a = acts - acts.mean(0)
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    z = u[:, :k] * s[:k]
    return z / z.std(0)


def write_brainio(path: Path, data: np.ndarray, presentation: dict, neuroid: dict, time_bins: list[tuple]) -> None:
    """Write ``data`` (presentation × neuroid × time_bin) as BrainIO's write_netcdf does."""
    import xarray as xr

    coords = {k: ("presentation", np.asarray(v)) for k, v in presentation.items()}
    coords.update({k: ("neuroid", np.asarray(v)) for k, v in neuroid.items()})
    coords.update({"time_bin_start": ("time_bin", np.array([a for a, _ in time_bins])),
                   "time_bin_end": ("time_bin", np.array([b for _, b in time_bins]))})
    da = xr.DataArray(data, coords=coords, dims=["presentation", "neuroid", "time_bin"])
    # in memory BrainIO keeps every coordinate in a MultiIndex (DataAssembly's gather_indexes)
    da = da.set_index(presentation=list(presentation), neuroid=list(neuroid),
                      time_bin=["time_bin_start", "time_bin_end"])
    da = da.reset_index(list(da.indexes))  # what BrainIO's write_netcdf does before writing
    ds = da.to_dataset(name="data", promote_attrs=True)
    ds.to_netcdf(path, engine="h5netcdf", encoding={"data": dict(zlib=True, complevel=9)})


def build_neural(root: Path, model, *, n_objects: int = 8, per_object: int = 20, n_reps: int = 6,
                 size: int = 64, n_sites: int = 16, clean: int = 4, noise: float = 0.6, k: int = 20,
                 early: str = EARLY, late: str = LATE, seed: int = 0) -> dict:
    """Write the data set; returns paths and the planted ground truth."""
    from PIL import Image

    from memscore.stimuli import Stimuli
    from memscore_plugins.benchmarks.neural.benchmark import ScreenExtractor

    root = Path(root)
    rng = np.random.default_rng(seed)
    imgs = _images(n_objects, per_object, size, rng)
    n = len(imgs)
    (root / "images").mkdir(parents=True, exist_ok=True)
    ids = [f"s{i:04d}" for i in range(n)]
    objects = [f"obj{i // per_object}" for i in range(n)]
    for sid, img in zip(ids, imgs):
        Image.fromarray(img, "RGB").save(root / "images" / f"{sid}.png")
    with open(root / "stimuli.csv", "w") as f:
        f.write("stimulus_id,filename,object_name\n")
        for sid, obj in zip(ids, objects):
            f.write(f"{sid},{sid}.png,{obj}\n")

    stimuli = Stimuli.from_paths([root / "images" / f"{s}.png" for s in ids], ids)
    ex = ScreenExtractor(model, n_components=None, batch_size=64, device="cpu", image_size=size,
                         cache_dir=root / ".fixture-cache", progress=False, announce=False)
    acts = ex.extract(stimuli, [early, late])
    means, regions, neuroids = [], [], []
    for region, layer in (("V1", early), ("IT", late)):
        z = _top_pcs(np.asarray(acts[layer], dtype=np.float64), k)
        w = rng.normal(0, 1, (k, n_sites))
        r = z @ w
        means.append((r - r.mean(0)) / r.std(0))
        regions += [region] * n_sites
        neuroids += [f"{region}_{j:02d}" for j in range(n_sites)]
    mean = np.concatenate(means, axis=1)  # (n, sites)
    sd = np.array([0.0 if j % n_sites < clean else noise for j in range(mean.shape[1])])

    order = rng.permutation(n * n_reps)  # presentations in a shuffled order, as recorded
    stim = np.repeat(np.arange(n), n_reps)[order]
    rep = np.tile(np.arange(n_reps), n)[order]
    trial = mean[stim] + rng.normal(0, 1, (len(stim), mean.shape[1])) * sd
    bins = [(70, 120), (120, 170), (170, 220)]
    jitter = rng.normal(0, 0.05, trial.shape) * (sd > 0)
    data = np.stack([trial + jitter, trial - jitter, rng.normal(0, 3, trial.shape)], axis=2).astype(np.float32)
    write_brainio(root / "assy.nc", data,
                  {"stimulus_id": [ids[i] for i in stim], "repetition": rep, "object_name": [objects[i] for i in stim]},
                  {"neuroid_id": neuroids, "region": regions}, bins)
    sha = {name: hashlib.sha1((root / name).read_bytes()).hexdigest() for name in ("assy.nc", "stimuli.csv")}
    manifest = {"identifier": "synthetic-neural", "assembly": "assy.nc", "stimulus_set": "stimuli.csv",
                "stimuli_dir": "images", "regions": ["V1", "IT"], "visual_degrees": 8, "time_window": [70, 170],
                "stratification": "object_name", "sha1": sha}
    (root / "neural.json").write_text(json.dumps(manifest, indent=1))
    return {"root": root, "manifest": root / "neural.json", "ids": ids, "objects": objects, "mean": mean,
            "clean": [nid for j, nid in enumerate(neuroids) if sd[j] == 0], "early": early, "late": late,
            "size": size}


def brainscore_assembly(data, features: np.ndarray):
    """``data`` (a RegionData) as brainscore_vision assemblies: the single-trial target (with repetitions)
    and model features as a source assembly (only used when brainscore_vision is installed)."""
    from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly

    ids = np.array(data.stimuli.ids)
    target = NeuroidAssembly(
        data.trials, dims=["presentation", "neuroid"],
        coords={"stimulus_id": ("presentation", ids[data.trial_stimulus]),
                "repetition": ("presentation", data.trial_repetition),
                "object_name": ("presentation", data.strata[data.trial_stimulus]),
                "neuroid_id": ("neuroid", np.array(data.site_ids)),
                "region": ("neuroid", np.array([data.region] * len(data.site_ids)))})
    source = NeuroidAssembly(
        features, dims=["presentation", "neuroid"],
        coords={"stimulus_id": ("presentation", ids), "object_name": ("presentation", data.strata),
                "neuroid_id": ("neuroid", np.array([f"f{i}" for i in range(features.shape[1])])),
                "layer": ("neuroid", np.array(["x"] * features.shape[1]))})
    return target, source
