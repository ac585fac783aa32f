"""``memscore bundle`` and ``memscore verify``: carry stored runs to others (a community leaderboard) and
check a bundle someone sent (:mod:`memscore.bundle`). Heavy imports happen inside the commands."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .options import no_progress_option

from .options import data_root_option
from ..errors import MemscoreError, OptionError


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


@click.command()
@click.option("--out", required=True, type=click.Path(path_type=Path), help="the bundle to write (a .zip)")
@click.option("--models", help="only these models (a,b)")
@click.option("--benchmarks", help="only these benchmarks (x,y)")
@click.option("--tag", help="only models with this registry tag (see `memscore list models --tag T`)")
@click.option("--force", is_flag=True, help="replace --out if it exists")
def bundle(out, models, benchmarks, tag, force):
    """Write the stored results (current runs) into one zip to share: the run files, their SHA-256 and a
    manifest with versions, data fingerprints and a command line that reproduces each run."""
    from ..bundle import make_bundle
    from ..store import ResultStore

    want_models, want_benches = _names(models), _names(benchmarks)
    scores = ResultStore().query()
    if want_models:
        scores = [s for s in scores if s.model in want_models]
    if want_benches:
        scores = [s for s in scores if s.benchmark in want_benches]
    if tag:
        from ..api import list_models

        tagged = {e.name for e in list_models(tag)}
        if not tagged:
            raise OptionError(f"--tag {tag}: no model has this tag (`memscore list models --details` shows tags)")
        scores = [s for s in scores if s.model in tagged]
    for m in want_models:
        if not any(s.model == m for s in scores):
            click.echo(f"note: no stored result of model {m} matches; it is not in the bundle", err=True)
    if not scores:
        asked = ", ".join(f"{k} {v}" for k, v in (("--models", models), ("--benchmarks", benchmarks),
                                                  ("--tag", tag)) if v)
        raise MemscoreError(f"no stored results{' for ' + asked if asked else ''}; `memscore results` lists them")
    command = ["memscore", "bundle", "--out", str(out)]
    for flag, value in (("--models", models), ("--benchmarks", benchmarks), ("--tag", tag)):
        command += [flag, value] if value else []
    path = make_bundle(out, scores, command=command + (["--force"] if force else []), force=force)
    n_models, n_benches = len({s.model for s in scores}), len({s.benchmark for s in scores})
    click.echo(f"wrote {path}: {len(scores)} runs ({n_models} models, {n_benches} benchmarks); "
               f"`memscore verify {path}` checks it")


@click.command()
@click.argument("bundles", metavar="BUNDLE...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--rescore", default=0, show_default=True, type=click.IntRange(0),
              help="re-run N randomly chosen runs per bundle (whose data and versions match here) and compare "
                   "their numbers")
@click.option("--seed", default=0, show_default=True, type=int, help="which runs --rescore picks")
@data_root_option
@click.option("--tolerance", default=1e-4, show_default=True, type=click.FloatRange(0),
              help="absolute difference allowed between a bundle's value and the re-scored one")
@click.option("--json", "as_json", is_flag=True, help="the report as JSON (a list of reports for several bundles)")
@no_progress_option
def verify(bundles, rescore, seed, data_roots, tolerance, as_json, no_progress):
    """Check result bundles: each run file's SHA-256, schema, key and internal consistency, versions against
    the plugins installed here, data fingerprints against your data; --rescore N re-runs N runs.
    Exits 1 when a check fails."""
    from ..bundle import BundleError
    from ..verify import verify_bundle

    reports, broken = [], 0
    for b in bundles:
        try:
            reports.append(verify_bundle(b, rescore=rescore, seed=seed, data_roots=data_roots, tolerance=tolerance,
                                         progress=not no_progress and not as_json))
        except BundleError as exc:
            if len(bundles) == 1:
                raise
            click.echo(f"error: {exc}", err=True)  # one unreadable bundle of several: the others are checked
            broken += 1
    if as_json:
        out = [r.to_dict() for r in reports]
        click.echo(json.dumps(out[0] if len(bundles) == 1 else out, indent=1))
    else:
        for i, report in enumerate(reports):
            if i:
                click.echo()
            _print(report)
    if broken or not all(r.ok for r in reports):
        sys.exit(1)


def _print(report) -> None:
    """The checks grouped by run: a heading per run, then one line per check."""
    groups: dict[str, list[dict]] = {}
    for r in report.rows:
        groups.setdefault(r["run"], []).append(r)
    width = max(len(r["check"]) for r in report.rows) if report.rows else 0
    for run, rows in groups.items():
        click.echo(run)
        for r in rows:
            status = "FAIL" if r["status"] == "fail" else r["status"]
            click.echo(f"  {status:<8} {r['check']:<{width}}  {r['detail']}".rstrip())
    c = report.to_dict()["counts"]
    verdict = "ok" if report.ok else "FAILED"
    click.echo(f"\n{report.bundle}: {verdict} — {report.runs} runs, {c['fail']} failed, {c['warn']} warnings, "
               f"{c['skipped']} skipped; {report.rescored} re-scored (tolerance {report.tolerance:g} absolute)")


def register_commands(cli):
    cli.add_command(bundle)
    cli.add_command(verify)
