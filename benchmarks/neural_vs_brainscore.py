"""memscore's neural scoring against brainscore_vision's, on the same features and the same assembly.

The work, identical for both tools: the raw neural predictivity of K layers of a model (default 8, spread
evenly over depth) for every region of a MajajHong-sized synthetic BrainIO assembly (3,200 stimuli,
10 repetitions, one 70-170 ms time bin, V1 102 / V2 103 / V4 88 / IT 168 sites: ``build()`` of
``benchmarks/neural_speed.py``), plus each region's split-half ceiling.

* **memscore** (this interpreter, the project venv): the code path of the ``neural-*`` benchmarks —
  ``memscore_plugins.benchmarks.neural.data.load_region`` for the data, then
  ``neural_predictivity.splits`` + the ``neural-pls`` metric (PLS-25, 10 stratified 90/10 splits, Pearson per
  site, median, mean) per layer and ``neural_predictivity.ceiling`` per region.
* **brainscore_vision** (a subprocess under ``--brainscore-python``, default ``/tmp/bsvenv/bin/python``,
  because brainscore_vision pins numpy 1.26): the same ``assy.nc`` read with BrainIO's ``AssemblyLoader``
  into a ``NeuronRecordingAssembly``, the time bins averaged as its benchmarks do (MajajHong: squeeze the
  one bin; several bins: mean over those inside the window, as FreemanZiemba), ``sel(region=...)``,
  ``average_repetition`` for the target; ``load_metric('pls', crossvalidation_kwargs=
  dict(stratification_coord='object_name'))(source, target)`` per layer with the features wrapped in a
  ``NeuroidAssembly`` as ``tests/neural_fixture.py:brainscore_assembly`` does, and
  ``load_ceiling('internal_consistency')(target_with_repetitions)`` (Spearman-Brown) per region. Run with
  ``BS_INSTALL_DEPENDENCIES=no`` (no pip from plugin imports) and tqdm off.

Features: per-layer stimulus × feature float32 matrices, read from memscore's activation cache
(``<workdir>/home/cache/activations/<key>/<layer>.npy``, PCA-reduced to <= 1000 dims, rows in
``stimulus_id`` order) as left by ``python benchmarks/neural_speed.py --workdir <workdir>``; the layer order
comes from that run's stored ``neural-*`` score. Without that cache (or with ``--features random``) the
chosen layers get random features of the same shapes (the model's layer sizes, PCA-capped as the engine
caps them) carrying a planted linear signal (the top 32 principal components of the averaged responses);
the JSON says which (``features.source``). Random features are written as .npy under
``<workdir>/nvb-features``; cached ones are handed over by path.

Timing: only the metric calls (``metric_s``, per (layer, region), including building the splits) and the
ceiling calls (``ceiling_s``) are timed, with the features already in memory on both sides; data loading,
repetition averaging and wrapping the features into assemblies are reported apart (``prep_s_untimed``) and
not in the ratio. Before timing, each side makes one untimed warm-up call of its metric and its ceiling on a small
problem (80 stimuli spread over all objects, 30 features), so lazy imports and first-call costs are not
counted (``warmup_s_untimed``). The two sides run one after the other, never at once.
``estimate_all_layers`` extrapolates the per-layer mean metric time to all the model's scoreable layers
(plus the ceilings once per region): an ESTIMATE, not a measurement.

Full comparison (the project venv runs memscore and launches brainscore_vision itself)::

    cd /work/main
    .venv/bin/python benchmarks/neural_speed.py --workdir /tmp/nvs-3200          # once: data + cache
    .venv/bin/python benchmarks/neural_vs_brainscore.py --workdir /tmp/nvs-3200 \\
        --layers 8 --brainscore-python /tmp/bsvenv/bin/python --out /tmp/nvs-3200/vs-brainscore.json

Without the activation cache (random features, same shapes; builds the data set when missing)::

    .venv/bin/python benchmarks/neural_vs_brainscore.py --workdir /tmp/nvs-3200 --features random

Smoke run::

    nice -n 19 .venv/bin/python benchmarks/neural_vs_brainscore.py --workdir /tmp/nvb-work --stimuli 400 \\
        --layers 2 --features random

Prints one JSON object (also written to ``--out``): the layers, per-side seconds, the ratios
brainscore/memscore, every (layer, region) raw score and error of both tools, both ceilings, and the
largest absolute differences (``agree``: all within ``--tolerance``, default 0.01).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SITES = {"V1": 102, "V2": 103, "V4": 88, "IT": 168}  # as benchmarks/neural_speed.py
PCA_DIMS = 1000  # the neural-* benchmarks' default pca / reference_size
DEFAULT_BS_PYTHON = os.environ.get("MEMSCORE_BRAINSCORE_PYTHON", "/tmp/bsvenv/bin/python")


def _r(x, nd=6):
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


def _g(x):
    """A difference, to 3 significant digits (not rounded to 0)."""
    return None if x is None or not np.isfinite(x) else float(f"{float(x):.3g}")


def warmup_rows(n: int, k: int = 80) -> np.ndarray:
    """Rows of a small untimed warm-up problem, spread over all stimuli (hence over all strata)."""
    return np.unique(np.linspace(0, n - 1, min(k, n)).round().astype(int))


def spread(n_total: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``0..n_total-1`` (first and last included)."""
    if k >= n_total:
        return list(range(n_total))
    if k == 1:
        return [n_total - 1]
    return sorted({int(round(i)) for i in np.linspace(0, n_total - 1, k)})


