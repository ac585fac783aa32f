"""`memscore analyze`: memorability vs brain similarity from the stored scores (no torch imported, no model run).

    memscore analyze figures [--paper] [--out DIR] [--only fig2,fig3,...]   all of the paper's figures
                             [--memorability NAME]                         Fig. 2 with another memorability set
    memscore analyze layers  [--paper] [--out DIR] [--no-profiles]          Fig. 2 + per-model depth profiles
    memscore analyze models  [--out DIR] [--region IT]                      memorability vs IT across models
    memscore analyze agreement [--region IT] [--metrics pls,rsa,...]        Fig. 2 under every neural metric
    memscore analyze transfer [--target memcat]                             in-data vs LaMem-transfer, by depth
"""
from __future__ import annotations

import json
from pathlib import Path

import click

FIGURE_NAMES = ("fig2", "fig3", "fig4a", "fig4b", "figS1")  # = analysis.FIGURES (kept here: no import at listing)


def _models(values: tuple[str, ...]) -> list[str] | None:
    out = [m.strip() for v in values for m in v.split(",") if m.strip()]
    return out or None


def _common(default_out: str = "memscore-analysis", memorability: bool = True):
    def deco(f):
        f = click.option("--models", "-m", multiple=True,
                         help="only these models (repeat, or comma-separate); a fine-tuned model counts as its "
                              "base model's")(f)
        f = click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path(default_out),
                         show_default=True, help="folder for the CSV, JSON and PNG files")(f)
        f = click.option("--value", type=click.Choice(["ceiled", "raw"]), default="ceiled", show_default=True,
                         help="region similarity: the ceiled score (r²/ceiling) or the raw Pearson r")(f)
        if memorability:
            f = click.option("--memorability", default="lamem-pls", show_default=True,
                             help="the memorability benchmark of Fig. 2 (lamem-pls, things-memorability-pls, ...: "
                                  "on the images it shares with the neural data where its runs were made with "
                                  "shared_with=; lamem-finetune / lamem-it for `models`)")(f)
        f = click.option("--paper", is_flag=True,
                         help="overlay the published rho on the plots; put it beside ours in the JSON "
                              "(`paper`: ours, paper, difference) and the table (Δ)")(f)
        f = click.option("--no-plots", is_flag=True, help="write CSV and JSON only")(f)
        f = click.option("--json", "as_json", is_flag=True, help="print the result as JSON")(f)
        f = click.option("--include-smoke", is_flag=True,
                         help="also count smoke runs (--limit) where a model has no full run")(f)
        return f
    return deco


def _rows(name: str, panels: dict) -> list[tuple[str, dict]]:
    return [(name if len(panels) == 1 and name else f"{name} {k}".strip(), p) for k, p in panels.items()]


def _table(rows: list[tuple[str, dict]], paper: bool) -> None:
    click.echo(f"{'panel':<16} {'rho':>7} {'95% CI':>16} {'paper':>7}" + (f" {'Δ':>7}" if paper else "")
               + f" {'n':>8} {'models':>7} {'left out':>8}  p  p_perm")
    for name, p in rows:
        rho = "" if p["rho"] is None else f"{p['rho']:.3f}"
        ci = p.get("ci") or [None, None]
        ci = "" if None in ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
        pp = "" if p.get("p_perm") is None else f"{p['p_perm']:.2g}"
        ref = "" if p["paper_rho"] is None else f"{p['paper_rho']:.2f}"
        diff = "" if p["rho"] is None or p["paper_rho"] is None else f"{p['rho'] - p['paper_rho']:+.3f}"
        pv = "" if p["p"] is None else f"{p['p']:.2g}"
        click.echo(f"{name:<16} {rho:>7} {ci:>16} {ref:>7}" + (f" {diff:>7}" if paper else "")
                   + f" {p['n']:>8} {p['models']:>7} {p.get('left_out_rows', 0):>8}  {pv}  {pp}")


