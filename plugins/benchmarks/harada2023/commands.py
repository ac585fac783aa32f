"""`memscore analyze`: memorability vs brain similarity from the stored scores (no torch imported)."""
from __future__ import annotations

import json
from pathlib import Path

import click


def _models(values: tuple[str, ...]) -> list[str] | None:
    out = [m.strip() for v in values for m in v.split(",") if m.strip()]
    return out or None


def _common(f):
    f = click.option("--models", "-m", multiple=True, help="only these models (repeat, or comma-separate)")(f)
    f = click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("memscore-analysis"),
                     show_default=True, help="folder for the CSV, JSON and PNG files")(f)
    f = click.option("--value", type=click.Choice(["ceiled", "raw"]), default="ceiled", show_default=True,
                     help="region similarity: the ceiled score (r²/ceiling) or the raw Pearson r")(f)
    f = click.option("--memorability", default="lamem-pls", show_default=True,
                     help="the memorability benchmark (lamem-pls; lamem-finetune / lamem-it for `models`)")(f)
    f = click.option("--no-plots", is_flag=True, help="write CSV and JSON only")(f)
    f = click.option("--json", "as_json", is_flag=True, help="print the result as JSON")(f)
    return f


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    click.echo(f"{'panel':<12} {'rho':>7} {'paper':>7} {'n':>8} {'models':>7}  p")
    for name, p in result["panels"].items():
        rho = "" if p["rho"] is None else f"{p['rho']:.3f}"
        paper = "" if p["paper_rho"] is None else f"{p['paper_rho']:.2f}"
        pv = "" if p["p"] is None else f"{p['p']:.2g}"
        click.echo(f"{name:<12} {rho:>7} {paper:>7} {p['n']:>8} {p['models']:>7}  {pv}")
    click.echo("wrote " + ", ".join(result["files"]))


@click.group()
def analyze():
    """Relate memorability to brain similarity (Harada & Sakai 2023, Figs. 2-4) from stored scores."""


@analyze.command("layers")
@_common
def layers(models, out, value, memorability, no_plots, as_json):
    """Spearman rho over all layers: memorability accuracy vs V1/V2/V4/IT similarity (Fig. 2)."""
    from memscore_plugins.benchmarks.harada2023.analysis import analyze_layers

    result = analyze_layers(out=out, models=_models(models), value="raw" if value == "raw" else "value",
                            memorability=memorability, plots=not no_plots)
    _print(result, as_json)


@analyze.command("models")
@_common
@click.option("--region", default="IT", show_default=True, type=click.Choice(["V1", "V2", "V4", "IT"],
                                                                             case_sensitive=False))
def models_(models, out, value, memorability, no_plots, as_json, region):
    """Across models: memorability vs IT similarity at the penultimate and at the best layer (Figs. 3, 4)."""
    from memscore_plugins.benchmarks.harada2023.analysis import analyze_models

    result = analyze_models(out=out, models=_models(models), value="raw" if value == "raw" else "value",
                            memorability=memorability, region=region, plots=not no_plots)
    _print(result, as_json)
