"""What a memorability run costs on each data set, relative to ``lamem-pls`` on a set of the same size (issue
#22: "a <dataset>-pls run costs what a lamem-pls run of the same size costs").

    python benchmarks/dataset_cost.py [--images 1000] [--image-size 64] [--repeats 2] [--model resnet18]

Builds, under a temporary folder, a LaMem-format set, a MemCat-format set and a memorability-CSV set of the same
number of images (``memscore_plugins.demo.synthetic``: same image size, JPEGs), and scores a random-init model
(``weights=none``) on ``lamem-pls``, ``memcat-pls`` and ``memorability-csv-pls`` with the same arguments (one
split, the same layers, PCA cap and PLS). Every run starts from an empty ``$MEMSCORE_HOME`` (no activation cache,
no split files), nothing is stored. Prints JSON: best-of seconds per benchmark, its images, seconds per image,
and the ratio of seconds per image to lamem-pls's (1.0 = the same cost per image; the sets' train/test
proportions differ a little, which only moves the PLS share).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

LAYERS = "conv1+layer1.0.relu+layer2.1.relu+layer3.1.relu+layer4.1.relu+fc"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--model", default="resnet18")
    args = ap.parse_args()

    import memscore
    from memscore_plugins.demo.synthetic import build_lamem, build_memcat, build_memorability_csv

    work = Path(tempfile.mkdtemp(prefix="memscore-dataset-cost-"))
    n, px = args.images, args.image_size
    sets = {"lamem-pls": ("lamem", build_lamem(work / "lamem", n, image_size=px)),
            "memcat-pls": ("memcat", build_memcat(work / "memcat", n, image_size=px)),
            "memorability-csv-pls": ("memorability-csv", build_memorability_csv(work / "csv", n, image_size=px))}
    bargs = {"image_size": px, "pca": 100, "layers": LAYERS, "splits": "1"}
    out: dict = {"images": n, "image_size": px, "model": args.model, "benchmark_args": bargs, "runs": {}}
    for bench, (name, root) in sets.items():
        best, score = float("inf"), None
        for rep in range(args.repeats):
            os.environ["MEMSCORE_HOME"] = str(work / f"home-{bench}-{rep}")  # a cold cache every time
            t0 = time.perf_counter()
            score = memscore.score(args.model, bench, weights="none", data_root=[f"{name}={root}"], progress=False,
                                   benchmark_args=bargs, store=False)
            best = min(best, time.perf_counter() - t0)
        used = int(score.meta.get("n_stimuli") or n)
        out["runs"][bench] = {"s": round(best, 3), "images": used, "s_per_image": best / used,
                              "value": round(float(score.value), 4)}
    base = out["runs"]["lamem-pls"]["s_per_image"]
    for rec in out["runs"].values():
        rec["per_image_vs_lamem_pls"] = round(rec["s_per_image"] / base, 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
