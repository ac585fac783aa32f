"""``memscore check-plugin``: a plugin checked against the contract (:mod:`memscore.testing`), what a pull
request's CI runs."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import MemscoreError
from .common import _known
from ..testing import KIT_MODEL
from .options import data_root_option

@click.command("check-plugin")
@click.argument("name")
@data_root_option
@click.option("--other-data-root", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="other data of the same format: the run key must change")
@click.option("--model", "model_name", default=KIT_MODEL, show_default=True,
              help="the model the benchmark checks score (random init)")
@click.option("--example", multiple=True, help="a name to check in a prefix family (e.g. --example timm:resnet18)")
@click.option("--limit", type=click.IntRange(1), help="stimuli for the benchmark run")
@click.option("--benchmark-args", default="", help="k=v,k=v for the benchmark checks")
@click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(0, min_open=True),
              metavar="SECONDS", help="time limit of each call of a model's or benchmark's factory")
def check_plugin(name, data_roots, other_data_root, model_name, example, limit, benchmark_args, timeout):
    """Check plugin NAME (or one model or benchmark NAME) against memscore's plugin contract
    (memscore.testing): what a pull request's CI runs. Exits 1 when a check fails or nothing could be checked."""
    from ..dataroots import parse_data_roots
    from ..options import parse_kv
    from ..pluginmanager import get_plugins
    from ..testing import CheckFailed, check_benchmark, check_metric, check_model

    default_root, named_roots = parse_data_roots(data_roots)
    plugins = get_plugins()
    reg = plugins.registry
    models, benches, metrics = list(example), [], []
    skipped: list[str] = []  # why a registered name is not checked
    clashes: list[str] = []  # the names of this plugin that another plugin registers too
    plugin_error = ""  # a plugin that loaded but whose registration went wrong (a name conflict, a hook that raised)
    if name in plugins.info:
        info = plugins.info[name]
        if info.error and not info.registered:
            raise MemscoreError(f"plugin {name!r} did not load: {info.error}")
        plugin_error = info.error
        for n in info.registered.get("models", []):
            entry = reg._entries["model"].get(n)
            if entry is not None and entry.available and n not in reg.conflicts["model"]:
                models.append(n)
            elif n in reg._prefixes["model"] and n not in reg._entries["model"]:
                if not example:
                    click.echo(f"skip   model family {n}:<name> (pass --example {n}:<name> to check one)")
            else:
                why = reg.conflicts["model"].get(n) or (entry.reason if entry is not None else "") or "unavailable"
                skipped.append(f"model {n}: {why}")
                clashes += [why] if n in reg.conflicts["model"] else []
                click.echo(f"skip   model {n}: {why}")
        for n in info.registered.get("benchmarks", []):
            if _known(reg, "benchmark", n) and reg.get("benchmark", n)[0].available:
                benches.append(n)
            else:
                entry = reg._entries["benchmark"].get(n)
                why = reg.conflicts["benchmark"].get(n) or (entry.reason if entry is not None else "") or "unavailable"
                skipped.append(f"benchmark {n}: {why}")
                clashes += [why] if n in reg.conflicts["benchmark"] else []
                click.echo(f"skip   benchmark {n}: {why}")
        metrics = [n for n in info.registered.get("metrics", []) if _known(reg, "metric", n)
                   and reg.get("metric", n)[0].available and n not in reg.conflicts["metric"]]
        if not models and not benches and not metrics:
            if info.error:
                raise MemscoreError(f"plugin {name!r}: nothing was checked; {info.error}")
            if skipped:
                raise MemscoreError(f"plugin {name!r}: nothing was checked; {skipped[0]}")
            if not info.registered.get("models"):
                raise MemscoreError(f"plugin {name!r}: nothing was checked: it registers no model or benchmark "
                                    f"(its hooks register_models / register_benchmarks register nothing)")
            raise MemscoreError(f"plugin {name!r}: nothing was checked: it registers only model families; pass "
                                f"--example <family>:<name> to check one")
    else:
        kinds = [k for k in ("model", "benchmark", "metric") if _known(reg, k, name)]
        if not kinds:
            raise MemscoreError(f"{name!r} is neither an installed plugin nor a model, benchmark or metric name "
                                f"(`memscore plugins` lists the plugins)")
        models += [name] if "model" in kinds else []
        benches += [name] if "benchmark" in kinds else []
        metrics += [name] if "metric" in kinds else []
    failed = 0
    for n in models:
        failed += _check_one(f"model {n}", lambda n=n: check_model(n, timeout=timeout), CheckFailed)
    for n in benches:
        hit = named_roots.get(n)
        failed += _check_one(f"benchmark {n}", lambda n=n, root=(hit[1] if hit else default_root): check_benchmark(
            n, data_root=root, other_data_root=other_data_root, model=model_name, limit=limit,
            benchmark_args=parse_kv(benchmark_args), timeout=timeout), CheckFailed)
    for n in metrics:
        failed += _check_one(f"metric {n}", lambda n=n: check_metric(n), CheckFailed)
    checked = len(models) + len(benches) + len(metrics)
    plugin_error = plugin_error or (clashes[0] if clashes else "")
    if plugin_error:  # a name clash fails whichever plugin loaded first
        raise MemscoreError(f"plugin {name!r}: {plugin_error} ({checked - failed} checked entries passed, "
                            f"{failed} failed)")
    if failed:
        raise MemscoreError(f"{failed} of {checked} checked plugin entries failed (see above)")
    left = f"; {len(skipped)} registered entries could not be checked (see above)" if skipped else ""
    click.echo(f"all {checked} checked entries meet the contract{left}")


def _check_one(label: str, fn, failure) -> int:
    try:
        passed = fn()
    except failure as exc:
        click.echo(f"FAIL   {label}")
        for line in str(exc).splitlines()[1:]:
            click.echo(f"         {line.strip()}")
        return 1
    except MemscoreError as exc:  # the entry cannot even be looked up or resolved (a bad factory string)
        click.echo(f"FAIL   {label}")
        click.echo(f"         {exc}")
        return 1
    click.echo(f"ok     {label} ({len(passed)} checks)")
    return 0


def register_commands(cli):
    cli.add_command(check_plugin)
