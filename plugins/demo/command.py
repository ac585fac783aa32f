"""`memscore demo`: build small synthetic data sets (no download), sweep three random-init models over
lamem-pls, neural-v1, neural-it and lamem-it, write the leaderboard and the Fig. 2 analysis, and say where
to look.

Everything lives under ``--out``: the data (``data/``), a store of its own (``home/``, used as
$MEMSCORE_HOME for the run, so the user's store and cache are never touched), ``leaderboard/`` and
``figures/``. A second run reuses the data and the stored scores (it computes nothing). A non-empty folder
without the marker file ``memscore-demo.json`` is refused: the demo never writes into a user's folder.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path

import click

from memscore.blas import blas_threads
from memscore.commands.options import no_progress_option

MARKER = "memscore-demo.json"
LOCK = ".memscore-demo.lock"  # held while a demo runs in the folder: a second demo there waits for it
MODELS = ("torchvision:resnet18", "torchvision:alexnet", "cornet-z")  # small, and all run at 64 px
BENCHMARKS = ("lamem-pls", "neural-v1", "neural-it", "lamem-it")  # Fig. 2 draws the regions swept: V1, IT
N_IMAGES = 240
#: small enough for ~1 min on 2 CPU cores; the planted signal is still recovered (lamem-pls rho ~0.95)
BENCHMARK_ARGS = {"image_size": 64, "pca": 24, "n_components": 6, "reference_size": 32, "splits": "1,2,3",
                  "folds": 4}
PLANTER = "torchvision:resnet18"  # the neural sites read out its (random-init, seed 0) layers


TITLE = "memscore demo — synthetic data, random-init models"
NEXT_MODEL = "torchvision:squeezenet1_1"  # not in the demo's sweep, small, runs at 64 px


def next_commands(home: Path, lamem: Path, manifest: Path, model: str = NEXT_MODEL) -> list[str]:
    """The ``memscore score`` commands that score ``model`` on the demo's data as the sweep scored its models
    (each data set by name: ``lamem=`` and the manifest's identifier), in the demo's own store."""
    import shlex

    from memscore_plugins.benchmarks.neural.data import manifest_identifier

    lamem_args = {k: BENCHMARK_ARGS[k] for k in ("image_size", "pca", "n_components", "reference_size", "splits")}
    neural_args = {k: BENCHMARK_ARGS[k] for k in ("image_size", "pca", "n_components", "reference_size", "folds")}
    kv = lambda d: ",".join(f"{k}={v}" for k, v in d.items())  # noqa: E731
    roots = {"lamem-pls": [f"lamem={lamem}"], "neural-it": [f"{manifest_identifier(manifest)}={manifest}"]}
    roots["lamem-it"] = roots["lamem-pls"] + roots["neural-it"]
    args = {"lamem-pls": kv(lamem_args), "neural-it": kv(neural_args),
            "lamem-it": kv({**lamem_args, **{f"neural_{k}": v for k, v in neural_args.items()}})}
    out = []
    for bench in ("lamem-pls", "neural-it", "lamem-it"):
        argv = ["memscore", "score", "-m", model, "-b", bench, "--weights", "none", "--device", "cpu",
                *[a for r in roots[bench] for a in ("--data-root", r)], "--benchmark-args", args[bench]]
        out.append(f"MEMSCORE_HOME={shlex.quote(str(home))} {shlex.join(argv)}")
    return out


class _Clock:
    """One line per step, with the time since the demo started."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def step(self, msg: str) -> None:
        click.echo(f"[{time.perf_counter() - self.t0:6.1f} s] {msg}")


def _check_out(out: Path) -> None:
    from memscore.errors import OptionError

    if out.exists() and not out.is_dir():
        raise OptionError(f"--out {out}: is a file; give a new folder (or a previous demo folder)")
    if out.is_dir() and any(p.name != LOCK for p in out.iterdir()) and not (out / MARKER).is_file():
        raise OptionError(f"--out {out}: folder is not empty and is not a memscore demo folder (no {MARKER}); "
                          f"give a new or empty folder")


def _demo_lock(out: Path):
    """One demo at a time in ``out``: a second one waits (saying once for whom) and then reuses what the
    first built and stored. The lock dies with its process (``kill -9`` included)."""
    from memscore.locks import file_lock

    return file_lock(out / LOCK, f"the memscore demo in {out}")


@contextlib.contextmanager
def _own_home(home: Path):
    """$MEMSCORE_HOME = ``home`` (and no other store or cache) for the demo, restored afterwards: sweep jobs
    run in this process and set MEMSCORE_STORE=files, which must not outlive them."""
    names = ("MEMSCORE_HOME", "MEMSCORE_CACHE", "MEMSCORE_STORE")
    saved = {k: os.environ.get(k) for k in names}
    for k in names:
        os.environ.pop(k, None)
    os.environ["MEMSCORE_HOME"] = str(home)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _build(final: Path, build) -> bool:
    """Build into a temporary sibling and rename, so an interrupted build is never taken for a finished one.
    Returns False when ``final`` already exists (reused)."""
    if final.is_dir():
        return False
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    build(tmp)
    tmp.rename(final)
    return True


def _build_neural(root: Path) -> None:
    from memscore.api import load_model

    from .synthetic import build_neural

    build_neural(root, load_model(PLANTER, weights="none"), n_objects=8, per_object=16, n_sites=12, size=64)
    shutil.rmtree(root / ".fixture-cache", ignore_errors=True)  # the planter's activations, not part of the data


def _summary(sweep, store) -> None:
    """The sweep's scores: one row per model, and the layer each model committed to IT (lamem-it's layer)."""
    benches = sweep.spec.benchmarks
    click.echo(f"  {'model':<24}" + "".join(f"{b:>11}" for b in benches) + "   IT layer")
    for m in sweep.spec.models:
        got = {p.benchmark: store.get(p.key) for p in sweep.pairs if p.model == m}
        cells = "".join(f"{got[b].value:>11.3f}" if got.get(b) else f"{'-':>11}" for b in benches)
        it = got.get("neural-it")
        click.echo(f"  {m:<24}{cells}   {(it.meta.get('layer') if it else None) or '-'}")


@click.command("demo")
@click.option("--out", type=click.Path(path_type=Path), default=Path("memscore-demo"), show_default=True,
              help="folder for the data, the demo's own result store, the leaderboard and the figures")
@click.option("--models", default=",".join(MODELS), show_default=True,
              help="comma-separated models (random init; they must run at 64x64 px)")
@no_progress_option
def demo(out, models, no_progress):
    """Try memscore in about a minute, with no download: builds a small LaMem-format data set and a small
    BrainIO neural data set with planted signal, scores three random-init models on lamem-pls, neural-v1,
    neural-it and lamem-it, and writes the leaderboard and the memorability-vs-IT figure (Fig. 2 of Harada & Sakai 2023)."""
    out = out.expanduser().resolve()
    _check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    with _demo_lock(out):
        _check_out(out)  # again: what was there may have changed while another demo held the folder
        _demo(out, models, no_progress)


def _demo(out: Path, models: str, no_progress: bool) -> None:
    from memscore.errors import MemscoreError

    clock = _Clock()
    names = [m.strip() for m in models.split(",") if m.strip()]
    marker = {"what": "memscore demo", "models": names, "benchmarks": list(BENCHMARKS),
              "benchmark_args": BENCHMARK_ARGS, "n_images": N_IMAGES}
    (out / MARKER).write_text(json.dumps(marker, indent=1))
    home, lamem, neural = out / "home", out / "data" / "lamem", out / "data" / "neural"
    clock.step(f"memscore demo in {out} (its own store: MEMSCORE_HOME={home}; yours is not touched)")

    with _own_home(home):
        from memscore.api import load_model

        from .synthetic import build_lamem_readout

        clock.step(f"LaMem-format data set, {N_IMAGES} images; memorability planted as a readout of {PLANTER}'s "
                   f"late layer (random init), as the IT sites are: {lamem}")
        if not _build(lamem, lambda p: build_lamem_readout(p, load_model(PLANTER, weights="none"), N_IMAGES)):
            clock.step("  already there, reused")
        clock.step(f"BrainIO neural data set (V1/IT sites read out from {PLANTER}, random init): {neural}")
        if not _build(neural, _build_neural):
            clock.step("  already there, reused")

        from memscore.store import ResultStore
        from memscore.sweep import sweep

        def on_plan(s):
            c = s.counts()
            todo = len(s.pairs) - c["done"]
            clock.step(f"sweep {s.ident}: {len(s.spec.models)} models x {len(s.spec.benchmarks)} benchmarks = "
                       f"{len(s.pairs)} pairs; {c['done']} stored, {todo} to run")

        with blas_threads(1):  # OpenBLAS + torch threads oversubscribe 2 cores: same numbers, half the time
            report = sweep(names, BENCHMARKS, weights="none",
                           benchmark_args={**BENCHMARK_ARGS, "dataset": str(neural / "neural.json")},
                           data_roots={"lamem-pls": str(lamem), "lamem-it": str(lamem)}, executor="inline",
                           progress=not no_progress, on_plan=on_plan, device="cpu")
        os.environ.pop("MEMSCORE_STORE", None)  # set by the sweep's in-process jobs; the steps below read the db
        st = ResultStore()
        if not report.ok:
            bad = [f"{p.model} on {p.benchmark}: {p.detail or p.state}"
                   for p in report.sweep.pairs if p.state != "done"]
            raise MemscoreError(f"demo: {len(bad)} pair(s) did not finish ({bad[0]}); see "
                                f"`MEMSCORE_HOME={home} memscore sweep status`")
        clock.step("sweep done" + ("" if report.ran else " (nothing to run: every pair was stored)"))
        _summary(report.sweep, st)

        from memscore.leaderboard import build_board, write_board

        board = build_board(benchmarks=list(BENCHMARKS), title=TITLE)
        board["banner"] = ("synthetic data: planted memorability and synthetic neural sites, random-init models; "
                           "no number here says anything about real models or the paper")
        board["notes"].insert(0, board["banner"])
        index = Path(write_board(board, "html", out / "leaderboard"))
        clock.step(f"leaderboard: {index}")

        from memscore_plugins.benchmarks.harada2023.analysis import analyze_figures

        figs = analyze_figures(out=out / "figures", figures=["fig2"])
        rhos = {r: p.get("rho") for r, p in figs["figures"]["fig2"]["panels"].items() if p.get("n")}
        said = ", ".join(f"{r} {'-' if v is None else f'{v:.2f}'}" for r, v in rhos.items())
        clock.step(f"figures: {out / 'figures'} ({sum(f.endswith('.png') for f in figs['files'])} PNG; Fig. 2 rho "
                   f"over layers: {said}). Synthetic data: memorability and the IT sites are read out from the "
                   f"same late layer, so IT's rho is positive (as the paper's 0.82) by construction; it says "
                   f"nothing about real models")

    click.echo("")
    click.echo(f"open the leaderboard:  {index.resolve().as_uri()}")
    click.echo(f"the figures:           {out / 'figures'}  (fig2.json: rho per panel)")
    click.echo("score one more model on the demo's data (it goes into the demo's store, not yours):")
    for line in next_commands(home, lamem, neural / "neural.json"):
        click.echo(f"  {line}")
    click.echo("look further:")
    click.echo(f"  MEMSCORE_HOME={home} memscore results")
    click.echo(f"  MEMSCORE_HOME={home} memscore sweep status")
    click.echo(f"  MEMSCORE_HOME={home} memscore analyze layers --out {out / 'analysis'}")
