"""``memscore sweep``: models × benchmarks in one command (inline, local workers or SLURM), and its status."""
from __future__ import annotations

import json
import time
from pathlib import Path

import click

from .options import data_root_option, run_options


def _split(values) -> list[str]:
    return [v.strip() for item in values for v in str(item).split(",") if v.strip()]


@click.group("sweep", invoke_without_command=True)
@click.option("--models", multiple=True, metavar="NAMES",
              help="model names, tag:T (e.g. tag:harada2023) or a file with one name a line; comma-separated or repeated")
@click.option("--benchmarks", multiple=True, metavar="NAMES",
              help="benchmark names or tag:T; comma-separated or repeated (e.g. lamem-pls,neural-it,lamem-it)")
@data_root_option
@run_options
@click.option("--executor", type=click.Choice(["inline", "local", "slurm"]), default="local", show_default=True,
              help="inline: this process; local: --jobs worker processes (one GPU each where there are GPUs); "
                   "slurm: a submitit job array")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(1), help="local: worker processes")
@click.option("--slurm-partition", help="slurm: partition")
@click.option("--slurm-time", default="24:00:00", show_default=True, help="slurm: time limit per job")
@click.option("--slurm-mem", help="slurm: memory per job (e.g. 32G)")
@click.option("--slurm-gpus-per-job", default=0, show_default=True, type=click.IntRange(0), help="slurm: GPUs per job")
@click.option("--slurm-array-parallelism", default=64, show_default=True, type=click.IntRange(1),
              help="slurm: array tasks running at once")
@click.option("--slurm-account", help="slurm: account to charge")
@click.option("--slurm-opt", multiple=True, metavar="KEY=VALUE", help="slurm: any other sbatch option (repeatable)")
@click.option("--no-wait", is_flag=True, help="slurm: submit and return; `memscore sweep status` follows it")
@click.option("--dry-run", is_flag=True, help="print the plan and stop")
@click.option("--json", "as_json", is_flag=True, help="print the final state of every pair as JSON")
@click.pass_context
def sweep(ctx, models, benchmarks, data_roots, weights, model_args, benchmark_args, device, batch_size, num_workers,
          bf16, seed, limit, skip_bad_images, pca_bases, no_progress, executor, jobs, slurm_partition, slurm_time,
          slurm_mem, slurm_gpus_per_job, slurm_array_parallelism, slurm_account, slurm_opt, no_wait, dry_run,
          as_json):
    """Score every model on every benchmark: one job per model (its benchmarks in an order that shares the
    activation pass; neural-it before lamem-it), pairs already stored skipped, run files merged as jobs end.
    Run it again to finish what is missing; `memscore sweep status` shows each pair."""
    if ctx.invoked_subcommand:
        return
    if not models or not benchmarks:
        raise click.UsageError("give --models and --benchmarks (or `memscore sweep status`)")
    from ..options import parse_kv
    from ..sweep import sweep as run

    ex = _executor(executor, jobs, not no_progress, slurm_partition, slurm_time, slurm_mem, slurm_gpus_per_job,
                   slurm_array_parallelism, slurm_account, slurm_opt, no_wait)
    if executor == "slurm" and not dry_run:
        ex.require()  # before the plan reads any data
    report = run(_split(models), _split(benchmarks), weights=weights, model_args=parse_kv(model_args, "--model-args"),
                 benchmark_args=parse_kv(benchmark_args, "--benchmark-args"), data_roots=data_roots, executor=ex,
                 progress=not no_progress and not as_json, dry_run=dry_run,
                 on_plan=lambda s: _print_plan(s, ex, dry_run), device=device, batch_size=batch_size,
                 num_workers=num_workers, bf16=bf16, seed=seed, limit=limit, skip_bad_images=skip_bad_images,
                 pca_bases=pca_bases)
    if dry_run:
        return
    _finish(report.sweep, as_json, submitted=executor == "slurm" and no_wait)


def _executor(name, jobs, progress, partition, time_limit, mem, gpus, parallelism, account, opts, no_wait):
    from ..errors import OptionError
    from ..jobs import InlineExecutor, LocalExecutor, SlurmExecutor

    if name == "inline":
        return InlineExecutor(progress)
    if name == "local":
        return LocalExecutor(jobs)
    extra = {}
    for kv in opts:
        k, sep, v = kv.partition("=")
        if not sep or not k.strip():
            raise OptionError(f"--slurm-opt {kv}: expected KEY=VALUE (e.g. --slurm-opt qos=high)")
        extra[k.strip().lstrip("-").replace("-", "_")] = v.strip()
    return SlurmExecutor(partition=partition, time_limit=time_limit, mem=mem, gpus_per_job=gpus,
                         array_parallelism=parallelism, account=account, extra=extra, wait=not no_wait)