# =============================================================================================
# brainscore_vision side (runs under --brainscore-python; imports neither memscore nor torch)
# =============================================================================================
def brainscore_worker(job_path: str) -> None:
    os.environ.setdefault("BS_INSTALL_DEPENDENCIES", "no")  # plugin imports must not pip-install
    os.environ.setdefault("TQDM_DISABLE", "1")
    import warnings

    warnings.filterwarnings("ignore")
    job = json.loads(Path(job_path).read_text())
    t_prep = time.perf_counter()
    import brainscore_vision
    from brainscore_core.supported_data_standards.brainio.assemblies import (AssemblyLoader, NeuroidAssembly,
                                                                            NeuronRecordingAssembly)
    from brainscore_vision.benchmark_helpers.neural_common import average_repetition

    strat = job["stratification"]
    load_metric = lambda: brainscore_vision.load_metric(  # noqa: E731 - as the MajajHong benchmarks
        "pls", crossvalidation_kwargs=dict(stratification_coord=strat) if strat else {})
    load_metric()  # import the plugins outside the timers
    brainscore_vision.load_ceiling("internal_consistency")

    full = AssemblyLoader(NeuronRecordingAssembly, job["assembly"]).load()
    if "time_bin" in full.dims and full.sizes["time_bin"] == 1:
        full = full.squeeze("time_bin")  # MajajHong2015's load_assembly
    elif "time_bin" in full.dims:  # FreemanZiemba2013's: mean over the bins inside the window
        lo, hi = job["time_window"]
        inside = [(s, e) for s, e in full["time_bin"].values if s >= lo and e <= hi]
        full = full.sel(time_bin=inside).mean(dim="time_bin", keep_attrs=True)
    full.load()
    ids = np.array(job["stimulus_ids"])
    feats = {name: np.array(np.load(path, mmap_mode="r")) for name, path in job["features"].items()}
    prep_s = time.perf_counter() - t_prep

    out = {"regions": {}, "scores": []}
    metric_s = ceiling_s = 0.0
    warm = None
    for region in job["regions"]:
        t = time.perf_counter()
        target_reps = full.sel(region=region)
        if "neuroid" not in target_reps.dims:  # a 2-level MultiIndex collapses; FreemanZiemba's workaround
            target_reps = target_reps.stack(neuroid=["neuroid_id"])
        target_reps["region"] = "neuroid", [region] * len(target_reps["neuroid"])
        target_reps = target_reps.transpose("presentation", "neuroid")
        target = average_repetition(target_reps)
        tgt_ids = target["stimulus_id"].values
        if list(tgt_ids) != list(ids):
            raise SystemExit(f"brainscore side: {region} target stimulus order differs from the features' rows")
        strata = target[strat].values if strat else None
        sources = {}
        for name, X in feats.items():
            coords = {"stimulus_id": ("presentation", ids),
                      "neuroid_id": ("neuroid", np.array([f"f{i}" for i in range(X.shape[1])])),
                      "layer": ("neuroid", np.array([name] * X.shape[1]))}
            if strat:
                coords[strat] = ("presentation", strata)
            sources[name] = NeuroidAssembly(X, dims=["presentation", "neuroid"], coords=coords)
        prep_s += time.perf_counter() - t
        if warm is None:  # untimed warm-up of both calls on a small problem (first-call costs)
            rows = warmup_rows(len(ids))
            warm = time.perf_counter()
            brainscore_vision.load_ceiling("internal_consistency")(
                target_reps.isel(presentation=np.isin(target_reps["stimulus_id"].values, ids[rows])))
            src = next(iter(sources.values()))
            load_metric()(src.isel(presentation=rows, neuroid=slice(0, 30)), target.isel(presentation=rows))
            out["warmup_s"] = warm = time.perf_counter() - warm

        t = time.perf_counter()
        ceil = brainscore_vision.load_ceiling("internal_consistency")(target_reps)
        c_s = time.perf_counter() - t
        ceiling_s += c_s
        m_total = 0.0
        for name, source in sources.items():
            metric = load_metric()
            t = time.perf_counter()
            raw = metric(source, target)
            m_s = time.perf_counter() - t
            m_total += m_s
            out["scores"].append({"layer": name, "region": region, "raw": float(raw),
                                  "error": float(raw.attrs["error"]), "s": m_s})
        metric_s += m_total
        out["regions"][region] = {"ceiling": float(ceil), "ceiling_error": float(ceil.attrs.get("error", np.nan)),
                                  "sites": int(target.sizes["neuroid"]), "ceiling_s": c_s, "metric_s": m_total}
    try:
        from threadpoolctl import threadpool_info
        blas = [{k: i.get(k) for k in ("internal_api", "num_threads")} for i in threadpool_info()]
    except Exception:  # noqa: BLE001 - informational only
        blas = None
    from importlib.metadata import version

    out.update({"metric_s": metric_s, "ceiling_s": ceiling_s, "prep_s": prep_s, "python": sys.executable,
                "brainscore_vision": version("brainscore_vision"), "numpy": np.__version__,
                "sklearn": version("scikit-learn"), "blas": blas})
    Path(job["result"]).write_text(json.dumps(out))