def _print(result: dict, as_json: bool, paper: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=1, default=str))
        return
    if result.get("analysis") == "figures":
        rows = [r for fig, res in result["figures"].items() for r in _rows(fig, res["panels"])]
    else:
        rows = _rows("", result["panels"])
    _table(rows, paper)
    for fig, res in result.get("figures", {}).items():
        if res.get("missing"):
            click.echo(f"{fig}: {res['missing']}")
    panels = result["figures"].get("fig2", {}).get("panels", {}) if "figures" in result else result.get("panels", {})
    for region, p in panels.items():
        images = p.get("images") or {}
        if images.get("shared"):
            click.echo(f"{region}: over the {images.get('shared_test_images')} test images shared with "
                       f"{images.get('neural_data')} (shared_with)")
    if result.get("profiles"):
        how = ", ".join(f"{k}: {v}" for k, v in result["profiles"]["depth_from"].items())
        click.echo(f"depth profiles of {len(result['profiles']['models'])} model(s) (depth {how})")
    click.echo("wrote " + ", ".join(result["files"]))


@click.group()
def analyze():
    """Relate memorability to brain similarity (Harada & Sakai 2023) from stored scores: `figures` writes all
    of the paper's figures (2, 3, 4A, 4B, S1); `layers` and `models` the layer and model analyses."""


@analyze.command("figures")
@_common("memscore-figures")
@click.option("--only", default=",".join(FIGURE_NAMES), show_default=True,
              help="comma-separated figures to write")
def figures(models, out, value, memorability, paper, no_plots, as_json, include_smoke, only):
    """All of the paper's figures, each as PNG + CSV + JSON (rho, p, n, what was left out and why).

    \b
    fig2   layer memorability (lamem-pls) vs V1/V2/V4/IT similarity, over all layers   (paper .37/.76/.21/.82)
           (--memorability NAME: another set's runs; made with shared_with=MANIFEST, on the images it shares
           with the neural data of that manifest)
    fig3   fine-tuned test memorability vs IT similarity of its penultimate layer       (paper 0.56)
    fig4a  ImageNet top-1 vs IT similarity of the penultimate layer                     (paper -0.39)
    fig4b  ImageNet top-1 vs IT similarity of the best layer                            (paper 0.57)
    figS1  ImageNet top-1 vs fine-tuned memorability                                    (paper: not given)
    """
    from memscore.errors import OptionError

    from memscore_plugins.benchmarks.harada2023.analysis import analyze_figures

    wanted = [f.strip() for f in only.split(",") if f.strip()]
    lower = {f.lower(): f for f in FIGURE_NAMES}
    bad = [f for f in wanted if f.lower() not in lower]
    if bad or not wanted:
        raise OptionError(f"--only {only!r}: valid figures are {', '.join(FIGURE_NAMES)}")
    result = analyze_figures(out=out, figures=[lower[f.lower()] for f in wanted], models=_models(models),
                             value="raw" if value == "raw" else "value", plots=not no_plots, paper=paper,
                             include_smoke=include_smoke, memorability=memorability)
    _print(result, as_json, paper)


@analyze.command("layers")
@_common()
@click.option("--no-profiles", is_flag=True, help="skip the per-model depth profiles")
def layers(models, out, value, memorability, paper, no_plots, as_json, include_smoke, no_profiles):
    """Spearman rho over all layers: memorability accuracy vs V1/V2/V4/IT similarity (Fig. 2), and per model
    memorability and similarity against relative depth (profiles/<model>.png, layers_profiles.csv)."""
    from memscore_plugins.benchmarks.harada2023.analysis import analyze_layers

    result = analyze_layers(out=out, models=_models(models), value="raw" if value == "raw" else "value",
                            memorability=memorability, plots=not no_plots, paper=paper,
                            depth_profiles=not no_profiles, include_smoke=include_smoke)
    _print(result, as_json, paper)


@analyze.command("models")
@_common()
@click.option("--region", default="IT", show_default=True, type=click.Choice(["V1", "V2", "V4", "IT"],
                                                                             case_sensitive=False))
def models_(models, out, value, memorability, paper, no_plots, as_json, include_smoke, region):
    """Across models: a memorability score vs IT similarity of the same model at the penultimate and the best
    layer (not one of the paper's figures: Fig. 3 uses the fine-tuned models' own layers, see `figures`)."""
    from memscore_plugins.benchmarks.harada2023.analysis import analyze_models

    result = analyze_models(out=out, models=_models(models), value="raw" if value == "raw" else "value",
                            memorability=memorability, region=region, plots=not no_plots, paper=paper,
                            include_smoke=include_smoke)
    _print(result, as_json, paper)


