"""The options every scoring command shares (``memscore score``, ``memscore sweep``), declared once."""
from __future__ import annotations

import click


def no_progress(asked: bool) -> bool:
    """Whether to show no progress bars: when asked, and when stderr is a file or pipe (a SLURM log, CI): there a
    bar's redraws become hundreds of lines around a dozen of content. MEMSCORE_PROGRESS=1 keeps them."""
    import os
    import sys

    return bool(asked) or not (sys.stderr.isatty() or os.environ.get("MEMSCORE_PROGRESS") == "1")


def batch_size(value):
    """``--batch-size N`` (N ≥ 1) or ``auto``."""
    if str(value).strip().lower() == "auto":
        return "auto"
    try:
        n = int(str(value))
    except ValueError:
        n = 0
    if n < 1:
        raise click.BadParameter(f"{value!r}: give a whole number ≥ 1, or auto")
    return n


#: ``--no-progress`` for any command (plugin commands too), with that rule
no_progress_option = click.option("--no-progress", is_flag=True, callback=lambda ctx, param, v: no_progress(v),
                                  help="no progress bars (none either when stderr is not a terminal, unless "
                                       "MEMSCORE_PROGRESS=1)")

_RUN_OPTIONS = [
    click.option("--weights", default="default", show_default=True, help="none | default | PATH to a checkpoint"),
    click.option("--model-args", default="", help="k=v,k=v passed to the model factory"),
    click.option("--benchmark-args", default="", help="k=v,k=v passed to the benchmark (e.g. splits=1,3)"),
    click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N"),
    click.option("--batch-size", default="64", show_default=True, callback=lambda ctx, param, v: batch_size(v),
                 help="images per forward, or auto: the largest that fits this device's memory (an out-of-memory "
                      "error halves it and retries the batch)"),
    click.option("--num-workers", default=0, show_default=True, type=click.IntRange(0), help="DataLoader workers"),
    click.option("--bf16", is_flag=True,
                 help="bf16 autocast of the forward pass and the PCA projections (CUDA; keys the result and the caches)"),
    click.option("--seed", default=0, show_default=True, type=int),
    click.option("--limit", type=click.IntRange(1), help="use only the first N stimuli (smoke runs)"),
    click.option("--skip-bad-images", is_flag=True,
                 help="drop undecodable images (listed in the score) instead of stopping"),
    click.option("--pca-bases", type=click.Choice(["auto", "disk", "refit"]), default="auto", show_default=True,
                 help="keep fitted PCA bases on disk, or refit them each run (auto: refit when the disk cannot hold them)"),
    no_progress_option,
]



def run_options(fn):
    """Add the shared run options (weights, model/benchmark args, device, batch size, ...) to a command."""
    for opt in reversed(_RUN_OPTIONS):
        fn = opt(fn)
    return fn


def data_root_option(fn):
    """``--data-root [NAME=]PATH``, repeatable: one shape on every command (:mod:`memscore.dataroots`)."""
    return click.option(
        "--data-root", "data_roots", multiple=True, metavar="[NAME=]PATH",
        help="data folder (default: $MEMSCORE_HOME/data/<name>); NAME=PATH for one data set or benchmark "
             "(e.g. lamem=/data/lamem, majajhong2015=/data/brainio); repeatable")(fn)
