"""``memscore compare A B --benchmark X``: two (or more) stored models compared on the same test items — the
paired difference of their scores with a bootstrap CI and p (:mod:`memscore.stats`), and Williams' test per
split — so a 0.01 rho gap can be told from noise."""
from __future__ import annotations

import json
from typing import Any

import click

from ..errors import MemscoreError
from .common import _f, _table


def _context(s) -> tuple:
    """What two runs must share to be compared item by item: their board column (benchmark version, data and
    settings, :attr:`memscore.record.RunRecord.column`)."""
    from ..record import RunRecord

    return RunRecord.of(s).column


def _created(s) -> float:
    from ..record import RunRecord

    return RunRecord.of(s).created


def pick_runs(store, models: list[str], benchmark: str, weights: str | None = None) -> list:
    """The stored run of each model on ``benchmark``, all on the same data and settings (the newest such
    set); one line naming what is missing otherwise."""
    from ..safetext import name

    by_model = {}
    for m in dict.fromkeys(models):
        runs = [s for s in store.query(m, benchmark) if weights is None or s.meta.get("weights") == weights]
        if not runs:
            raise MemscoreError(f"no stored run of {name(m)} on {name(benchmark)}"
                                + (f" with weights {weights}" if weights else "")
                                + f"; score it first: memscore score -m {m} -b {benchmark}")
        seen = {s.meta.get("weights") for s in runs}
        if len(seen) > 1:
            raise MemscoreError(f"{name(m)} has runs on {benchmark} with weights {', '.join(sorted(map(str, seen)))}; "
                                f"pick one with --weights")
        by_model[m] = runs
    shared = set.intersection(*({_context(s) for s in runs} for runs in by_model.values()))
    if not shared:
        raise MemscoreError(f"the models have no runs of {benchmark} on the same data and settings; score each "
                            f"with the same --data-root and --benchmark-args")
    newest = max(shared, key=lambda c: max(_created(s) for runs in by_model.values() for s in runs if _context(s) == c))
    return [max((s for s in by_model[m] if _context(s) == newest), key=_created) for m in models]


def compare_runs(runs: list, *, n_boot: int, seed: int, store=None) -> list[dict[str, Any]]:
    """Every pair (i < j) of ``runs`` compared (for two runs: one row); ``store`` reads the per-item outputs its
    index keeps in the run files (a neural run's)."""
    from ..items import Items
    from ..stats import compare

    items = []
    for s in runs:
        if not s.items:
            raise MemscoreError(f"the run of {s.model} on {s.benchmark} has no per-item outputs (stored before "
                                f"memscore kept them, or its benchmark keeps none); rescore it with "
                                f"`memscore score -m {s.model} -b {s.benchmark} --force` and its options")
        items.append(store.items_of(s) if store is not None else
                     Items.from_dict(s.items, where=f"the run of {s.model} on {s.benchmark}"))
    rows = []
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            a, b = runs[i], runs[j]
            if not items[i].aligned(items[j]):
                raise MemscoreError(f"{a.model} and {b.model} did not score the same test items on {a.benchmark} "
                                    f"(other splits, --limit or undecodable images); rescore them alike")
            c = compare(items[i], items[j], delta=a.value - b.value, n_boot=n_boot, seed=seed)
            rows.append({"a": a.model, "b": b.model, "benchmark": a.benchmark, "value_a": a.value,
                         "value_b": b.value, **c.to_dict(), "layer_a": a.meta.get("layer"),
                         "layer_b": b.meta.get("layer"), "data": (a.meta.get("data") or {}).get("fingerprint")})
    return rows


@click.command("compare")
@click.argument("models", nargs=-1)
@click.option("--benchmark", "-b", required=True, help="the benchmark both were scored on")
@click.option("--models", "model_list", help="comma-separated models: every pair compared (a matrix)")
@click.option("--weights", help="the weights of the runs to compare, where a model has runs under several")
@click.option("--n-boot", default=1000, show_default=True, type=click.IntRange(100, 100_000),
              help="bootstrap resamples")
@click.option("--seed", default=0, show_default=True, type=int, help="bootstrap seed")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def compare_command(models, benchmark, model_list, weights, n_boot, seed, fmt):
    """Compare MODELS (two, or more with --models) on BENCHMARK on the same test items: delta = A − B, its
    paired bootstrap CI and p, and Williams' t per split (stored runs; nothing is recomputed)."""
    from ..store import ResultStore

    names = list(models) + [m.strip() for m in (model_list or "").split(",") if m.strip()]
    if len(names) < 2:
        raise click.UsageError("give two models (memscore compare A B -b X) or --models A,B,C")
    store = ResultStore()
    rows = compare_runs(pick_runs(store, names, benchmark, weights), n_boot=n_boot, seed=seed, store=store)
    if fmt == "json":
        click.echo(json.dumps(rows[0] if len(rows) == 1 else rows, indent=1))
        return
    _table(["A", "B", "value A", "value B", "delta", "95% CI", "p", "Williams p (per split)"],
           [(r["a"], r["b"], _f(r["value_a"]), _f(r["value_b"]), _f(r["delta"]),
             f"[{_f(r['ci'][0])}, {_f(r['ci'][1])}]", _f(r["p"]),
             " ".join(_f(w["p"]) for w in r["williams"])) for r in rows])
    click.echo(f"paired bootstrap over the same test items ({n_boot} resamples, seed {seed}); p two-sided",
               err=True)


def register_commands(cli):
    cli.add_command(compare_command)
