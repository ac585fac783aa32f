"""Leaderboards: the current stored scores (and submitted bundles) as one row per model and one column per
benchmark and data set, in table, markdown, CSV, JSON or a static HTML site (:mod:`memscore.board_html`).

A column never mixes scores of different data or settings: it is one benchmark at one version, on one data
fingerprint, with one configuration. When the runs of a benchmark differ in any of these, the benchmark gets
one column each, labelled with what differs, and the board says so in its ``notes``.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Iterable

from . import __version__
from .errors import MemscoreError, OptionError
from .record import RunRecord
from .runcheck import same_numbers
from .safetext import md_cell, printable, write_csv
from .scores import Score
from .selection import declared_defaults, rank

FORMATS = ("table", "markdown", "csv", "json", "html")


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def gather(store=None, bundles: Iterable[Path | str] = (), notes: list[str] | None = None,
           disagreements: list[dict] | None = None) -> list[Score]:
    """The current runs of the store (or none when ``store`` is False) and the runs of ``bundles`` that pass
    their integrity checks (those that fail are left out, each named in ``notes``). One run per key: the
    local store's wins, then the earlier bundle's (within one source, the newest); a run of the same key with
    another value is never silently dropped or shown instead — it is listed in ``disagreements``."""
    from .store import ResultStore

    sources: list[tuple[str, list[Score]]] = []
    if store is not False:
        sources.append(("local store", (store or ResultStore()).query()))
    if bundles:
        from .bundle import read_bundle

        for b in bundles:
            bundle = read_bundle(Path(b))
            sources.append((f"bundle {b}", bundle.scores))
            for label, why in bundle.rejected:
                if notes is not None:
                    notes.append(f"left out {printable(label)} of bundle {printable(b)}: {why}")
    chosen: dict[str, tuple[str, Score]] = {}
    others: dict[str, list[tuple[str, Score]]] = {}
    for source, runs in sources:
        newest: dict[str, Score] = {}
        for s in runs:
            key = str(s.meta.get("key") or s.meta.get("run_id"))  # the key as stored (checked on the way in)
            if key in newest and RunRecord.of(s).created <= RunRecord.of(newest[key]).created:
                others.setdefault(key, []).append((source, s))
                continue
            if key in newest:
                others.setdefault(key, []).append((source, newest[key]))
            newest[key] = s
        for key, s in newest.items():
            if key in chosen:
                others.setdefault(key, []).append((source, s))
            else:
                chosen[key] = (source, s)
    for key, rest in others.items():
        source, shown = chosen[key]
        differ = [(src, s) for src, s in rest
                  if RunRecord.of(s).run_id != RunRecord.of(shown).run_id and not same_numbers(s, shown)]
        if not differ or disagreements is None:
            continue
        disagreements.append({
            "key": key, "model": shown.model, "benchmark": shown.benchmark,
            "shown": {"source": source, "run_id": RunRecord.of(shown).run_id or None, "value": _finite(shown.value)},
            "others": [{"source": src, "run_id": RunRecord.of(s).run_id or None, "value": _finite(s.value)}
                       for src, s in differ]})
    return [s for _, s in chosen.values()]


def _disagreement_lines(items: list[dict]) -> list[str]:
    lines = []
    for d in items:
        shown = d["shown"]
        rest = "; ".join(f"{printable(o['source'])} has {_fmt(o['value'])} (run {str(o['run_id'])[:12]})"
                         for o in d["others"])
        lines.append(f"runs of one key disagree: {printable(d['model'])} on {printable(d['benchmark'])} shows "
                     f"{_fmt(shown['value'])} from the {printable(shown['source'])} (run {str(shown['run_id'])[:12]}); "
                     f"{rest}")
    return lines


def _fmt(x: Any) -> str:
    return "–" if x is None else f"{x:.4f}"


def build_board(*, benchmarks: Iterable[str] | None = None, models: Iterable[str] | None = None,
                tag: str | None = None, store=None, bundles: Iterable[Path | str] = (),
                title: str = "memscore leaderboard", include_smoke: bool = False) -> dict[str, Any]:
    """The board as a dict (the shape :mod:`memscore.board_html` documents), from the current runs.

    ``benchmarks``/``models`` are names (``tag:T`` for registered ones); ``tag`` keeps models with that
    registry tag. Smoke runs (``--limit``) are left out unless ``include_smoke``, and counted in the notes.
    """
    from .store import ResultStore

    notes: list[str] = []
    disagreements: list[dict] = []
    store = ResultStore() if store is None else store
    runs = gather(store, bundles, notes, disagreements)
    notes += _disagreement_lines(disagreements)
    if benchmarks:
        wanted = set(_names("benchmark", benchmarks))
        runs = [s for s in runs if s.benchmark in wanted]
    if models or tag:
        keep = set(_names("model", [*(models or []), *([f"tag:{tag}"] if tag else [])]))
        runs = [s for s in runs if s.model in keep]
    smoke = [s for s in runs if RunRecord.of(s).smoke]
    if smoke and not include_smoke:
        runs = [s for s in runs if s not in smoke]
        notes.append(f"{len(smoke)} smoke run(s) (--limit) left out; --include-smoke shows them")

    columns: dict[tuple, list[Score]] = {}
    for s in runs:
        columns.setdefault(RunRecord.of(s).column, []).append(s)
    order = list(benchmarks) if benchmarks else []
    cols = sorted(columns, key=lambda c: (order.index(c[0]) if c[0] in order else len(order), c[0], c[1], str(c[2]), c[3]))
    per_bench: dict[str, list[tuple]] = {}
    for c in cols:
        per_bench.setdefault(c[0], []).append(c)
    names: dict[tuple, str] = {}
    for bench, cs in per_bench.items():
        if len(cs) == 1:
            names[cs[0]] = bench
            continue
        what = [w for w, i in (("version", 1), ("data", 2), ("config", 3)) if len({c[i] for c in cs}) > 1]
        differs = _config_differences({c: columns[c][0] for c in cs})
        labels = {c: _data_label(columns[c][0]) for c in cs}
        named = len(set(labels.values())) == len(cs)  # the data's own names tell the columns apart: use them
        for c in cs:
            tagtxt = ", ".join({"version": f"v{c[1]}",
                                "data": f"data {labels[c]}" if named else f"data {labels[c]} {str(c[2])[:8]}",
                                "config": differs[c]}[w] for w in what)
            names[c] = f"{bench} [{tagtxt}]"
        notes.append(f"{bench} is shown as {len(cs)} columns: its runs differ in {' and '.join(what)}, and a "
                     f"column never mixes scores of different data or settings")

    bench_meta = _benchmark_meta()
    board_benches = []
    for c in cols:
        first = RunRecord.of(columns[c][0])
        data = first.data or {}
        board_benches.append({
            "name": names[c], "benchmark": c[0], "version": c[1], "description": bench_meta.get(c[0], ""),
            "data": {"name": data.get("name"), "label": data.get("label") or data.get("name"),
                     "fingerprint": data.get("fingerprint"), "counts": data.get("counts")},
            "config": first.config.get("benchmark_args"),
            "ceiling": any(s.ceiling is not None for s in columns[c]),
            "layerwise": any(len(s.layers) > 1 for s in columns[c])})

    rows: dict[str, dict[str, Any]] = {}
    cells: dict[tuple[str, str], Score] = {}  # (row, column) -> the run shown there
    for c in cols:
        for s in sorted(columns[c], key=rank):  # the policy's run wins (memscore.selection rule 5)
            rec = RunRecord.of(s)
            rid = rec.row
            row = rows.setdefault(rid, {"id": rid, "model": s.model, "weights": rid.split("@", 1)[1],
                                        "model_args": rec.model_args,
                                        "scores": {}, "profiles": {}, "committed": {}, "n_layers": None})
            if isinstance(s.meta.get("params"), int) and not isinstance(s.meta.get("params"), bool):
                row["params_of_run"] = s.meta["params"]  # counted when the run was scored
            col = names[c]
            layer = s.meta.get("layer") or s.best_layer
            row["scores"][col] = {"value": _finite(s.value), "error": _finite(s.error), "raw": _finite(s.raw),
                                  "ceiling": _finite(s.ceiling), "layer": layer, "run_id": rec.run_id or None,
                                  "n_layers": len(s.layers) or None,
                                  "ci": [_finite(c) for c in s.ci] if s.ci else None,
                                  "saw_test": _saw_test(s)}
            cells[(rid, col)] = s
            if len(s.layers) > 1:
                row["profiles"][col] = [{"layer": r.get("layer"), "depth": _finite(r.get("depth")),
                                         "value": _finite(r.get("value")), "error": _finite(r.get("error"))}
                                        for r in s.layers]
                row["n_layers"] = max(row["n_layers"] or 0, len(s.layers))
            if s.meta.get("region") or s.meta.get("commitment"):
                row["committed"][col] = layer
    _model_facts(rows.values())
    _mark_ties(rows, cells, [names[c] for c in cols], notes, None if store is False else store)
    saw = sum(bool(sc.get("saw_test")) for r in rows.values() for sc in r["scores"].values())
    if saw:
        notes.append(f"† marks {saw} score(s) of a model trained on some of the benchmark's test images (a model "
                     f"fine-tuned on a LaMem split scored on another split's test set, ResMem on LaMem or MemCat): "
                     f"not comparable with the others")
    models_out = sorted(rows.values(), key=lambda r: (r["model"], r["id"]))
    figures = _figures(runs, board_benches, notes, include_smoke)
    return {"title": title, "memscore_version": __version__,
            "generated": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "benchmarks": board_benches, "models": models_out, "figures": figures, "notes": notes,
            "disagreements": disagreements,
            "sources": {"store": store is not False, "bundles": [str(b) for b in bundles]}}


def _config_differences(first: dict[tuple, Score]) -> dict[tuple, str]:
    """Per column, the settings in which it differs from the other columns of its benchmark (``pca=16``)."""
    flat = {}
    for c, s in first.items():
        cfg = dict(RunRecord.of(s).config)
        cfg.pop("model_args", None)
        args = cfg.pop("benchmark_args", None) or {}
        flat[c] = {k: json.dumps(v, sort_keys=True, default=str) for k, v in _flatten({**args, **cfg}).items()}
    keys = sorted({k for f in flat.values() for k in f if len({f.get(k) for f in flat.values()}) > 1})
    out = {}
    for c, f in flat.items():
        # a setting a run's config leaves out is the benchmark's default (keyed only when changed): say which
        defaults = declared_defaults(c[0])
        parts = [f"{k}={f.get(k, json.dumps(defaults.get(k, '-'), default=str)).strip(chr(34))}" for k in keys]
        out[c] = ", ".join(parts[:3]) + (" …" if len(parts) > 3 else "") if parts else f"config {c[3]}"
    return out


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _names(kind: str, items: Iterable[str]) -> list[str]:
    """Registered names and ``tag:T``; a name nobody registered is kept as it is (a bundle may hold it)."""
    from .names import resolve_names

    out: list[str] = []
    for item in items:
        if item.startswith("tag:"):
            out += resolve_names(kind, [item], f"--{kind}s")
        else:
            out.append(item)
    return out


def _benchmark_meta() -> dict[str, str]:
    from .pluginmanager import registry

    return {e.name: e.description for e in registry().entries("benchmark")}


def _model_facts(rows) -> None:
    """Tags, parameters and ImageNet top-1 from the registry and the model-stats cache (nothing is built)."""
    from .modelinfo import cache_file, _read
    from .pluginmanager import registry

    cached = _read(cache_file())
    by_name: dict[str, dict] = {}
    for key, stats in cached.items():
        try:
            by_name.setdefault(json.loads(key)["name"], stats)
        except (ValueError, KeyError, TypeError):
            continue
    reg = registry()
    for row in rows:
        try:
            entry, _ = reg.get("model", row["model"])
            row["tags"], meta = list(dict.fromkeys(entry.tags)), entry.meta
        except Exception:  # noqa: BLE001 - a bundle's model need not be installed here
            row["tags"], meta = [], {}
        pretrained = not str(row["weights"]).startswith("none")
        row["imagenet_top1"] = meta.get("imagenet_top1") if pretrained else None
        row["params"] = row.pop("params_of_run", None) or (by_name.get(row["model"]) or {}).get("params")


def _figures(runs: list[Score], benches: list[dict], notes: list[str], include_smoke: bool) -> list[dict]:
    """The plugins' layer-by-layer figures whose two benchmarks are on the board: the runs that count are chosen
    by :func:`memscore.selection.pick` (the analyses' policy: one data set and one setting per benchmark, one run
    per model), with Spearman's rho, p, n, a bootstrap CI and a permutation p over the layers scored on both."""
    from scipy.stats import spearmanr

    from .pluginmanager import get_plugins
    from .record import RunRecord
    from .registry import Entry
    from .selection import LeftOut, join, layer_points, pick
    from .stats import rho_inference

    present = {b["benchmark"] for b in benches}
    out = []
    try:
        declared = [f for fs in get_plugins().pm.hook.leaderboard_figures() for f in (fs or [])]
    except Exception as exc:  # noqa: BLE001 - a plugin's figure hook never breaks the board
        notes.append(f"figures left out: a plugin's leaderboard_figures failed ({type(exc).__name__}: {exc})")
        declared = []
    for f in declared:
        x, y = f.get("x"), f.get("y")
        if x not in present or y not in present:
            continue
        relevant = f.get("relevant")
        try:
            relevant = Entry("figure", str(f.get("id")), relevant, "its figure hook").resolve() if relevant else None
        except MemscoreError as exc:
            notes.append(f"{f.get('id')}: left out ({exc})")
            continue
        left = LeftOut()
        a = pick(runs, x, left, relevant=relevant, include_smoke=include_smoke)
        b = pick(runs, y, left, relevant=relevant, include_smoke=include_smoke)
        points = []
        for key in join(a, b, left):
            pts, _ = layer_points(a.scores[key], b.scores[key])
            points += [{"row": RunRecord.of(a.scores[key]).row, "model": key[0], **p} for p in pts]
        px, py = [p["x"] for p in points], [p["y"] for p in points]
        rho, p = (spearmanr(px, py) if len(px) > 2 else (float("nan"), float("nan")))
        inf = rho_inference(px, py)
        out.append({**{k: v for k, v in f.items() if k != "relevant"}, "x": x, "y": y, "rho": _finite(float(rho)),
                    "p": _finite(float(p)), "n": len(px), "ci": [_finite(c) for c in inf["ci"]],
                    "p_perm": _finite(inf["p_perm"]), "points": points, "data": {x: a.info(), y: b.info()},
                    "left_out": left.to_list()})
    return out


