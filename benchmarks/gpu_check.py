"""The GPU check, ready for the day a GPU is lent: CPU-vs-CUDA equality on planted sets and the throughput of
an all-layer lamem-pls pass.

    python benchmarks/gpu_check.py                 # on a machine with CUDA (under 8 minutes on one GPU)
    python benchmarks/gpu_check.py --cpu-smoke     # a tiny version on CPU (CI): the same code paths, CPU vs CPU

Equality: lamem-pls, neural-it and neural-it with metric=ridgecv (ridgecv's torch path on CUDA) (random-init resnet18, planted fixtures in the real formats) and one
lamem-finetune epoch are scored on the CPU and on CUDA: fp32 values must agree to 1e-4, bf16 (``--bf16`` on
CUDA) within 0.01. Throughput: resnet50 (resnet18 in the smoke), every layer captured and PCA-projected as
lamem-pls does, over N synthetic 224-px images (58,741 on a GPU: LaMem's size; 32 in the smoke), reported in
images per second with the time a full LaMem pass would take. Prints JSON; exits 1 when a check fails.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _score(model, bench, device, root, cache, bargs, bf16=False):
    import memscore

    t0 = time.perf_counter()
    s = memscore.score(model, bench, weights="none", data_root=str(root), device=device, progress=False,
                       cache_dir=cache, bf16=bf16, benchmark_args=bargs, store=False)
    return {"value": s.value, "layer": s.meta.get("layer"), "s": time.perf_counter() - t0}


def equality(work: Path, devices: list[str], smoke: bool) -> dict:
    from lamem_fixture import build_lamem
    from memscore.api import load_model
    from neural_fixture import build_neural

    lamem = build_lamem(work / "lamem", 120 if smoke else 400, image_size=64)
    neural = build_neural(work / "neural", load_model("torchvision:resnet18", weights="none"), n_objects=8,
                          per_object=16, n_sites=8, size=64)
    cases = {
        "lamem-pls": ("resnet18", "lamem-pls", lamem, {"image_size": 64, "pca": 24, "splits": "1,2"}),
        "neural-it": ("torchvision:resnet18", "neural-it", neural["root"],
                      {"dataset": str(neural["manifest"]), "image_size": 64, "pca": 24, "folds": 4,
                       "n_components": 6}),
        "neural-it metric=ridgecv": ("torchvision:resnet18", "neural-it", neural["root"],
                                     {"dataset": str(neural["manifest"]), "image_size": 64, "pca": 24, "folds": 4,
                                      "metric": "ridgecv"}),
        "lamem-finetune": ("resnet18", "lamem-finetune", lamem,
                           {"splits": "1", "epochs": 1, "image_size": 32, "batch_size": 16}),
    }
    out = {}
    for name, (model, bench, root, bargs) in cases.items():
        runs = {d: _score(model, bench, d, root, work / f"cache-{d}", bargs) for d in devices}
        row = {"runs": runs}
        if len(devices) > 1:
            a, b = (runs[d]["value"] for d in devices[:2])
            row["abs_diff"] = abs(a - b)
            row["ok"] = row["abs_diff"] <= 1e-4
            if devices[1].startswith("cuda") and name != "lamem-finetune":
                bf = _score(model, bench, devices[1], root, work / "cache-bf16", bargs, bf16=True)
                row["bf16"] = {**bf, "abs_diff": abs(bf["value"] - a), "ok": abs(bf["value"] - a) <= 0.01}
                row["ok"] = row["ok"] and row["bf16"]["ok"]
        else:
            row["ok"] = all(math.isfinite(r["value"]) for r in runs.values())  # a ceiled r²/c may pass 1
        out[name] = row
    return out


def throughput(work: Path, device: str, smoke: bool) -> dict:
    """Every layer of the model captured and projected onto a PCA-k basis (fitted on a reference batch) over N
    synthetic images, as lamem-pls's engine does, without the disk."""
    import numpy as np
    import torch
    from PIL import Image

    from memscore.activations import Extractor
    from memscore.api import load_model
    from memscore.stimuli import Stimuli

    name, n, px, k = ("torchvision:resnet18", 32, 64, 16) if smoke else ("torchvision:resnet50", 58741, 224, 1000)
    folder = work / f"synthetic-{px}"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    distinct = 256 if not smoke else n  # files to decode: a few hundred distinct images, repeated
    for i in range(distinct):
        f = folder / f"{i:05d}.jpg"
        if not f.exists():
            Image.fromarray(rng.integers(0, 255, (px, px, 3), dtype=np.uint8)).save(f, quality=90)
    files = sorted(folder.glob("*.jpg"))
    stimuli = Stimuli.from_paths([files[i % len(files)] for i in range(n)], [f"s{i}" for i in range(n)])
    reference = Stimuli.from_paths(files[: min(len(files), k + 1)], [f"r{i}" for i in range(min(len(files), k + 1))])
    model = load_model(name, weights="none")
    ex = Extractor(model, n_components=k, reference=reference, device=device, image_size=px, progress=False,
                   cache_dir=work / f"tp-{device}", pca_bases="refit", batch_size="auto")
    t0 = time.perf_counter()
    ex.extract(stimuli)
    wall = time.perf_counter() - t0
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return {"model": name, "images": n, "px": px, "k": k, "device": device, "batch_size": ex.batch_size,
            "wall_s": wall, "images_per_s": n / wall, "pca_fit_s": ex.timings["pca_fit_s"],
            "lamem_58741_s_estimate": 58741 / (n / wall), "passes": ex.passes}


def main() -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="a tiny version on CPU (CI)")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    cuda = torch.cuda.is_available() and not args.cpu_smoke
    devices = ["cpu", "cuda"] if cuda else ["cpu"]
    with tempfile.TemporaryDirectory() as tmp:
        import os

        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("MEMSCORE_HOME", str(work / "home"))  # never the user's store
        report = {"smoke": args.cpu_smoke, "cuda": cuda,
                  "gpu": torch.cuda.get_device_name(0) if cuda else None,
                  "equality": equality(work, devices, args.cpu_smoke),
                  "throughput": throughput(work, "cuda" if cuda else "cpu", args.cpu_smoke)}
    report["ok"] = all(r["ok"] for r in report["equality"].values())
    print(json.dumps(report, indent=1, default=str))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
