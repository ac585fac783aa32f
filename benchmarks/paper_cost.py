"""What reproducing Harada & Sakai (2023) costs, per model family: FLOPs counted on the models, seconds from
the measurements in README.md's Performance table and docs/neural.md, GPU time from published figures.

    nice -n 10 python benchmarks/paper_cost.py [--out benchmarks/paper_cost.json] [--models a,b] [--refresh]

1. Per model of ``--tag harada2023`` that is available (random init, ``weights="none"``, nothing downloaded),
   at its own input size: GFLOPs of one forward pass of one image (``torch.utils.flop_counter``: convolutions
   and matmuls, a multiply-add = 2 FLOPs), parameters, the scored layers (canonical, >= 24 units) and their
   units; with ``--timing`` also the CPU forward time relative to resnet18 (batch 8, min of 3, the two
   interleaved; on a shared machine these ratios are noisy, so by default the CPU forward is scaled by FLOPs).
   Cached per model in ``--out``: a rerun only builds the models missing there.
2. The cost model (every constant below names its source): per benchmark pass, the PCA fit on the reference
   set (reference passes, float64 Gram and basis), the forward passes (one per layer group that the memory
   budget allows), the projections onto the PCA bases, the bases read from disk, PLS. CPU seconds are
   calibrated on resnet18's measured figures; H100 seconds come from datasheet peaks times stated
   efficiencies. Everything printed for the H100 is an estimate: no GPU was available.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = 2  # form of a cached model record; another value recomputes it

# -- the work (memscore's defaults; docs/neural.md, plugins/benchmarks/*/benchmark.py) ---------------------
PCA_K = 1000                 # pca=1000: layers with more than 1000 units are projected
REF = 1000                   # reference_size=1000: PCA fitted on at most 1000 of the benchmark's stimuli
LAMEM_N = 58_741             # LaMem images (all splits' stimuli)
MAJAJ_N = 3_200              # MajajHong2015.public: HvM images, V4 + IT (docs/neural.md)
FREEMAN_N = 135              # FreemanZiemba2013.public: 135 images, V1 + V2 (the 315 others are private)
FAMILY_SKIP = {"harada2023", "imagenet", "torchvision", "timm", "cadene"}

# -- CPU calibration: this 2-core machine (README.md Performance; docs/neural.md Speed) --------------------
CAL_IMAGES = 512             # engine_overhead.py: 512 fixture JPEGs, resnet18 at 224, batch 64
CAL_FORWARD_S = 10.4         # plain forward over the 512 images, same loader (decoding included)
CAL_MATMUL_S = 17.0          # bare projection matmuls at PCA-511 over the 67 modules then scored (aliases too)
CAL_K = 511                  # 512 reference images keep at most 511 components
CAL_OVERHEAD = 1.18          # whole sweep / (forward + matmuls), bases in the page cache
CAL_FIT512_S = 197.0         # one-time PCA fit, 512 reference images, 67 modules (engine_overhead.py)
CAL_FIT1000_S = 554.0        # one-time PCA fit, 1000 reference images, 67 modules (neural_speed.py)
CAL_NEURAL_PASS_S = 370.0    # one activation pass over 3,200 stimuli, 2 layer groups (neural_speed.py)
CAL_NEURAL_GROUPS = 2
PLS_LAMEM_S = 5 * 4.75 / 21.9  # PLS-25 per layer, 5 LaMem splits batched at 1000 dims (README: 21.9x of 4.75 s)
PLS_NEURAL_S = 0.76          # PLS per (layer, region), 10 splits, 3,200 stimuli (docs/neural.md)
CPU_DISK_GBS = 0.57          # cold read of the bases on this disk (README)

# -- one H100 SXM 80GB (datasheet peaks, dense; the efficiencies are assumptions) --------------------------
H100_TF32_TFLOPS = 494.7     # TF32 tensor cores, dense (cuDNN convolutions use TF32 by default)
H100_BF16_TFLOPS = 989.4     # BF16 tensor cores, dense (the 1,979 figure is with 2:4 sparsity)
H100_FP32_TFLOPS = 66.9      # FP32 CUDA cores (torch keeps TF32 off for matmul by default)
H100_FP64_TFLOPS = 66.9      # FP64 tensor cores (the float64 Gram and basis of the PCA fit)
H100_HBM_TBS = 3.35
EFF_FWD = 0.10               # eager PyTorch convnet forward, fraction of the tensor-core peak: NVIDIA's A100
                             # ResNet-50 AMP training, 2,470 img/s (docs/finetune.md), is 3 x 8.2 GFLOPs x 2,470
                             # = 61 TFLOP/s; an H100 at 1.5-2x that is 9-12 % of its dense BF16 peak
EFF_GEMM = 0.70              # large GEMMs (projection, fit), fraction of peak
EFF_HBM = 0.70               # achievable fraction of HBM bandwidth
H100_FREE_GIB = 79.0         # free memory after the CUDA context; memscore's budget is 0.6 x free
GPU_DISK_GBS = 2.0           # NVMe read/write on the GPU node (bases, activation cache)
# -- one H200 SXM 141GB: the same tensor-core peaks as the H100 SXM, more and faster memory -----------------
H200_HBM_TBS = 4.8
H200_FREE_GIB = 139.0
DECODE_IMG_S = 1_360         # JPEG decode + resize per CPU core (docs/finetune.md, memscore loader)
WORKERS = 8                  # --num-workers on the GPU node
BATCH = 64                   # --batch-size (default)
BRIEF_TFLOPS = 400 * 0.35    # the flat "400 TFLOP/s x 35 %" figure, printed for comparison only


# ------------------------------------------------------------------------------------------------------------
# 1. measurements on the models
# ------------------------------------------------------------------------------------------------------------

def _dumps(cache: dict) -> str:
    """One model a line: the cache stays readable and diffable (its unit lists are long)."""
    return "{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(cache.items())) + "\n}\n"

def family_of(name: str, tags) -> str:
    rest = [t for t in dict.fromkeys(tags) if t not in FAMILY_SKIP]
    return rest[-1] if rest else name


def _forward_seconds(module, x, reps: int = 3) -> float:
    import torch

    best = math.inf
    with torch.inference_mode():
        module(x)  # warm-up
        for _ in range(reps):
            t0 = time.perf_counter()
            module(x)
            best = min(best, time.perf_counter() - t0)
    return best


def measure(name: str, ref_module, ref_x, timing: bool) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import memscore.api as api
    from memscore.model import MIN_UNITS

    t0 = time.perf_counter()
    model = api.load_model(name, weights="none")
    size = int(model.preprocessing.crop_size)
    module = model.module.eval()
    scored = [li for li in model.canonical_info() if li.units >= MIN_UNITS]
    with_aliases = [li for li in model.layer_info() if li.units >= MIN_UNITS]
    x1 = torch.randn(1, 3, size, size)
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        module(x1)
    rec = {"record": RECORD, "name": name, "input_size": size,
           "params": int(sum(p.numel() for p in module.parameters())),
           "gflops": fc.get_total_flops() / 1e9,
           "layers": len(scored), "units": [int(li.units) for li in scored],
           "units_with_aliases": [int(li.units) for li in with_aliases]}
    if timing:
        x8 = torch.randn(8, 3, size, size)
        t_ref_a = _forward_seconds(ref_module, ref_x)
        t_model = _forward_seconds(module, x8)
        t_ref_b = _forward_seconds(ref_module, ref_x)
        rec["cpu_forward_ratio"] = t_model / min(t_ref_a, t_ref_b)  # per image, vs resnet18 at 224
    rec["measure_s"] = round(time.perf_counter() - t0, 1)
    del model, module, scored, with_aliases, x1, fc
    gc.collect()
    return rec


def measure_all(out: Path, only: list[str] | None, refresh: bool, timing: bool, budget_s: float) -> tuple[dict, list]:
    import torch

    import memscore.api as api

    entries = api.list_models(tag="harada2023")
    cache = {} if refresh or not out.exists() else json.loads(out.read_text())
    skipped, todo = [], []
    for e in entries:
        d = e.to_dict()
        if only and e.name not in only:
            continue
        if not d["available"]:
            skipped.append((e.name, d.get("reason", "")))
            continue
        cached = cache.get(e.name)
        if cached and cached.get("record") == RECORD and (not timing or "cpu_forward_ratio" in cached):
            cached["family"] = family_of(e.name, d["tags"])
            continue
        todo.append((e.name, d["tags"]))
    if todo:
        ref = api.load_model("resnet18", weights="none").module.eval() if timing else None
        ref_x = torch.randn(8, 3, 224, 224)
        t_start = time.perf_counter()
        for i, (name, tags) in enumerate(todo):
            if time.perf_counter() - t_start > budget_s:
                print(f"# time budget of {budget_s:.0f} s spent: {len(todo) - i} models not measured "
                      f"({', '.join(n for n, _ in todo[i:])}); run again to measure them (measured models are cached)",
                      file=sys.stderr)
                skipped.extend((n, "not measured yet: time budget spent") for n, _ in todo[i:])
                break
            try:
                rec = measure(name, ref, ref_x, timing)
            except Exception as exc:  # a model that does not build is reported, not fatal
                skipped.append((name, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))
                continue
            rec["family"] = family_of(name, tags)
            cache[name] = rec
            out.write_text(_dumps(cache))
            print(f"# {i + 1}/{len(todo)} {name}: {rec['gflops']:.2f} GFLOPs, {rec['layers']} layers, "
                  f"{rec['measure_s']} s", file=sys.stderr, flush=True)
        del ref
        gc.collect()
    for e in entries:  # keep families current in the file
        if e.name in cache:
            cache[e.name]["family"] = family_of(e.name, e.to_dict()["tags"])
    out.write_text(_dumps(cache))
    names = [e.name for e in entries if e.name in cache and (not only or e.name in only)]
    return {n: cache[n] for n in names}, skipped


# ------------------------------------------------------------------------------------------------------------
# 2. arithmetic of one benchmark pass (what memscore.activations / memscore.pca do)
# ------------------------------------------------------------------------------------------------------------
def keep_of(u: int, k: int, n_ref: int) -> int:
    """Components kept for a layer of u units: memscore projects layers with u > k onto min(k, u, n_ref - 1)."""
    return min(k, u, n_ref - 1) if u > k else u


def proj_flops(units, k: int, n_ref: int) -> float:
    """Projection FLOPs per image: 2 x units x kept components, over the projected layers."""
    return 2.0 * sum(u * keep_of(u, k, n_ref) for u in units if u > k)


def fit_flops(units, k: int, n_ref: int) -> float:
    """float64 FLOPs of the fit: the n x n Gram (syrk: n^2 u) and the basis (2 n u keep) per projected layer."""
    return float(sum(n_ref * n_ref * u + 2 * n_ref * u * keep_of(u, k, n_ref) for u in units if u > k))


def bases_bytes(units, k: int, n_ref: int) -> float:
    return 4.0 * sum(u * (keep_of(u, k, n_ref) + 1) for u in units if u > k)


def act_bytes(units, k: int, n_ref: int, n: int) -> float:
    return 4.0 * n * sum(keep_of(u, k, n_ref) for u in units)


def n_groups(costs, budget: float) -> int:
    from memscore.memory import groups

    costs = [c for c in costs]
    if not any(costs):
        return 1
    return len(groups(range(len(costs)), lambda i: costs[i], int(budget)))


def fit_groups(units, k: int, n_ref: int, budget: float) -> int:
    need = [u for u in units if u > k]
    return n_groups([u * 4 * (n_ref + min(k, n_ref)) for u in need], budget) if need else 0


def pass_groups(units, k: int, n_ref: int, budget: float) -> int:
    return n_groups([u * (keep_of(u, k, n_ref) + 1) * 4 if u > k else 0 for u in units], budget)


AVAILABLE_FRACTION = 0.85  # MemAvailable / RAM assumed for a pass (this machine showed 20 of 23 GiB), fixed so that
                           # the estimate does not move with other users' memory at the time of the run


def machine_memory() -> tuple[float, float]:
    """(memscore's CPU fit budget = 0.45 x RAM, its extraction budget = max(that, 0.75 x MemAvailable))."""
    from memscore.memory import cgroup_memory_limit

    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    lim = cgroup_memory_limit()
    ram = min(total, lim or total)
    fit_budget = 0.45 * ram
    return fit_budget, max(fit_budget, 0.75 * AVAILABLE_FRACTION * ram)


class Calibration:
    """Seconds per GFLOP on this CPU, from resnet18's measured figures."""

    def __init__(self, r18: dict, fit_budget: float):
        fw = r18["gflops"]
        self.s_fwd_gflop = CAL_FORWARD_S / (CAL_IMAGES * fw)
        self.s_fwd_img_r18 = CAL_FORWARD_S / CAL_IMAGES
        ua = r18["units_with_aliases"]  # the 67 modules the measurements ran over
        self.proj511 = proj_flops(ua, CAL_K, CAL_IMAGES) / 1e9
        self.s_proj_gflop = CAL_MATMUL_S / (CAL_IMAGES * self.proj511)
        g1000 = fit_groups(ua, PCA_K, REF, fit_budget)
        fwd1000 = g1000 * REF * self.s_fwd_img_r18
        self.fit_gflop_1000 = fit_flops(ua, PCA_K, REF) / 1e9
        self.s_fit_gflop = (CAL_FIT1000_S - fwd1000) / self.fit_gflop_1000
        g512 = fit_groups(ua, CAL_K, CAL_IMAGES, fit_budget)
        self.fit512_pred = g512 * CAL_IMAGES * self.s_fwd_img_r18 + fit_flops(ua, CAL_K, CAL_IMAGES) / 1e9 * self.s_fit_gflop
        # one activation pass over 3,200 stimuli at PCA-999 with 2 groups (docs/neural.md: 370 s)
        self.neural_pass_pred = CAL_OVERHEAD * (CAL_NEURAL_GROUPS * MAJAJ_N * self.s_fwd_img_r18
                                                + MAJAJ_N * proj_flops(ua, PCA_K, REF) / 1e9 * self.s_proj_gflop)
        self.groups = (g512, g1000)
        self.bases511_gb = bases_bytes(ua, CAL_K, CAL_IMAGES) / 1e9
        self.proj1000_scored = proj_flops(r18["units"], PCA_K, REF) / 1e9
        self.proj511_scored = proj_flops(r18["units"], CAL_K, CAL_IMAGES) / 1e9


def cpu_pass(m: dict, cal: Calibration, n: int, n_ref: int, budgets, regions: int, pls_s: float,
             timed: bool = False) -> dict:
    """CPU seconds of one benchmark pass (fit + extraction + PLS) of model m over n stimuli."""
    units = m["units"]
    fit_budget, pass_budget = budgets
    fwd_img = (m["cpu_forward_ratio"] * cal.s_fwd_img_r18 if timed and "cpu_forward_ratio" in m
               else m["gflops"] * cal.s_fwd_gflop)
    ref = min(n, n_ref)
    fit_s = (fit_groups(units, PCA_K, ref, fit_budget) * ref * fwd_img
             + fit_flops(units, PCA_K, ref) / 1e9 * cal.s_fit_gflop)
    passes = pass_groups(units, PCA_K, ref, pass_budget)
    fwd_s = CAL_OVERHEAD * passes * n * fwd_img
    proj_s = CAL_OVERHEAD * n * proj_flops(units, PCA_K, ref) / 1e9 * cal.s_proj_gflop
    read_s = bases_bytes(units, PCA_K, ref) / 1e9 / CPU_DISK_GBS
    pls = regions * len(units) * pls_s
    return {"fit_s": fit_s, "fwd_s": fwd_s, "proj_s": proj_s, "read_s": read_s, "pls_s": pls, "passes": passes,
            "total_s": fit_s + fwd_s + proj_s + read_s + pls}


def h100_rates(bf16: bool) -> tuple[float, float]:
    """(forward, projection) FLOP/s on one H100 at batch BATCH."""
    if bf16:  # autocast: convs in bf16; addmm casts the fp32 basis to bf16 on every call (8 B per element)
        fwd = EFF_FWD * H100_BF16_TFLOPS * 1e12
        proj = min(EFF_GEMM * H100_BF16_TFLOPS, BATCH / 4 * EFF_HBM * H100_HBM_TBS) * 1e12
    else:     # fp32: convs on TF32 tensor cores (cuDNN default), addmm on FP32 cores (4 B per basis element)
        fwd = EFF_FWD * H100_TF32_TFLOPS * 1e12
        proj = min(EFF_GEMM * H100_FP32_TFLOPS, BATCH / 2 * EFF_HBM * H100_HBM_TBS) * 1e12
    return fwd, proj


def gpu_pass(m: dict, n: int, n_ref: int, bf16: bool = False) -> dict:
    """H100 seconds (estimate) of one benchmark pass of model m over n stimuli."""
    units = m["units"]
    budget = 0.6 * H100_FREE_GIB * 2**30  # memscore: 0.6 x free GPU memory, for the fit and the bases
    fwd_rate, proj_rate = h100_rates(bf16)
    decode = DECODE_IMG_S * max(WORKERS, 1)
    ref = min(n, n_ref)
    fwd_img = m["gflops"] * 1e9 / fwd_rate
    g_fit = fit_groups(units, PCA_K, ref, budget)
    bb = bases_bytes(units, PCA_K, ref)
    ab = act_bytes(units, PCA_K, ref, n)
    passes = pass_groups(units, PCA_K, ref, budget)
    fwd_s = g_fit * max(ref * fwd_img, ref / decode) + passes * max(n * fwd_img, n / decode)  # reference + data
    math_s = (fit_flops(units, PCA_K, ref) / (EFF_GEMM * H100_FP64_TFLOPS * 1e12)
              + n * proj_flops(units, PCA_K, ref) / proj_rate)
    io_s = (2 * bb + ab) / 1e9 / GPU_DISK_GBS  # bases written by the fit and read back; activations written
    naive = (n * m["gflops"] + n * proj_flops(units, PCA_K, ref) / 1e9) * 1e9 / (BRIEF_TFLOPS * 1e12)
    return {"fwd_s": fwd_s, "math_s": math_s, "io_s": io_s, "passes": passes, "total_s": fwd_s + math_s + io_s,
            "naive_s": naive, "bases_gb": bb / 1e9, "acts_gb": ab / 1e9, "decode_bound": n / decode > n * fwd_img}


def device_pass(m: dict, n: int, n_ref: int, bf16: bool = False, gpu: str = "h200") -> dict:
    """Seconds (estimate) of one benchmark pass with the accelerator's default policy (``pca_bases=auto`` on a GPU):
    the bases are fitted on the device and never written (``Extractor._refit_plan``: a pass group's bases within
    half of 0.6 x free device memory, fitted in reference passes whose activations fit the other half); under
    ``--bf16`` the bases are held in bf16, so the projection reads 2 B per basis element per batch. Only the
    reduced activations go to disk."""
    units = m["units"]
    free, hbm = (H200_FREE_GIB, H200_HBM_TBS) if gpu == "h200" else (H100_FREE_GIB, H100_HBM_TBS)
    budget = 0.6 * free * 2**30
    fwd_rate = EFF_FWD * (H100_BF16_TFLOPS if bf16 else H100_TF32_TFLOPS) * 1e12
    basis_b = 2 if bf16 else 4
    proj_rate = min(EFF_GEMM * (H100_BF16_TFLOPS if bf16 else H100_FP32_TFLOPS),
                    2 * BATCH / basis_b * EFF_HBM * hbm) * 1e12
    decode = DECODE_IMG_S * max(WORKERS, 1)
    ref = min(n, n_ref)
    fwd_img = m["gflops"] * 1e9 / fwd_rate
    groups = n_groups([u * (keep_of(u, PCA_K, ref) + 1) * basis_b if u > PCA_K else 0 for u in units], budget / 2)
    fits = fit_groups(units, PCA_K, ref, budget / 2)
    fwd_s = fits * max(ref * fwd_img, ref / decode) + groups * max(n * fwd_img, n / decode)
    math_s = (fit_flops(units, PCA_K, ref) / (EFF_GEMM * H100_FP64_TFLOPS * 1e12)
              + n * proj_flops(units, PCA_K, ref) / proj_rate)
    io_s = act_bytes(units, PCA_K, ref, n) / 1e9 / GPU_DISK_GBS  # the activations written; no bases
    return {"fwd_s": fwd_s, "math_s": math_s, "io_s": io_s, "passes": groups, "total_s": fwd_s + math_s + io_s}


def device_estimate(m: dict, bf16: bool, gpu: str) -> dict:
    lam, maj, fre = (device_pass(m, n, REF, bf16, gpu) for n in (LAMEM_N, MAJAJ_N, FREEMAN_N))
    return {"lamem_s": lam["total_s"], "neural_s": maj["total_s"] + fre["total_s"], "passes_lamem": lam["passes"],
            "parts_s": {k: lam[k] + maj[k] + fre[k] for k in ("fwd_s", "math_s", "io_s")}}


def estimate(m: dict, cal: Calibration, budgets, bf16: bool = False, timed: bool = False) -> dict:
    lam = cpu_pass(m, cal, LAMEM_N, REF, budgets, 1, PLS_LAMEM_S, timed)
    maj = cpu_pass(m, cal, MAJAJ_N, REF, budgets, 2, PLS_NEURAL_S, timed)
    fre = cpu_pass(m, cal, FREEMAN_N, REF, budgets, 2, PLS_NEURAL_S * FREEMAN_N / MAJAJ_N, timed)
    glam, gmaj, gfre = (gpu_pass(m, n, REF, bf16) for n in (LAMEM_N, MAJAJ_N, FREEMAN_N))
    cpu_parts = {k: sum(p[k] for p in (lam, maj, fre)) / 3600 for k in ("fit_s", "fwd_s", "proj_s", "read_s", "pls_s")}
    gpu_parts = {k: sum(p[k] for p in (glam, gmaj, gfre)) / 3600 for k in ("fwd_s", "math_s", "io_s")}
    return {"cpu_parts_h": cpu_parts, "gpu_parts_h": gpu_parts,
        "proj_gflops": proj_flops(m["units"], PCA_K, REF) / 1e9,
        "cpu_lamem_h": lam["total_s"] / 3600, "cpu_neural_h": (maj["total_s"] + fre["total_s"]) / 3600,
        "cpu_passes_lamem": lam["passes"],
        "gpu_lamem_min": glam["total_s"] / 60, "gpu_neural_min": (gmaj["total_s"] + gfre["total_s"]) / 60,
        "gpu_naive_min": (glam["naive_s"] + gmaj["naive_s"] + gfre["naive_s"]) / 60,
        "gpu_passes_lamem": glam["passes"], "lamem_decode_bound": glam["decode_bound"],
        "disk_gb": sum(p["bases_gb"] + p["acts_gb"] for p in (glam, gmaj, gfre)),
        "gpu_lamem_io_min": glam["io_s"] / 60,
        "bases_gb": glam["bases_gb"],
    }


# ------------------------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "paper_cost.json"), help="per-model cache (JSON)")
    ap.add_argument("--models", help="only these (comma-separated); resnet18 is always measured (calibration)")
    ap.add_argument("--refresh", action="store_true", help="measure every model again")
    ap.add_argument("--timing", action="store_true",
                    help="also time each model's CPU forward against resnet18 and use that ratio instead of FLOPs")
    ap.add_argument("--budget-min", type=float, default=25.0, help="stop building models after this long")
    args = ap.parse_args()

    t_all = time.perf_counter()
    only = sorted({*args.models.split(","), "resnet18"}) if args.models else None
    models, skipped = measure_all(Path(args.out), only, args.refresh, args.timing, args.budget_min * 60)
    if "resnet18" not in models:
        sys.exit("resnet18 could not be measured: it is the calibration model")
    budgets = machine_memory()
    cal = Calibration(models["resnet18"], budgets[0])
    est = {n: estimate(m, cal, budgets, timed=args.timing) for n, m in models.items()}
    est_bf16 = {n: estimate(m, cal, budgets, bf16=True, timed=args.timing) for n, m in models.items()}

    p = print
    p("# Reproduce the paper: cost per model family (estimates)\n")
    p(f"models: {len(models)} measured (random init, own input size)")
    for name, why in skipped:
        p(f"skipped: {name} ({why[:160]})")
    fr, fw = budgets
    p("\n## Calibration (resnet18, this CPU)\n")
    r18 = models["resnet18"]
    p(f"- resnet18 forward: {r18['gflops']:.3f} GFLOPs/image -> {cal.s_fwd_gflop * 1e3:.2f} ms per forward GFLOP "
      f"({1 / cal.s_fwd_gflop:.0f} GFLOP/s; {CAL_FORWARD_S} s / {CAL_IMAGES} images)")
    p(f"- projection at PCA-511 over the 67 modules measured (aliases included): {cal.proj511:.2f} GFLOPs/image -> "
      f"{cal.s_proj_gflop * 1e3:.2f} ms per projection GFLOP ({1 / cal.s_proj_gflop:.0f} GFLOP/s; {CAL_MATMUL_S} s); "
      f"bases {cal.bases511_gb:.1f} GB (README: 16.4 GB)")
    p(f"- resnet18's 52 scored layers today: projection {cal.proj511_scored:.2f} GFLOPs/image at PCA-511, "
      f"{cal.proj1000_scored:.2f} at PCA-1000 (999 kept with 1000 reference images): "
      f"x{cal.proj1000_scored / cal.proj511_scored:.2f}")
    p(f"- PCA fit: {CAL_FIT1000_S:.0f} s on 1000 reference images (docs/neural.md) = {cal.groups[1]} reference passes "
      f"(memscore's fit budget here {fr / 2**30:.1f} GiB) + {cal.fit_gflop_1000:,.0f} float64 GFLOPs "
      f"-> {cal.s_fit_gflop * 1e3:.1f} ms per fit GFLOP ({1 / cal.s_fit_gflop:.0f} GFLOP/s)")
    p(f"- cross-check, PCA fit on 512 references (engine_overhead.py): predicted {cal.fit512_pred:.0f} s, "
      f"measured {CAL_FIT512_S:.0f} s")
    p(f"- cross-check, neural activation pass over 3,200 stimuli: predicted {cal.neural_pass_pred:.0f} s, "
      f"measured {CAL_NEURAL_PASS_S:.0f} s")
    p(f"- extraction budget here: {fw / 2**30:.1f} GiB of bases per forward pass (memscore: max(0.45 x RAM, "
      f"0.75 x available, available taken as {AVAILABLE_FRACTION:.0%} of RAM)); PLS {PLS_LAMEM_S:.2f} s per layer (LaMem), {PLS_NEURAL_S} s per (layer, region) (neural)")

    fams: dict[str, list[str]] = {}
    for n, m in models.items():
        fams.setdefault(m["family"], []).append(n)
    p("\n## Per family (CPU: this 2-core machine; H100: one H100 SXM, estimated)\n")
    head = ("| family | models | GFLOPs | proj. GFLOPs | layers | CPU h / model | CPU h family "
            "| H100 min / model | H100 min family | disk GB / model |")
    p(head)
    p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    tot = {"n": 0, "cpu_l": 0.0, "cpu_n": 0.0, "gpu_l": 0.0, "gpu_n": 0.0, "naive": 0.0, "disk": 0.0, "bf16": 0.0}
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    for fam in sorted(fams, key=lambda f: -sum(est[n]["cpu_lamem_h"] + est[n]["cpu_neural_h"] for n in fams[f])):
        ns = fams[fam]
        cpu = [est[n]["cpu_lamem_h"] + est[n]["cpu_neural_h"] for n in ns]
        gpu = [est[n]["gpu_lamem_min"] + est[n]["gpu_neural_min"] for n in ns]
        p(f"| {fam} | {len(ns)} | {mean([models[n]['gflops'] for n in ns]):.1f} "
          f"| {mean([est[n]['proj_gflops'] for n in ns]):.0f} | {mean([models[n]['layers'] for n in ns]):.0f} "
          f"| {mean(cpu):.1f} | {sum(cpu):.0f} | {mean(gpu):.1f} | {sum(gpu):.0f} "
          f"| {mean([est[n]['disk_gb'] for n in ns]):.0f} |")
        for n in ns:
            e = est[n]
            tot["n"] += 1
            tot["cpu_l"] += e["cpu_lamem_h"]
            tot["cpu_n"] += e["cpu_neural_h"]
            tot["gpu_l"] += e["gpu_lamem_min"] / 60
            tot["gpu_n"] += e["gpu_neural_min"] / 60
            tot["naive"] += e["gpu_naive_min"] / 60
            tot["disk"] += e["disk_gb"]
            tot["bf16"] += (est_bf16[n]["gpu_lamem_min"] + est_bf16[n]["gpu_neural_min"]) / 60
    p(f"| **all** | {tot['n']} | {mean([m['gflops'] for m in models.values()]):.1f} "
      f"| {mean([e['proj_gflops'] for e in est.values()]):.0f} | {mean([m['layers'] for m in models.values()]):.0f} "
      f"| {(tot['cpu_l'] + tot['cpu_n']) / tot['n']:.1f} | {tot['cpu_l'] + tot['cpu_n']:,.0f} "
      f"| {(tot['gpu_l'] + tot['gpu_n']) * 60 / tot['n']:.1f} | {(tot['gpu_l'] + tot['gpu_n']) * 60:,.0f} "
      f"| {tot['disk'] / tot['n']:.0f} |")
    p("\n## Totals\n")
    p(f"- CPU (this 2-core machine): lamem-pls {tot['cpu_l']:,.0f} h + neural-v1/v2/v4/it {tot['cpu_n']:,.0f} h "
      f"= {tot['cpu_l'] + tot['cpu_n']:,.0f} h ({(tot['cpu_l'] + tot['cpu_n']) / 24:,.0f} days)")
    p(f"- one H100 (estimate): lamem-pls {tot['gpu_l']:.1f} h + neural {tot['gpu_n']:.1f} h "
      f"= {tot['gpu_l'] + tot['gpu_n']:.1f} h; with --bf16 {tot['bf16']:.1f} h; the flat "
      f"{BRIEF_TFLOPS:.0f} TFLOP/s figure (400 x 35 %, no I/O, no fit) would give {tot['naive']:.1f} h")
    cp = {k: sum(e["cpu_parts_h"][k] for e in est.values()) for k in ("fit_s", "fwd_s", "proj_s", "read_s", "pls_s")}
    gp = {k: sum(e["gpu_parts_h"][k] for e in est.values()) for k in ("fwd_s", "math_s", "io_s")}
    ct, gt = sum(cp.values()), sum(gp.values())
    p(f"- CPU time goes to: projection {cp['proj_s'] / ct:.0%}, PCA fit {cp['fit_s'] / ct:.0%}, forward "
      f"{cp['fwd_s'] / ct:.0%}, reading bases {cp['read_s'] / ct:.0%}, PLS {cp['pls_s'] / ct:.0%}")
    p(f"- H100 time goes to: disk I/O {gp['io_s'] / gt:.0%} ({gp['io_s']:.1f} h at {GPU_DISK_GBS} GB/s), forward and "
      f"decoding {gp['fwd_s'] / gt:.0%}, projection + fit {gp['math_s'] / gt:.0%}; without I/O "
      f"{gt - gp['io_s']:.1f} h")
    big = max(est, key=lambda n: est[n]["disk_gb"])
    p(f"- disk: {tot['disk'] / 1e3:.1f} TB written in all (PCA bases + activation caches); one model at most "
      f"{est[big]['disk_gb'] / 1e3:.1f} TB ({big}; its LaMem bases alone {est[big]['bases_gb']:.0f} GB)")
    dec = sum(e["lamem_decode_bound"] for e in est.values())
    p(f"- JPEG decoding: {DECODE_IMG_S} img/s per core x {WORKERS} workers = {DECODE_IMG_S * WORKERS:,} img/s bounds "
      f"the LaMem forward of {dec} of {len(est)} models; with --num-workers 0 one pass over LaMem "
      f"takes >= {LAMEM_N / DECODE_IMG_S:.0f} s of decoding")
    cpu_multi = sorted(((e["cpu_passes_lamem"], n) for n, e in est.items()), reverse=True)
    p(f"- forward passes over LaMem on this CPU (bases > {fw / 2**30:.0f} GiB per pass): "
      + ", ".join(f"{n} {k}" for k, n in cpu_multi[:6]) + f"; median {sorted(k for k, _ in cpu_multi)[len(cpu_multi) // 2]}")
    multi = sorted(((e["gpu_passes_lamem"], n) for n, e in est.items() if e["gpu_passes_lamem"] > 1), reverse=True)
    p(f"- forward passes over LaMem on the H100 (bases > {0.6 * H100_FREE_GIB:.0f} GiB): "
      + (", ".join(f"{n} {k}" for k, n in multi[:8]) + (" ..." if len(multi) > 8 else "") if multi else "one each"))
    p("\n## GPU with the bases on the device (pca_bases=auto on a GPU: fitted per layer group, never written)\n")
    for gpu in ("h100", "h200"):
        for bf16 in (False, True):
            dev = {n: device_estimate(m, bf16, gpu) for n, m in models.items()}
            lam_h = sum(d["lamem_s"] for d in dev.values()) / 3600
            neu_h = sum(d["neural_s"] for d in dev.values()) / 3600
            parts = {k: sum(d["parts_s"][k] for d in dev.values()) / 3600 for k in ("fwd_s", "math_s", "io_s")}
            most = max(dev, key=lambda n: dev[n]["passes_lamem"])
            r50 = f"; resnet50 lamem-pls {dev['resnet50']['lamem_s'] / 60:.1f} min" if "resnet50" in dev else ""
            p(f"- one {gpu.upper()}{' --bf16' if bf16 else ''}: lamem-pls {lam_h:.1f} h + neural {neu_h:.1f} h = "
              f"{lam_h + neu_h:.1f} h (forward + decoding {parts['fwd_s']:.1f} h, projection + fit "
              f"{parts['math_s']:.1f} h, activations written {parts['io_s']:.1f} h){r50}; most LaMem passes: "
              f"{most} {dev[most]['passes_lamem']}")
    p(f"\nscript: {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
