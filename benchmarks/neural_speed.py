"""Speed of neural-v1/v2/v4/it over every layer of a model on a MajajHong-sized synthetic assembly.

    python benchmarks/neural_speed.py [--stimuli 3200] [--model torchvision:resnet18] [--device cpu]

Builds (once per --workdir) a BrainIO assembly with 3,200 stimuli (MajajHong2015.public's count; 8 object
classes), 10 repetitions, one 70-170 ms time bin and the public data sets' site counts (V1 102, V2 103,
V4 88, IT 168), all shown at 8° (no placement), sites being noisy linear readouts of the images' latent
factors; then scores all four regions over all scoreable layers with random-init weights. The first region
pays the forward pass and the PCA fit; the others reuse the cached activations. Prints JSON: wall time per
region and in all, and the share of it spent in PLS (the `pls_s` of each score).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

SITES = {"V1": 102, "V2": 103, "V4": 88, "IT": 168}


def build(root: Path, n: int, px: int, reps: int, seed: int = 0) -> Path:
    from PIL import Image

    from neural_fixture import _images, write_brainio

    manifest = root / "neural.json"
    if manifest.exists() and json.loads(manifest.read_text()).get("n") == n:
        return manifest
    rng = np.random.default_rng(seed)
    per = n // 8
    imgs = _images(8, per, px, rng)
    (root / "images").mkdir(parents=True, exist_ok=True)
    ids = [f"s{i:05d}" for i in range(len(imgs))]
    for sid, img in zip(ids, imgs):
        Image.fromarray(img, "RGB").save(root / "images" / f"{sid}.png")
    objects = [f"obj{i // per}" for i in range(len(imgs))]
    (root / "stimuli.csv").write_text("stimulus_id,filename,object_name\n" +
                                      "".join(f"{s},{s}.png,{o}\n" for s, o in zip(ids, objects)))
    small = imgs[:, ::8, ::8].reshape(len(imgs), -1).astype(np.float64)  # latent-ish pixel features
    small -= small.mean(0)
    total = sum(SITES.values())
    mean = small @ rng.normal(size=(small.shape[1], total)) / np.sqrt(small.shape[1])
    mean /= mean.std(0)
    stim = np.repeat(np.arange(len(imgs)), reps)
    data = (mean[stim] + rng.normal(size=(len(stim), total)))[..., None].astype(np.float32)
    regions = [r for r, k in SITES.items() for _ in range(k)]
    write_brainio(root / "assy.nc", data,
                  {"stimulus_id": [ids[i] for i in stim], "repetition": np.tile(np.arange(reps), len(imgs)),
                   "object_name": [objects[i] for i in stim]},
                  {"neuroid_id": [f"{r}_{j}" for j, r in enumerate(regions)], "region": regions}, [(70, 170)])
    manifest.write_text(json.dumps({"identifier": f"speed-{n}", "assembly": "assy.nc", "stimulus_set": "stimuli.csv",
                                    "stimuli_dir": "images", "regions": list(SITES), "visual_degrees": 8,
                                    "time_window": [70, 170], "stratification": "object_name", "n": n}))
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stimuli", type=int, default=3200)
    ap.add_argument("--image-px", type=int, default=256, help="size of the synthetic images (HvM: 256)")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--model", default="torchvision:resnet18")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workdir", help="keep the data set and caches here (default: a temp dir)")
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="memscore-neural-speed-"))
    os.environ["MEMSCORE_HOME"] = str(work / "home")
    t0 = time.perf_counter()
    manifest = build(work / "data", args.stimuli, args.image_px, args.reps)
    build_s = time.perf_counter() - t0

    import torch

    from memscore.api import score

    regions = {}
    total = pls = 0.0
    for region in SITES:
        t = time.perf_counter()
        s = score(args.model, f"neural-{region.lower()}", weights="none", device=args.device,
                  batch_size=args.batch_size, progress=False, force=True,
                  benchmark_args={"dataset": str(manifest)})
        wall = time.perf_counter() - t
        tim = s.meta["timings"]
        total += wall
        pls += tim["pls_s"]
        regions[region] = {"wall_s": round(wall, 2), "pls_s": round(tim["pls_s"], 2),
                           "extract_s": round(tim["extract_s"], 2), "pca_fit_s": round(tim["pca_fit_s"], 2),
                           "layers": len(s.layers), "sites": s.meta["n_sites"], "layer": s.meta["layer"],
                           "raw": round(s.raw, 4), "ceiling": round(s.ceiling, 4)}
    print(json.dumps({
        "model": args.model, "device": args.device, "stimuli": args.stimuli, "reps": args.reps,
        "threads": torch.get_num_threads(), "build_data_s": round(build_s, 1), "total_s": round(total, 2),
        "pls_s": round(pls, 2), "pls_share": round(pls / total, 3), "regions": regions,
    }, indent=1))


if __name__ == "__main__":
    main()