def _mark_ties(rows: dict[str, dict], cells: dict[tuple[str, str], Score], columns: list[str],
               notes: list[str], store=None) -> None:
    """Per column, its best cell (``best``) and the cells a paired bootstrap on the same test items cannot tell
    from it (``tied``: p ≥ 0.05); cells without per-item outputs are neither."""
    from .items import Items, is_stub
    from .stats import tied_with_best

    marked = 0
    for col in columns:
        have = []
        for rid, row in rows.items():
            s = cells.get((rid, col))
            if s is not None and s.items and _finite(s.value) is not None:
                try:  # a local neural run's items are in its run file (its index row keeps a stub)
                    have.append((rid, s, store.items_of(s) if store is not None and is_stub(s.items)
                                 else Items.from_dict(s.items)))
                except MemscoreError:
                    continue
        if len(have) < 2:
            continue
        rid0, best, items0 = max(have, key=lambda h: h[1].value)
        rows[rid0]["scores"][col]["best"] = True
        others = [h for h in have if h[0] != rid0]
        for (rid, _, _), tied in zip(others, tied_with_best(items0, [h[2] for h in others])):
            rows[rid]["scores"][col]["tied"] = tied
            marked += tied
    if marked:
        notes.append(f"≈ marks {marked} score(s) a paired bootstrap over the same test items cannot tell from "
                     f"their column's best (p ≥ 0.05)")