@analyze.command("agreement")
@click.option("--region", default="IT", show_default=True, type=click.Choice(["V1", "V2", "V4", "IT"],
                                                                             case_sensitive=False))
@click.option("--metrics", default="pls,ridgecv,rsa,cka,procrustes,reverse", show_default=True,
              help="the neural metrics to compare (those with stored runs are used)")
@click.option("--models", "-m", multiple=True, help="only these models (repeat, or comma-separate)")
@click.option("--memorability", default="lamem-pls", show_default=True, help="the memorability benchmark")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("memscore-analysis"),
              show_default=True, help="folder for the CSV, JSON and PNG files")
@click.option("--no-plots", is_flag=True, help="write CSV and JSON only")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.option("--include-smoke", is_flag=True, help="also count smoke runs (--limit) where a model has no full run")
def agreement(region, metrics, models, memorability, out, no_plots, as_json, include_smoke):
    """Does the memorability-best layer stay the IT-best layer under every metric? Per neural metric stored,
    Fig. 2's rho over layers (bootstrap CI, permutation p), and Kendall's tau between metrics over layers and
    over models."""
    from memscore_plugins.benchmarks.harada2023.agreement import analyze_agreement

    result = analyze_agreement(out=out, region=region, metrics=[m.strip() for m in metrics.split(",") if m.strip()],
                               models=_models(models), memorability=memorability, plots=not no_plots,
                               include_smoke=include_smoke)
    if as_json:
        click.echo(json.dumps(result, indent=1, default=str))
        return
    click.echo(f"{'metric':<11} {'rho':>7} {'95% CI':>17} {'p_perm':>8} {'n':>6}")
    for m, r in result["metrics"].items():
        click.echo(f"{m:<11} {r['rho']:>7.3f} [{r['ci'][0]:>6.3f}, {r['ci'][1]:>6.3f}] {r['p_perm']:>8.3g} {r['n']:>6}")
    for p in result["pairs"]:
        tl = "" if p["tau_layers"] is None else f"{p['tau_layers']:.3f}"
        tm = "" if p["tau_models"] is None else f"{p['tau_models']:.3f}"
        click.echo(f"{p['a']} vs {p['b']}: Kendall tau over {p['layers']} layers {tl}, over {p['models']} models {tm}")
    click.echo("wrote " + ", ".join(result["files"]))


@analyze.command("transfer")
@click.option("--target", default="memcat", show_default=True, help="the target set: memcat, figrim, things-memorability or memorability-csv")
@click.option("--models", "-m", multiple=True, help="only these models (repeat, or comma-separate)")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("memscore-analysis"),
              show_default=True, help="folder for the CSV, JSON and PNG files")
@click.option("--no-plots", is_flag=True, help="write CSV and JSON only")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.option("--include-smoke", is_flag=True, help="also count smoke runs (--limit) where a model has no full run")
def transfer(target, models, out, no_plots, as_json, include_smoke):
    """Per model, memorability within the target set (<target>-pls) and transferred from LaMem
    (lamem-to-<target>) across relative depth, and how alike the two profiles are (Spearman over layers)."""
    from memscore_plugins.benchmarks.harada2023.transfer import analyze_transfer

    result = analyze_transfer(out=out, target=target, models=_models(models), plots=not no_plots,
                              include_smoke=include_smoke)
    if as_json:
        click.echo(json.dumps(result, indent=1, default=str))
        return
    for name, m in result["models"].items():
        rho = "" if m["rho_profiles"] is None else f"{m['rho_profiles']:.3f}"
        click.echo(f"{name}: within {m['within']['value']:.3f} ({m['within']['layer']}), transfer "
                   f"{m['transfer']['value']:.3f} ({m['transfer']['layer']}, chosen on LaMem val); profiles rho {rho} "
                   f"over {m['layers']} layers")
    click.echo("wrote " + ", ".join(result["files"]))
