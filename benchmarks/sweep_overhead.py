"""What a sweep costs beyond the work it must do, and what SLURM adds per job, measured in one run.

    python benchmarks/sweep_overhead.py [--images 200] [--models cornet-z,torchvision:alexnet,cornet-r]
                                        [--repeats 2] [--slurm]

1. ``separate_s``: each model's `lamem-pls` and `neural-it` scored one after the other in one process
   (`memscore.score`), fresh store and activation cache: the irreducible work of the three models.
2. ``sweep_s``: `memscore sweep` (inline executor) of the same models over `lamem-pls`, `neural-it` and
   `lamem-it` in a fresh store and cache. ``ratio = sweep_s / separate_s``: lamem-it must cost almost
   nothing (it reads lamem-pls's activations and neural-it's commitment), so the ratio is about 1.
   The two are measured alternately (ABBA…), and the median ratio is reported.
3. With ``--slurm`` (root, Debian's slurm-wlm + munge installed): a single-node cluster is started
   (tests/slurm_cluster.py) and ``slurm_overhead_per_job_s`` is the wall time from submitting an array of
   trivial submitit jobs to having all results, per job; ``slurm_sweep_s`` is the same sweep through the
   slurm executor, with its ratio to the inline sweep.
Prints JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

BENCHMARKS = ["lamem-pls", "neural-it", "lamem-it"]


def _args(manifest: Path) -> dict:
    return {"image_size": 64, "pca": 64, "n_components": 10, "reference_size": 64, "folds": 5,
            "dataset": str(manifest), "splits": "1,2,3"}


def _fresh(base: Path, name: str) -> Path:
    home = base / name
    shutil.rmtree(home, ignore_errors=True)
    os.environ["MEMSCORE_HOME"] = str(home)
    os.environ.pop("MEMSCORE_CACHE", None)
    return home


def separate(base: Path, models: list[str], lamem: Path, manifest: Path) -> float:
    import memscore

    _fresh(base, "separate")
    a = _args(manifest)
    t0 = time.perf_counter()
    for m in models:
        memscore.score(m, "lamem-pls", weights="none", data_root=lamem, device="cpu", progress=False,
                       benchmark_args={k: a[k] for k in ("image_size", "pca", "n_components", "reference_size", "splits")})
        memscore.score(m, "neural-it", weights="none", device="cpu", progress=False,
                       benchmark_args={k: a[k] for k in ("image_size", "pca", "n_components", "reference_size",
                                                         "folds", "dataset")})
    return time.perf_counter() - t0


def swept(base: Path, models: list[str], lamem: Path, manifest: Path, executor="inline", name="sweep") -> float:
    from memscore.sweep import sweep

    _fresh(base, name)
    t0 = time.perf_counter()
    report = sweep(models, BENCHMARKS, weights="none", benchmark_args=_args(manifest),
                   data_roots={"lamem-pls": str(lamem), "lamem-it": str(lamem)}, executor=executor, progress=False,
                   device="cpu")
    wall = time.perf_counter() - t0
    assert report.ok, [p.to_dict() for p in report.sweep.pairs if p.state != "done"]
    return wall


def _noop(i: int) -> int:
    return i


def slurm(base: Path, models, lamem, manifest, inline_s: float) -> dict:
    import submitit

    from memscore.jobs import SlurmExecutor
    from slurm_cluster import slurm_available, start_cluster

    why = slurm_available()
    if why:
        return {"slurm": f"not measured: {why}"}
    with start_cluster(base / "slurm") as cluster:
        ex = submitit.SlurmExecutor(folder=str(base / "slurm-noop" / "%j"))
        ex.update_parameters(partition=cluster.partition, time=5, array_parallelism=64)
        n = 8
        t0 = time.perf_counter()
        jobs = ex.map_array(_noop, list(range(n)))
        assert [j.result() for j in jobs] == list(range(n))
        per_job = (time.perf_counter() - t0) / n
        wall = swept(base, models, lamem, manifest, SlurmExecutor(partition=cluster.partition, time_limit="30"),
                     "slurm-sweep")
    return {"slurm_noop_jobs": n, "slurm_overhead_per_job_s": round(per_job, 2),
            "slurm_sweep_s": round(wall, 1), "slurm_sweep_over_inline": round(wall / inline_s, 3),
            "slurm_note": f"{os.cpu_count()} CPUs on the one node: the array's tasks share them"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--models", default="cornet-z,torchvision:alexnet,cornet-r")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--slurm", action="store_true")
    ap.add_argument("--workdir")
    args = ap.parse_args()
    base = Path(args.workdir or tempfile.mkdtemp(prefix="memscore-sweep-bench-"))
    from lamem_fixture import build_lamem
    from memscore.api import load_model
    from neural_fixture import build_neural

    lamem = base / "lamem"
    if not lamem.is_dir():
        build_lamem(lamem, args.images, image_size=64)
    manifest = base / "neural" / "neural.json"
    if not manifest.is_file():
        build_neural(base / "neural", load_model("torchvision:resnet18", weights="none"), n_objects=8,
                     per_object=16, n_sites=16, size=64)
    models = [m for m in args.models.split(",") if m]
    ratios, seps, sws = [], [], []
    for i in range(args.repeats):
        order = (separate, swept) if i % 2 == 0 else (swept, separate)
        t = {f.__name__: f(base, models, lamem, manifest) for f in order}
        seps.append(t["separate"])
        sws.append(t["swept"])
        ratios.append(t["swept"] / t["separate"])
    out = {"models": models, "images": args.images, "benchmarks": BENCHMARKS, "repeats": args.repeats,
           "separate_s": [round(x, 2) for x in seps], "sweep_s": [round(x, 2) for x in sws],
           "ratio": round(statistics.median(ratios), 3), "ratios": [round(r, 3) for r in ratios],
           "ratio_of_totals": round(sum(sws) / sum(seps), 3)}
    if args.slurm:
        out.update(slurm(base, models, lamem, manifest, statistics.median(sws)))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