# ---------------------------------------------------------------------------------------------
# formats
# ---------------------------------------------------------------------------------------------
def write_board(board: dict[str, Any], fmt: str = "table", out: Path | str | None = None) -> str | Path:
    """The board in ``fmt``: the text of table/markdown/csv/json (also written to ``out`` when given), or the
    path of the HTML site's index.html (``out`` is its folder)."""
    if fmt not in FORMATS:
        raise OptionError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    if fmt == "html":
        from .board_html import write_site

        if out is None:
            raise OptionError("--format html writes a folder: give --out DIR")
        if Path(out).exists() and not Path(out).is_dir():
            raise OptionError(f"--out {out}: is a file; --format html writes a folder (index.html and pages)")
        try:
            return write_site(board, Path(out))
        except OSError as exc:
            raise OptionError(f"--out {out}: cannot write it ({exc.strerror or exc}); choose a writable folder") \
                from None
    text = {"json": lambda: json.dumps(board, indent=1, default=str), "csv": lambda: _csv(board),
            "markdown": lambda: _markdown(board), "table": lambda: _table(board)}[fmt]()
    if out is not None:
        from .atomic import write_text

        path = Path(out)
        if path.is_dir():
            raise OptionError(f"--out {out}: is a folder; --format {fmt} writes one file (e.g. {path / ('board.' + fmt)})")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text(path, text if text.endswith("\n") else text + "\n")
        except OSError as exc:
            raise OptionError(f"--out {out}: cannot write it ({exc.strerror or exc}); choose a writable folder") \
                from None
    return text


