"""The ``memscore`` command line (click). Heavy imports happen inside commands, so listing is fast."""
from __future__ import annotations

import json
import sys

import click

from . import __version__
from .commands.common import _f, _table
from .commands.options import data_root_option, run_options
from .errors import MemscoreError

KIND_CHOICES = ["models", "benchmarks", "metrics", "datasets"]


class _Group(click.Group):
    """Turns a MemscoreError into one line on stderr and its exit code."""

    def invoke(self, ctx):
        _names_survive_output()
        try:
            return super().invoke(ctx)
        except MemscoreError as exc:
            from .safetext import printable

            click.echo(f"error: {printable(exc)}", err=True)  # a name in the line cannot drive the terminal
            ctx.exit(exc.exit_code)


def _names_survive_output() -> None:
    """A file name that is not UTF-8 (a data root, an image) reaches Python as lone surrogates; printing it
    to a strict UTF-8 stream (the usual locale, PYTHONIOENCODING=utf-8) would end the command in a traceback.
    stdout writes such a name as its own bytes (as a C/POSIX-locale Python does); stderr escapes it."""
    for stream, errors in ((sys.stdout, "surrogateescape"), (sys.stderr, "backslashreplace")):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors=errors)
            except (ValueError, OSError):  # a stream that cannot change: leave it
                pass


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="memscore")
def main():
    """Score vision models layer by layer on image memorability (LaMem) and macaque V1/V2/V4/IT."""


# ---------------------------------------------------------------------------------------------
@main.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def plugins(as_json):
    """Installed plugins: version, what each registers, load errors."""
    from .pluginmanager import get_plugins

    infos = list(get_plugins().info.values())
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], indent=1))
        return
    for i in infos:
        status = click.style("error: " + i.error, fg="red") if i.error else "ok"
        if i.slow:
            status += " — " + click.style(f"slow import: {i.load_s:.1f} s", fg="yellow")
        click.echo(f"{i.name} {i.version} ({i.module}) — {status}")
        for kind, names in i.registered.items():
            click.echo(f"    {kind}: {', '.join(names)}")


@main.command("list")
@click.argument("kind", type=click.Choice(KIND_CHOICES))
@click.option("--tag", help="only entries with this tag")
@click.option("--json", "as_json", is_flag=True, help="list of objects (name, description, plugin, tags, available)")
@click.option("--details", is_flag=True,
              help="models: also source, parameters, scoreable layers, penultimate layer, ImageNet top-1 "
                   "(built once without weights, then cached); benchmarks/metrics/datasets: their declared arguments")
def list_(kind, tag, as_json, details):
    """List registered models, benchmarks, metrics or data sets (constructs nothing)."""
    from .pluginmanager import registry

    entries = registry().entries(kind[:-1], tag)
    if details and kind != "models":
        rows = [{**e.to_dict(), "arguments": _declared(e)} for e in entries]
        if as_json:
            click.echo(json.dumps(rows, indent=1, default=str))
            return
        for r in rows:
            click.echo(f"{r['name']}  (plugin {r['plugin']}, version {r['version']}) {r['description']}")
            for a in r["arguments"]:
                click.echo(f"    {a['name']:<22} default {a['default']!s:<12} {a['valid']}: {a['help']}")
        return
    if details and kind == "models":
        from .modelinfo import details_rows, format_params

        rows = details_rows(entries, progress=not as_json)
        if as_json:
            click.echo(json.dumps(rows, indent=1, default=str))
            return
        _table(["name", "source", "available", "params", "layers", "penultimate", "top1"],
               [(r["name"], r.get("source") or "", "yes" if r.get("available") else "no",
                 format_params(r.get("params")), _f(r.get("layers")), r.get("penultimate") or "",
                 _f(r.get("imagenet_top1"))) for r in rows])
        return
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in entries], indent=1))
        return
    rows = [(e.name + (":<name>" if e.prefix else ""), e.plugin, ",".join(e.tags),
             "yes" if e.available else "no", e.description if e.available else f"({e.reason}) {e.description}")
            for e in entries]
    if kind == "benchmarks":  # a benchmark's version keys its stored runs: shown beside its name
        rows = [(r[0], _bench_version(e), *r[1:]) for r, e in zip(rows, entries)]
        _table(["name", "version", "plugin", "tags", "available", "description"], rows)
        return
    _table(["name", "plugin", "tags", "available", "description"], rows)