def _print_plan(s, ex, dry_run: bool) -> None:
    from ..sweep import estimate

    c = s.counts()
    todo = [p for p in s.pairs if p.state != "done"]
    models = list(dict.fromkeys(p.model for p in todo))
    click.echo(f"sweep {s.ident}: {len(s.spec.models)} models × {len(s.spec.benchmarks)} benchmarks "
               f"({', '.join(s.spec.benchmarks)}) = {len(s.pairs)} pairs; {c['done']} stored, "
               f"{len(todo)} to run ({c['failed']} failed before, {c['running']} running) in {len(models)} "
               f"job(s) [{ex.name}]", err=True)
    if todo:
        secs, known = estimate(s)
        if known:
            click.echo(f"estimated {_duration(secs)} of compute for the {known} of {len(todo)} pairs run before "
                       f"(their earlier wall time){'' if known == len(todo) else '; the others unknown'}", err=True)
        show = todo if dry_run else todo[:20]
        total = 0.0
        for p in show:
            click.echo(f"  {p.state:<8} {p.model}  {p.benchmark}", err=True)
            if dry_run:  # what each pair would compute, write, hold and take here (nothing runs)
                for e in _estimates(s, p):
                    total += e["seconds"]["total_s"]
                    click.echo(f"           {e['line']}; ~{_duration(e['seconds']['total_s'])} here", err=True)
        if dry_run and total:
            click.echo(f"estimated {_duration(total)} in all on this machine (calibrated now: a timed forward and "
                       f"matrix product per pair; pairs that share activations cost less)", err=True)
        if len(todo) > len(show):
            click.echo(f"  … and {len(todo) - len(show)} more (--dry-run lists them all)", err=True)
    click.echo(f"folder: {s.folder}" + (" (not created: a dry run writes nothing)" if dry_run else ""), err=True)


def _estimates(s, pair) -> list[dict]:
    """``memscore score --dry-run``'s estimates of one pair of the sweep (none where the benchmark gives none)."""
    from ..api import dry_run
    from ..errors import MemscoreError

    spec = s.spec
    try:
        return dry_run(pair.model, pair.benchmark, weights=spec.weights, model_args=spec.model_args,
                       benchmark_args=spec.benchmark_args.get(pair.benchmark),
                       options=spec.run_options(pair.benchmark))["estimates"]
    except MemscoreError as exc:
        click.echo(f"           (no estimate: {exc})", err=True)
        return []


def _duration(secs: float) -> str:
    if secs < 120:
        return f"{secs:.0f} s"
    if secs < 7200:
        return f"{secs / 60:.0f} min"
    return f"{secs / 3600:.1f} h"


def _finish(s, as_json: bool, submitted: bool = False) -> None:
    if as_json:
        click.echo(json.dumps(s.to_dict(), indent=1))
    else:
        _print_pairs(s, only_problems=True)
    c = s.counts()
    if submitted:
        click.echo(f"submitted; `memscore sweep status {s.ident}` follows it", err=True)
        return
    click.echo(f"sweep {s.ident}: {c['done']} done, {c['failed']} failed, {c['running']} running, "
               f"{c['pending']} pending", err=True)
    if c["failed"] or c["pending"]:
        raise SystemExit(1)


def _print_pairs(s, only_problems: bool = False) -> None:
    rows = [p for p in s.pairs if not only_problems or p.state in ("failed", "pending")]
    for p in rows:
        line = f"{p.state:<8} {p.model:<28} {p.benchmark:<16}"
        if p.detail:
            line += f" {p.detail}"
        if p.log and p.state in ("failed", "running"):
            line += f"  (log: {p.log})"
        click.echo(line)


@sweep.command("status")
@click.argument("sweep_id", required=False)
@click.option("--all", "all_", is_flag=True, help="list every sweep of this MEMSCORE_HOME")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(sweep_id, all_, as_json):
    """Each pair of the sweep SWEEP_ID (default: the last one): done, running, failed (with its log) or
    pending. Run files that finished jobs wrote are merged into the store here."""
    from ..store import ResultStore
    from ..sweep import Sweep, SweepError, find_sweep, sweeps_dir

    store = ResultStore()
    if all_:
        out = []
        for folder in sorted(sweeps_dir().glob("*/sweep.json"), key=lambda p: p.stat().st_mtime):
            try:
                s = Sweep.load(folder.parent)
            except SweepError as exc:  # one damaged sweep.json never hides the other sweeps
                out.append({"sweep": folder.parent.name, "created": folder.stat().st_mtime, "damaged": str(exc)})
                continue
            s.refresh(store, collect=store.writable)
            out.append({"sweep": s.ident, "models": len(s.spec.models), "benchmarks": s.spec.benchmarks,
                        "created": folder.stat().st_mtime, "counts": s.counts()})
        if as_json:
            click.echo(json.dumps(out, indent=1))
            return
        for r in out:
            if "damaged" in r:
                click.echo(f"{r['sweep']}  {time.strftime('%Y-%m-%d %H:%M', time.localtime(r['created']))}  "
                           f"damaged: {r['damaged']}")
                continue
            c = r["counts"]
            click.echo(f"{r['sweep']}  {time.strftime('%Y-%m-%d %H:%M', time.localtime(r['created']))}  "
                       f"{r['models']} models × {','.join(r['benchmarks'])}: {c['done']} done, {c['running']} running, "
                       f"{c['failed']} failed, {c['pending']} pending")
        return
    s = find_sweep(sweep_id)
    s.refresh(store, collect=store.writable)
    if as_json:
        click.echo(json.dumps(s.to_dict(), indent=1))
        return
    c = s.counts()
    click.echo(f"sweep {s.ident} ({Path(s.folder)}): {c['done']} done, {c['running']} running, "
               f"{c['failed']} failed, {c['pending']} pending")
    _print_pairs(s)


def register_commands(cli):
    cli.add_command(sweep)