def _csv(board: dict) -> str:
    import io

    from .board_html import csv_rows

    buf = io.StringIO()
    write_csv(buf, csv_rows(board))
    return buf.getvalue()


def _cells(board: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows for the text formats: value ± error (raw) and layer per column."""
    from .modelinfo import format_params

    head = ["model", "weights"]
    for b in board["benchmarks"]:
        head += [b["name"], f"{b['name']} layer"]
    head += ["layers", "params", "top1"]
    rows = []
    for m in board["models"]:
        r = [m["model"], m["weights"]]
        for b in board["benchmarks"]:
            s = m["scores"].get(b["name"])
            if not s or s.get("value") is None:
                r += ["", ""]
                continue
            cell = f"{s['value']:.4f}" + (f" ± {s['error']:.4f}" if s.get("error") is not None else "")
            if s.get("ceiling") is not None and s.get("raw") is not None:
                cell += f" (raw {s['raw']:.4f})"
            r += [cell, m["committed"].get(b["name"]) or s.get("layer") or ""]
        r += [str(m["n_layers"] or ""), format_params(m.get("params")),
              f"{m['imagenet_top1']:.2f}" if m.get("imagenet_top1") is not None else ""]
        rows.append(r)
    return head, rows


def _data_lines(board: dict) -> list[str]:
    lines = []
    for b in board["benchmarks"]:
        d = b.get("data") or {}
        counts = ", ".join(f"{k} {v}" for k, v in (d.get("counts") or {}).items() if v is not None)
        from .board_html import data_title

        lines.append(f"{b['name']}: data {data_title(d, missing='None')}:{str(d.get('fingerprint'))[:10]}"
                     + (f" ({counts})" if counts else "") + ("; ceiling-normalised, raw beside" if b["ceiling"] else ""))
    return lines + board.get("notes", [])


def _markdown(board: dict) -> str:
    head, rows = _cells(board)
    esc = md_cell
    out = [f"# {esc(board['title'])}", "", *[f"- {esc(line)}" for line in _data_lines(board)], "",
           "| " + " | ".join(esc(h) for h in head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def _table(board: dict) -> str:
    head, rows = _cells(board)
    head = [printable(h) for h in head]
    rows = [[printable(c) for c in r] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)] if rows else [len(h) for h in head]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*["-" * w for w in widths]), *(fmt.format(*r) for r in rows)]
    if not rows:
        lines.append("(no scores: run `memscore score` or `memscore sweep` first, or pass --from BUNDLE)")
    return "\n".join(lines + [""] + [printable(line) for line in _data_lines(board)]) + "\n"


def _data_label(s: Score) -> str:
    """A run's data set as the board names it: its label (``--data-name``, its folder), else its name."""
    data = RunRecord.of(s).data or {}
    return str(data.get("label") or data.get("name") or "data")


def _saw_test(s: Score) -> str | None:
    """What of the benchmark's test images the run's model was trained on, said in a few words (None: nothing)."""
    seen = s.meta.get("saw_test_images")
    if not isinstance(seen, list) or not seen:
        return None
    parts = []
    for e in seen:
        if not isinstance(e, dict):
            continue
        n, of = e.get("test_images_seen"), e.get("test_images")
        where = f"{e.get('data')}" + (f" split {e['split']}" if e.get("split") is not None else "")
        parts.append(f"{where}: {'all' if n is None else n} of {of} test images")
    return "trained on " + "; ".join(parts) if parts else None