# =============================================================================================
# memscore side
# =============================================================================================
def find_cache(home: Path, model: str, n: int):
    """The activation folder of ``model`` over ``n`` stimuli and the stored layer order, or (None, None)."""
    best = None
    for meta_path in (home / "cache" / "activations").glob("*/meta.json"):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("stimuli") != n or meta.get("model") != model or meta.get("bad"):
            continue
        files = len(list(meta_path.parent.glob("*.npy")))
        key = (files, meta_path.stat().st_mtime)
        if best is None or key > best[0]:
            best = (key, meta_path.parent)
    if best is None or not (home / "results.sqlite").exists():
        return None, None
    from memscore.store import ResultStore

    folder = best[1]
    from memscore.cache import fname as _fname

    for s in reversed(ResultStore(home).query(model=model)):
        if not s.benchmark.startswith("neural-") or len(s.meta.get("skipped_images") or []):
            continue
        layers = [(r["layer"], r["dims"]) for r in s.layers]
        if all((folder / f"{_fname(name)}.npy").exists() for name, _ in layers):
            return folder, layers
    return None, None


def model_layers(model_name: str, n: int) -> list[tuple[str, int]]:
    """The model's scoreable layers and the dims the engine would store (PCA <= 1000, < reference size)."""
    from memscore.api import load_model
    from memscore.model import MIN_UNITS

    model = load_model(model_name, weights="none")
    n_ref = min(PCA_DIMS, n)
    return [(li.name, int(min(li.units, PCA_DIMS, n_ref - 1)) if li.units > PCA_DIMS else int(li.units))
            for li in model.canonical_info() if li.units >= MIN_UNITS]  # aliases are no layers