def _bench_version(entry) -> str:
    """The version a benchmark's runs are keyed under (its class's ``version``; imports its module)."""
    if entry.available:
        try:
            return str(getattr(entry.resolve(), "version", "") or entry.version)
        except Exception:  # noqa: BLE001 - listing never fails on one plugin
            pass
    return entry.version or "-"


def _declared(entry) -> list[dict]:
    """The declared arguments of an entry's factory (imports its module), minus the fixed ones."""
    if not entry.available:
        return []
    try:
        declared = getattr(entry.resolve(), "arguments", ()) or ()
    except Exception:  # noqa: BLE001 - listing never fails on one plugin
        return []
    return [a.to_dict() for a in declared if a.name not in entry.params]


# ---------------------------------------------------------------------------------------------
@main.command("layers")
@click.argument("model_name", metavar="MODEL")
@click.option("--weights", default=None,
              help="none | default | PATH (default: none, which downloads nothing: the layers are the "
                   "architecture's; a fine-tuned model always runs with its own local weights)")
@click.option("--model-args", default="", help="k=v,k=v passed to the model factory")
@click.option("--image-size", type=click.IntRange(8, 4096), help="input size (default: the model's own)")
@click.option("--min-units", default=24, show_default=True, type=click.IntRange(1),
              help="layers with fewer output units are not scored")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def layers(model_name, weights, model_args, image_size, min_units, as_json):
    """The layers a layer-by-layer benchmark scores on MODEL: canonical layers in forward order with units,
    shape, relative depth and aliases (modules handing on a layer's output unmodified, never scored apart),
    then the excluded ones (< --min-units units). One dry forward pass; check it before a long run."""
    from .api import load_model
    from .options import parse_kv
    from .pluginmanager import registry
    from .weights import local_default

    if weights is None:  # a fine-tuned model has no random-init form of its own: its local file is loaded
        weights = "default" if local_default(registry().get("model", model_name)[0].meta) else "none"
    m = load_model(model_name, weights=weights, **parse_kv(model_args, "--model-args"))
    info = m.layer_info(image_size)
    canon = m.canonical_info(image_size)
    try:
        penultimate = m.penultimate_layer
    except (IndexError, ValueError):
        penultimate = None

    def row(li) -> dict:
        return {"name": li.name, "units": li.units, "shape": list(li.shape), "depth": li.depth,
                "calls": li.calls, "aliases": list(li.aliases)}

    scored = [row(li) for li in canon if li.units >= min_units]
    excluded = [row(li) for li in canon if li.units < min_units]
    size = image_size or m.preprocessing.crop_size
    counts = {"layers": len(scored), "excluded": len(excluded), "aliases": len(info) - len(canon)}
    if as_json:
        click.echo(json.dumps({"model": model_name, "weights": m.weights, "image_size": size,
                               "min_units": min_units, "penultimate": penultimate, "counts": counts,
                               "layers": scored, "excluded": excluded}, indent=1))
        return
    click.echo(f"{model_name} at {size} px: {counts['layers']} layers scored (>= {min_units} units), "
               f"{counts['excluded']} excluded, {counts['aliases']} aliases (not scored apart); "
               f"penultimate {penultimate or '-'}")

    def cells(r) -> list:
        return [f"{r['depth']:.3f}", r["name"], r["units"], "x".join(map(str, r["shape"])), ", ".join(r["aliases"])]

    _table(["depth", "layer", "units", "shape", "aliases"], [cells(r) for r in scored])
    if excluded:
        click.echo(f"\nexcluded (< {min_units} units):")
        _table(["depth", "layer", "units", "shape", "aliases"], [cells(r) for r in excluded])


