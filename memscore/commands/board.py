"""``memscore leaderboard``: the stored scores (or submitted bundles) as a board in text, CSV, JSON or HTML."""
from __future__ import annotations

from pathlib import Path

import click

from .sweep import _split


@click.command("leaderboard")
@click.option("--benchmarks", multiple=True, metavar="NAMES", help="columns: benchmark names or tag:T (default: all)")
@click.option("--models", multiple=True, metavar="NAMES", help="rows: model names or tag:T (default: all)")
@click.option("--tag", help="only models with this registry tag (e.g. harada2023)")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv", "json", "html"]), default="table",
              show_default=True)
@click.option("--out", type=click.Path(path_type=Path),
              help="write here (html: a folder with index.html; others: a file) instead of printing")
@click.option("--from", "bundles", multiple=True, type=click.Path(path_type=Path), metavar="BUNDLE",
              help="read the runs of these result bundles (memscore bundle) instead of the local store; repeatable")
@click.option("--include-store", is_flag=True, help="with --from: add the local store's runs too")
@click.option("--include-smoke", is_flag=True, help="also show smoke runs (--limit)")
@click.option("--title", default="memscore leaderboard", show_default=True)
def leaderboard(benchmarks, models, tag, fmt, out, bundles, include_store, include_smoke, title):
    """One row per model (and weights), one column per benchmark and data set: value ± error (raw beside where
    normalised by a ceiling), the committed or best layer, layers, parameters, ImageNet top-1. A column
    never mixes scores of different data or settings (such runs get columns of their own, said below it)."""
    from ..leaderboard import build_board, write_board

    board = build_board(benchmarks=_split(benchmarks) or None, models=_split(models) or None, tag=tag,
                        store=None if (include_store or not bundles) else False, bundles=bundles, title=title,
                        include_smoke=include_smoke)
    result = write_board(board, fmt, out)
    if fmt == "html":
        click.echo(f"wrote {Path(result).parent} ({len(board['models'])} models, {len(board['benchmarks'])} "
                   f"columns, {len(board['figures'])} figures); open {Path(result).resolve().as_uri()}")
    elif out is not None:
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(result, nl=False)


def register_commands(cli):
    cli.add_command(leaderboard)