def planted_features(responses: np.ndarray, dims: int, depth: float, seed: int) -> np.ndarray:
    """Random float32 features (stimuli × dims) = a linear map of the responses' top 32 PCs + noise."""
    z = responses - responses.mean(0)
    z /= z.std(0) + 1e-12
    u, s, _ = np.linalg.svd(z, full_matrices=False)
    k = min(32, len(s))
    latent = u[:, :k] * s[:k] / np.sqrt(len(z))
    rng = np.random.default_rng(seed)
    signal = latent @ rng.normal(size=(k, dims)) * (0.5 + 1.5 * depth)
    return (signal + rng.normal(size=signal.shape)).astype(np.float32)



def run_worker(python: str, script: Path, job_dir: Path, result: Path) -> tuple[dict, float]:
    """Run ``script --brainscore-worker job_dir/job.json`` under the brainscore_vision interpreter ``python``
    (no pip from plugin imports, tqdm off); its JSON result and the wall time. RuntimeError when it fails."""
    env = {**os.environ, "BS_INSTALL_DEPENDENCIES": "no", "TQDM_DISABLE": "1"}
    t = time.perf_counter()
    proc = subprocess.run([python, str(Path(script).resolve()), "--brainscore-worker", str(job_dir / "job.json")],
                          env=env, cwd=str(job_dir), capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0 or not result.exists():
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise RuntimeError(f"the brainscore_vision side failed (rc {proc.returncode}) under {python}")
    return json.loads(result.read_text()), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default="/tmp/memscore-neural-vs-brainscore",
                    help="neural_speed.py's --workdir (data in data/, cache in home/)")
    ap.add_argument("--stimuli", type=int, default=3200)
    ap.add_argument("--image-px", type=int, default=256, help="as neural_speed.py, when the data set is built")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--model", default="torchvision:resnet18")
    ap.add_argument("--layers", type=int, default=8, help="how many layers, spread evenly over depth (0: all)")
    ap.add_argument("--layer-names", help="comma-separated layer names instead of --layers")
    ap.add_argument("--regions", default=",".join(SITES))
    ap.add_argument("--features", choices=("auto", "cache", "random"), default="auto",
                    help="auto: memscore's activation cache when present, else random with planted signal")
    ap.add_argument("--brainscore-python", default=DEFAULT_BS_PYTHON)
    ap.add_argument("--splits", type=int, default=10)
    ap.add_argument("--n-components", type=int, default=25)
    ap.add_argument("--tolerance", type=float, default=0.01)
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--brainscore-worker", metavar="JOB", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.brainscore_worker:
        return brainscore_worker(args.brainscore_worker)

    work = Path(args.workdir).resolve()
    home = work / "home"
    os.environ["MEMSCORE_HOME"] = str(home)
    regions = [r.strip().upper() for r in args.regions.split(",") if r.strip()]
    t0 = time.perf_counter()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT / "tests"))
    from neural_speed import build

    manifest = build(work / "data", args.stimuli, args.image_px, args.reps)
    spec = json.loads(manifest.read_text())

    import torch

    from memscore_plugins.benchmarks.neural.data import load_region
    import memscore
    from memscore.metrics import Fold, summarize
    from memscore_plugins.metrics.neural import predictivity as npred

    neural_pls = memscore.load_metric("neural-pls", n_components=args.n_components)  # the metric contract

    data = {r: load_region(r, dataset=str(manifest)) for r in regions}
    first = data[regions[0]]
    ids = list(first.stimuli.ids)
    n = len(ids)
    for r, d in data.items():
        if list(d.stimuli.ids) != ids or (~np.isfinite(d.responses)).any():
            raise SystemExit(f"{r}: stimuli differ from {regions[0]}'s or responses have NaN (not supported here)")

    folder, all_layers = (None, None) if args.features == "random" else find_cache(home, args.model, n)
    if folder is None and args.features == "cache":
        raise SystemExit(f"no activation cache of {args.model} over {n} stimuli (with a stored neural-* score) "
                         f"under {home}: run  python benchmarks/neural_speed.py --stimuli {n} --workdir {work}")
    if folder is None:
        all_layers = model_layers(args.model, n)
    names = [name for name, _ in all_layers]
    if args.layer_names:
        chosen = [s.strip() for s in args.layer_names.split(",") if s.strip()]
        unknown = [c for c in chosen if c not in names]
        if unknown:
            raise SystemExit(f"unknown layers {unknown}; the model has {names}")
    else:
        chosen = [names[i] for i in spread(len(names), args.layers or len(names))]
    dims = dict(all_layers)

    feat_paths: dict[str, str] = {}
    if folder is not None:
        from memscore.cache import fname as _fname

        for name in chosen:
            feat_paths[name] = str(folder / f"{_fname(name)}.npy")
        source = {"source": "memscore activation cache", "folder": str(folder)}
    else:
        fdir = work / "nvb-features"
        fdir.mkdir(parents=True, exist_ok=True)
        allY = np.concatenate([data[r].responses for r in regions], axis=1)
        for name in chosen:
            i = names.index(name)
            X = planted_features(allY, dims[name], i / max(len(names) - 1, 1), seed=1000 + i)
            p = fdir / f"{n}-{i:03d}.npy"
            np.save(p, X)
            feat_paths[name] = str(p)
        source = {"source": "random features with a planted linear signal (no activation cache used)",
                  "folder": str(fdir)}
    feats = {name: np.array(np.load(p, mmap_mode="r")) for name, p in feat_paths.items()}
    for name, X in feats.items():
        if X.shape[0] != n:
            raise SystemExit(f"{name}: {X.shape[0]} feature rows for {n} stimuli")
    prep_s = time.perf_counter() - t0

    # ---- memscore (timed, after an untimed warm-up on a small problem: first-call costs) ----
    t = time.perf_counter()
    wrows = warmup_rows(n)
    keep = np.isin(first.trial_stimulus, wrows)
    npred.ceiling(first.trials[keep], first.trial_stimulus[keep], first.trial_repetition[keep], n_splits=args.splits)
    neural_pls(feats[chosen[0]][wrows, :30], first.responses[wrows],
               [Fold(tr, te) for tr, te in npred.splits(len(wrows), None if first.strata is None else
                                                         first.strata[wrows], n_splits=args.splits)])
    m_warm = time.perf_counter() - t
    ms = {"regions": {}, "scores": {}}
    m_metric = m_ceiling = 0.0
    for r in regions:
        d = data[r]
        t = time.perf_counter()
        ceil = npred.ceiling(d.trials, d.trial_stimulus, d.trial_repetition, n_splits=args.splits)
        c_s = time.perf_counter() - t
        t = time.perf_counter()
        cv = [Fold(tr, te) for tr, te in npred.splits(n, d.strata, n_splits=args.splits)]
        m_total = time.perf_counter() - t
        for name in chosen:
            t = time.perf_counter()
            res = summarize(neural_pls(feats[name], d.responses, cv))
            m_s = time.perf_counter() - t
            m_total += m_s
            ms["scores"][(name, r)] = {"raw": res.value, "error": res.error, "s": m_s}
        m_metric += m_total
        m_ceiling += c_s
        ms["regions"][r] = {"ceiling": ceil.value, "ceiling_error": ceil.error, "ceiling_s": c_s,
                            "metric_s": m_total, "sites": int(d.responses.shape[1])}

    # ---- brainscore_vision (a separate interpreter, after memscore has finished) ----
    job_dir = work / "nvb-job"
    job_dir.mkdir(parents=True, exist_ok=True)
    job = {"assembly": str((manifest.parent / spec["assembly"]).resolve()), "time_window": spec["time_window"],
           "stratification": spec.get("stratification"), "regions": regions, "stimulus_ids": ids,
           "features": feat_paths, "result": str(job_dir / "brainscore-result.json")}
    (job_dir / "job.json").write_text(json.dumps(job))
    Path(job["result"]).unlink(missing_ok=True)
    try:
        bs, bs_wall = run_worker(args.brainscore_python, Path(__file__), job_dir, Path(job["result"]))
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None

    # ---- compare ----
    rows = []
    for b in bs["scores"]:
        m = ms["scores"][(b["layer"], b["region"])]
        rows.append({"layer": b["layer"], "region": b["region"], "memscore_raw": _r(m["raw"]),
                     "brainscore_raw": _r(b["raw"]), "raw_diff": _g(abs(m["raw"] - b["raw"])),
                     "memscore_error": _r(m["error"]), "brainscore_error": _r(b["error"]),
                     "memscore_s": _r(m["s"], 3), "brainscore_s": _r(b["s"], 3)})
    ceilings = {r: {"memscore": _r(ms["regions"][r]["ceiling"]), "brainscore": _r(bs["regions"][r]["ceiling"]),
                    "diff": _g(abs(ms["regions"][r]["ceiling"] - bs["regions"][r]["ceiling"])),
                    "memscore_s": _r(ms["regions"][r]["ceiling_s"], 3),
                    "brainscore_s": _r(bs["regions"][r]["ceiling_s"], 3)} for r in regions}
    diff = {"raw": max(r["raw_diff"] for r in rows),
            "error": _g(max(abs(ms["scores"][(b["layer"], b["region"])]["error"] - b["error"])
                            for b in bs["scores"])),
            "ceiling": max(c["diff"] for c in ceilings.values())}
    k = len(chosen)
    n_all = len(names)
    est = {"note": (f"ESTIMATE, not measured: per-layer mean metric time over the {k} layers measured "
                    f"x {n_all} layers x {len(regions)} regions, plus the ceilings once per region"),
           "layers_total": n_all,
           "brainscore_s": round(bs["metric_s"] / k * n_all + bs["ceiling_s"], 1),
           "memscore_s": round(m_metric / k * n_all + m_ceiling, 1)}
    ms_total, bs_total = m_metric + m_ceiling, bs["metric_s"] + bs["ceiling_s"]
    result = {
        "model": args.model, "stimuli": n, "reps": args.reps,
        "regions": {r: ms["regions"][r]["sites"] for r in regions},
        "splits": args.splits, "n_components": args.n_components, "workdir": str(work),
        "features": {**source, "dims": {c: int(feats[c].shape[1]) for c in chosen}},
        "layers": chosen, "layers_total": n_all,
        "memscore": {"metric_s": round(m_metric, 3), "ceiling_s": round(m_ceiling, 3), "total_s": round(ms_total, 3),
                     "python": sys.executable, "numpy": np.__version__, "torch": torch.__version__,
                     "torch_threads": torch.get_num_threads(), "prep_s_untimed": round(prep_s, 2),
                     "warmup_s_untimed": round(m_warm, 2)},
        "brainscore": {"metric_s": round(bs["metric_s"], 3), "ceiling_s": round(bs["ceiling_s"], 3),
                       "total_s": round(bs_total, 3), "python": bs["python"],
                       "brainscore_vision": bs["brainscore_vision"], "numpy": bs["numpy"], "sklearn": bs["sklearn"],
                       "blas": bs["blas"], "prep_s_untimed": round(bs["prep_s"], 2),
                       "warmup_s_untimed": round(bs.get("warmup_s", 0.0), 2),
                       "subprocess_wall_s": round(bs_wall, 2)},
        "ratio_brainscore_over_memscore": {
            "metric": _r(bs["metric_s"] / m_metric, 2), "ceiling": _r(bs["ceiling_s"] / m_ceiling, 2),
            "total": _r(bs_total / ms_total, 2)},
        "max_abs_diff": diff, "agree": bool(max(diff.values()) <= args.tolerance), "tolerance": args.tolerance,
        "estimate_all_layers": est,
        "scores": rows, "ceilings": ceilings,
    }
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
