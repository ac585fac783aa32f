"""A small neural data set in the real BrainIO format, with planted signal (for the neural-* tests).

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
import json
from pathlib import Path

import numpy as np

__all__ = ["build_neural", "write_brainio", "brainscore_assembly", "EARLY", "LATE"]

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
                         cache_dir=root / ".fixture-cache", progress=False)
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