# ---------------------------------------------------------------------------------------------
@main.command()
@click.option("--model", "-m", required=True, help="model name (see `memscore list models`)")
@click.option("--benchmark", "-b", required=True, help="benchmark name (see `memscore list benchmarks`)")
@data_root_option
@run_options
@click.option("--data-name", help="what boards call this run's data set (default: its folder's name); never keyed")
@click.option("--dry-run", is_flag=True, help="print what the run would compute, write, hold and take here, and stop")
@click.option("--force", is_flag=True, help="recompute even if a stored score exists (the old one stays as history)")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def score(model, benchmark, weights, model_args, benchmark_args, data_roots, device, batch_size, num_workers,
          bf16, seed, limit, skip_bad_images, pca_bases, data_name, dry_run, force, no_progress, fmt):
    """Score MODEL on BENCHMARK (stored; a finished run is returned from the store)."""
    from .api import score as run_score
    from .benchmark import RunOptions
    from .options import parse_kv

    from .dataroots import parse_data_roots

    data_root, named = parse_data_roots(data_roots)
    opts = RunOptions(device=device, batch_size=batch_size, seed=seed, limit=limit, data_root=data_root,
                      data_roots=named, num_workers=num_workers, bf16=bf16, skip_bad_images=skip_bad_images,
                      pca_bases=pca_bases, progress=not no_progress, data_name=data_name)
    if dry_run:
        from .api import dry_run as estimate

        report = estimate(model, benchmark, weights=weights, model_args=parse_kv(model_args, "--model-args"),
                          benchmark_args=parse_kv(benchmark_args, "--benchmark-args"), options=opts)
        click.echo(json.dumps(report, indent=1, default=str) if fmt == "json" else _dry_run_text(report))
        return
    result = run_score(model, benchmark, weights=weights, model_args=parse_kv(model_args, "--model-args"),
                       benchmark_args=parse_kv(benchmark_args, "--benchmark-args"), options=opts, force=force)
    results = result if isinstance(result, list) else [result]  # a fan-out argument (metric=pls,rsa): one each
    if fmt == "json":
        click.echo(results[0].to_json() if len(results) == 1 else "[" + ",".join(r.to_json() for r in results) + "]")
        return
    for result in results:
        _print_score(result)


def _dry_run_text(report: dict) -> str:
    lines = [f"{report['model']} on {report['benchmark']}: run key {report['key'][:12]}"
             + (" (stored: a run would return it)" if report["stored"] else " (not stored: it would run)")]
    for e in report["estimates"]:
        s = e["seconds"]
        lines.append(f"  {e['stimuli']}: {e['line']}")
        lines.append(f"    estimated {s['total_s']:.0f} s here (forward {s['forward_s']:.0f} s, PCA {s['pca_s']:.0f} s; "
                     f"{s['how']}); disk {e['disk_bytes_h']}, memory {e['memory_bytes_h']}")
    if not report["estimates"]:
        lines.append("  (this benchmark gives no cost estimate)")
    return "\n".join(lines)


def _print_score(result) -> None:
    if result.meta.get("from_store"):
        click.echo("(stored result; --force recomputes)", err=True)
    click.echo(result.summary())
    if result.layers:
        best = result.meta.get("layer") or result.best_layer
        _table(["layer", "value", "error"],
               [((r["layer"] + (" *" if r["layer"] == best else "")), _f(r.get("value")), _f(r.get("error")))
                for r in result.layers])
    elif result.splits:
        cols = [c for c in ("split", "value", "val_rho", "best_epoch", "epochs_run", "time_s", "model")
                if any(c in r for r in result.splits)]
        _table(cols, [[_f(r.get(c)) for c in cols] for r in result.splits])


def _add_plugin_commands() -> None:
    """Commands that plugins contribute through the ``register_commands`` hook (``analyze``, ``predict``, a
    third party's own). A plugin whose hook fails, or that would replace an existing command, is reported by
    ``memscore plugins`` and skipped; the other commands work."""
    from .pluginmanager import get_plugins

    plugins = get_plugins()
    for impl in plugins.pm.hook.register_commands.get_hookimpls():
        before = dict(main.commands)
        info = plugins.info.get(impl.plugin_name)
        try:
            impl.function(cli=main)
        except Exception as exc:  # noqa: BLE001 - one broken plugin never takes the CLI down
            main.commands.clear()
            main.commands.update(before)
            if info is not None:
                info.error = "; ".join(filter(None, [info.error, f"register_commands: {type(exc).__name__}: {exc}"]))
            continue
        clashes = [n for n in before if main.commands.get(n) is not before[n]]
        if clashes:
            main.commands.clear()
            main.commands.update(before)
            if info is not None:
                info.error = "; ".join(filter(None, [info.error, f"command {clashes[0]!r} already exists; not replaced"]))
            continue
        if info is not None:
            info.registered.setdefault("commands", []).extend(n for n in main.commands if n not in before)



# the core's own commands, registered as a plugin's are (each module's register_commands)
from .commands import register_core_commands  # noqa: E402

register_core_commands(main)
_add_plugin_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
