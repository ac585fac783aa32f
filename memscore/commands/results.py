"""``memscore results`` (the stored scores in a table, JSON, CSV or Markdown) and ``memscore collect`` (run
files from elsewhere merged into the store, each checked on the way in)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .common import _f, _table, _when

@click.command()
@click.option("--model", "-m", help="only this model")
@click.option("--benchmark", "-b", help="only this benchmark")
@click.option("--history", is_flag=True, help="include superseded (--force) results")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "markdown"]), default="table",
              show_default=True)
@click.option("--items", "with_items", is_flag=True, help="json: also each run's per-item outputs (large)")
def results(model, benchmark, history, fmt, with_items):
    """List stored scores, each with its bootstrap CI (`memscore compare` tells two apart)."""
    from ..store import ResultStore

    store = ResultStore()
    scores = store.query(model, benchmark, all_versions=history)
    if fmt == "json":
        docs = [s.to_dict() for s in scores]
        for s, d in zip(scores, docs):
            d.pop("items", None)
            if with_items and s.items:  # a neural run's are read from its run file (the index keeps a stub)
                d["items"] = store.items_of(s).to_dict()
        click.echo(json.dumps(docs, indent=1))
        return

    def data_short(meta) -> str:  # the first 10 hex digits of the data fingerprint ('' for older rows)
        data = meta.get("data") if isinstance(meta, dict) else None
        fp = data.get("fingerprint") if isinstance(data, dict) else None
        return fp[:10] if isinstance(fp, str) else ""

    def ci(s) -> str:
        return f"[{_f(s.ci[0])}, {_f(s.ci[1])}]" if s.ci else ""

    header = ["model", "benchmark", "version", "value", "error", "95% CI", "layer", "weights", "data", "created"]
    rows = [(s.model, s.benchmark, s.benchmark_version, _f(s.value), _f(s.error), ci(s), s.meta.get("layer", ""),
             s.meta.get("weights", ""), data_short(s.meta), _when(s.meta.get("created"))) for s in scores]
    if fmt == "csv":
        from ..safetext import write_csv

        write_csv(sys.stdout, [header, *rows])
    elif fmt == "markdown":
        from ..safetext import md_cell

        click.echo("| " + " | ".join(header) + " |")
        click.echo("|" + "---|" * len(header))
        for r in rows:
            click.echo("| " + " | ".join(md_cell(c) for c in r) + " |")
    else:
        _table(header, rows)


@click.command()
@click.argument("folders", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--rebuild", is_flag=True,
              help="rebuild the results database from the run files in $MEMSCORE_HOME/runs (the old database "
                   "is moved aside, never deleted); then merge FOLDERS, if given")
def collect(folders, rebuild):
    """Merge per-run JSON result files (e.g. from cluster jobs) into the results database."""
    from ..store import ResultStore

    skipped = []

    def on_skip(path, why):
        skipped.append(path)
        click.echo(f"skipped {path}: {why}", err=True)

    store = ResultStore()
    if rebuild:
        report = store.rebuild(on_skip=on_skip)
        if report["moved_to"] is not None:
            click.echo(f"moved the old database aside to {report['moved_to']}")
        salvaged = f" (wrote {report['salvaged']} run files for rows only the old database held)" \
            if report["salvaged"] else ""
        click.echo(f"rebuilt {store.db_path}: {report['added']} runs from {report['seen']} run files, "
                   f"{len(skipped)} skipped{salvaged}")
        if not folders:
            return
        skipped.clear()
    added, seen = store.collect(list(folders) or None, on_skip=on_skip)
    click.echo(f"{added} new of {seen} run files, {len(skipped)} skipped")


def register_commands(cli):
    cli.add_command(results)
    cli.add_command(collect)
