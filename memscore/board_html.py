"""Render a leaderboard dict (built by memscore.leaderboard) into a static, self-contained HTML site.

The site must open from a ``file://`` URL with no network: no CDN, no external JS, no fetch() of JSON.
Each page carries its own inline CSS; the index embeds its data as a ``<script type="application/json"
id="board-data">`` block (``<``, ``>``, ``&``, U+2028/2029 escaped) that a small inline script parses for
sorting, filtering and permalinks. Every data string goes through ``html.escape(quote=True)`` here and
through ``textContent``/``setAttribute`` in the browser, so a model named ``<img src=x onerror=...>`` is text.

Board dict (only ``models`` and ``benchmarks`` are required; any other field, and any value, may be None)::

    {"title": "memscore leaderboard", "memscore_version": "0.x", "generated": "2026-11-29T03:30:00+00:00",
     "benchmarks": [{"name": "lamem-pls", "description": "...", "ceiling": false, "layerwise": true,
                     "data": {"name": "lamem", "fingerprint": "ab12...", "counts": {"images": 58741}}}],
     "models": [{"id": "resnet18@none(seed=0)", "model": "resnet18", "weights": "none(seed=0)",
                 "tags": ["cnn"], "params": 11689512, "imagenet_top1": 69.76, "n_layers": 52,
                 "scores": {"lamem-pls": {"value": 0.61, "error": 0.02, "raw": None, "ceiling": None,
                                          "layer": "layer3.1.relu", "run_id": "..."}},
                 "profiles": {"lamem-pls": [{"layer": "conv1", "depth": 0.0, "value": 0.1, "error": 0.01}]},
                 "committed": {"lamem-pls": "layer3.1.relu"}}],
     "figures": [{"id": "fig2", "title": "Fig. 2: ...", "x": "neural-it", "y": "lamem-pls",
                  "caption": "...", "rho": 0.8, "p": 1e-5, "n": 300}]}

Pages written under ``out``: ``index.html``, ``board.csv``, ``models/<safe id>.html`` (per-layer profile
plot) and ``figures/<id>.html`` (layer-by-layer scatter of benchmark x against y).
"""
from __future__ import annotations

import hashlib
import html
import json
import math
import re
from pathlib import Path
from urllib.parse import quote

__all__ = ["write_site", "safe_file_name", "csv_rows"]

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}.banner{background:#fff3cd;padding:.4em .6em}small.ci{display:block;color:#666}.tie{color:#b35c00}h1{font-size:1.5em;margin:0 0 .3em}
.meta,.data,small,.raw{color:#666}table{border-collapse:collapse}th,td{padding:.3em .6em;
border-bottom:1px solid #ddd;text-align:left;vertical-align:top}td.num{text-align:right;white-space:nowrap}
th[data-col]{cursor:pointer;user-select:none;background:#f4f4f4}th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}tr.selected{background:#fff3b0}a.perma{color:#aaa;
text-decoration:none;margin-right:.3em}.tags{display:block;font-size:.8em;color:#888}svg.bar{vertical-align:middle;
margin:0 .3em}.controls{margin:1em 0}.controls>*{margin-right:1em}.legend span{display:inline-block;width:.8em;
height:.8em;margin-right:.3em}.layer{display:block}svg text{font:12px sans-serif}"""
JS = """(function () {
"use strict";
var data = JSON.parse(document.getElementById("board-data").textContent);
var tbody = document.querySelector("#board tbody"), rows = Array.prototype.slice.call(tbody.rows);
var heads = document.querySelectorAll("#board th[data-col]"), sortCol = -1, dir = 1;
var filter = document.getElementById("filter"), tag = document.getElementById("tag");
function info(tr) { return data.rows[+tr.getAttribute("data-i")]; }
function sortBy(c) {
  dir = sortCol === c ? -dir : 1; sortCol = c;
  rows.sort(function (a, b) {  // missing values last in both directions; ties keep board order
    var x = info(a).keys[c], y = info(b).keys[c], i = info(a).i - info(b).i;
    if (x === null || y === null) return ((x === null) - (y === null)) || i;
    var r = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
    return r * dir || i;
  });
  rows.forEach(function (tr) { tbody.appendChild(tr); });
  heads.forEach(function (th) {
    if (+th.getAttribute("data-col") === c) th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  });
}
heads.forEach(function (th) {
  var c = +th.getAttribute("data-col");
  th.addEventListener("click", function () { sortBy(c); });
  th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(c); });
});
function applyFilter() {
  var q = filter.value.trim().toLowerCase(), t = tag.value, shown = 0;
  rows.forEach(function (tr) {
    var r = info(tr), ok = (!q || r.search.toLowerCase().indexOf(q) >= 0) && (!t || r.tags.indexOf(t) >= 0);
    tr.hidden = !ok; shown += ok ? 1 : 0;
  });
  document.getElementById("shown").textContent = shown + " of " + rows.length + " models";
}
filter.addEventListener("input", applyFilter); tag.addEventListener("change", applyFilter);
function select() {
  rows.forEach(function (tr) { tr.classList.remove("selected"); });
  var h = window.location.hash, id;
  if (h.indexOf("#model=") !== 0) return;
  try { id = decodeURIComponent(h.slice(7)); } catch (e) { return; }
  var tr = document.getElementById("model=" + id);
  if (tr) { tr.classList.add("selected"); tr.scrollIntoView({block: "center"}); }
}
window.addEventListener("hashchange", select);
applyFilter(); select();
})();"""


def _e(s) -> str:
    return "" if s is None else html.escape(str(s), quote=True)


def _num(x) -> float | None:
    """A finite float, or None for missing/NaN/non-numeric values (the board may hold any of these)."""
    if isinstance(x, bool) or x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _fmt(x, spec: str = ".3f") -> str:
    f = _num(x)
    return "–" if f is None else format(f, spec)


def _params(n) -> str:
    f = _num(n)
    if f is None:
        return "–"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(f) >= div:
            return f"{f / div:.3g} {unit}"
    return f"{f:.0f}"


def safe_file_name(name, always_hash: bool = True) -> str:
    """File-system/URL-safe name: [A-Za-z0-9._-] kept, others -> '_', plus a sha1 suffix so distinct ids
    that sanitise alike (a/b vs a_b) never overwrite each other's page."""
    s = str(name)
    if not always_hash and re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,79}", s):
        return s
    base = re.sub(r"[^A-Za-z0-9._-]", "_", s)[:60].lstrip(".") or "x"
    return f"{base}-{hashlib.sha1(s.encode()).hexdigest()[:8]}"


def _clean(obj):
    """JSON-safe copy: NaN/inf -> None (JSON.parse rejects NaN), unknown types -> str."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj if obj is None or isinstance(obj, (str, int, bool)) else str(obj)


def _json_block(obj) -> str:
    s = json.dumps(_clean(obj), ensure_ascii=False, allow_nan=False)
    for ch, esc in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        s = s.replace(ch, esc)  # these only ever occur inside JSON strings, so the escape is lossless
    return f'<script type="application/json" id="board-data">{s}</script>'


def _page(title: str, body: str, script: str = "") -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1"><link rel="icon" href="data:,"><title>{_e(title)}'
            f"</title><style>{CSS}</style></head>\n<body>\n{body}\n{script}</body></html>\n")


def _d(x) -> dict:
    return x if isinstance(x, dict) else {}


def _l(x) -> list:
    return x if isinstance(x, list) else []


def _models(board) -> list[dict]:
    """Model entries with the fields every page needs filled in (id falls back to model@weights)."""
    out = []
    for m in _l(board.get("models")):
        m = _d(m)
        mid = m.get("id") or f"{m.get('model')}@{m.get('weights')}"
        out.append({**m, "id": str(mid), "model": str(m.get("model") or mid),
                    "tags": [str(t) for t in _l(m.get("tags"))],
                    "scores": {k: _d(v) for k, v in _d(m.get("scores")).items()},
                    "profiles": _d(m.get("profiles")), "committed": _d(m.get("committed")),
                    "file": safe_file_name(mid) + ".html"})
    return out


def _layer_of(m: dict, b: str) -> tuple[str | None, str]:
    c = m["committed"].get(b)
    return (c, "committed layer") if c else (m["scores"].get(b, {}).get("layer"), "best layer")


def _points(m: dict, b: str) -> list[tuple]:
    """(depth, value, layer) of a model's profile on benchmark b, finite points only, by depth."""
    pts = [(_num(_d(p).get("depth")), _num(_d(p).get("value")), _d(p).get("layer")) for p in _l(m["profiles"].get(b))]
    return sorted((p for p in pts if p[0] is not None and p[1] is not None), key=lambda p: p[0])


def _scale(lo: float, hi: float, a: float, b: float):
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return lambda v: a + (v - lo) * (b - a) / (hi - lo)


def _range(vals: list[float], pad: float = 0.05) -> tuple[float, float]:
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    p = (hi - lo) * pad if hi > lo else 0.5
    return lo - p, hi + p


def _ticks(lo: float, hi: float) -> list[float]:
    """About 5 round tick values (steps of 1, 2 or 5 x 10^k) inside [lo, hi]."""
    raw = (hi - lo) / 5 or 1.0
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return [k * step for k in range(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1)]


W, H, ML, MR, MT, MB = 640, 400, 60, 20, 20, 50


def _axes(xr, yr, xlabel: str, ylabel: str, width: int = W) -> tuple:
    """Scales plus the SVG of axes, 5 ticks each and the (escaped) axis labels."""
    sx, sy = _scale(*xr, ML, width - MR), _scale(*yr, H - MB, MT)
    g = [f'<line x1="{ML}" y1="{H - MB}" x2="{width - MR}" y2="{H - MB}" stroke="#444"/>',
         f'<line x1="{ML}" y1="{MT}" x2="{ML}" y2="{H - MB}" stroke="#444"/>']
    g += [f'<text x="{sx(t):.1f}" y="{H - MB + 16}" text-anchor="middle">{t:.4g}</text>' for t in _ticks(*xr)]
    g += [f'<text x="{ML - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{t:.4g}</text>' for t in _ticks(*yr)]
    g.append(f'<text x="{(ML + width - MR) / 2}" y="{H - 10}" text-anchor="middle">{_e(xlabel)}</text>'
             f'<text transform="translate(14 {(MT + H - MB) / 2}) rotate(-90)" text-anchor="middle">'
             f"{_e(ylabel)}</text>")
    return sx, sy, "".join(g)


def _bar(v: float, err: float | None, scale) -> str:
    lo, hi = (scale(v - err), scale(v + err)) if err is not None else (scale(v), scale(v))
    return (f'<svg class="bar" width="60" height="10" aria-hidden="true"><line x1="{lo:.1f}" x2="{hi:.1f}" y1="5" '
            f'y2="5" stroke="#888" stroke-width="2"/><circle cx="{scale(v):.1f}" cy="5" r="2.5" fill="#1f77b4"/></svg>')


def _score_cell(m: dict, b: dict, scale) -> str:
    s = m["scores"].get(b["name"])
    v = _num((s or {}).get("value"))
    if v is None:
        return '<td class="num">–</td>'
    err = _num(s.get("error"))
    mark = ('<span class="tie" title="not distinguishable from this column\'s best: paired bootstrap over the '
            'same test items, p ≥ 0.05">≈ </span>' if s.get("tied") else "")
    if s.get("saw_test"):
        mark += f'<span class="saw" title="{_e(s.get("saw_test"))}">† </span>'
    cell = mark + f'<span class="v">{_fmt(v)}</span>' + (f' ± <span class="e">{_fmt(err)}</span>' if err is not None else "")
    ci = [_num(c) for c in _l(s.get("ci"))]
    if len(ci) == 2 and None not in ci:
        cell += f'<small class="ci" title="95% bootstrap interval over the test items">[{_fmt(ci[0])}, {_fmt(ci[1])}]</small>'
    cell += _bar(v, err, scale)
    if (b.get("ceiling") or s.get("ceiling") is not None) and _num(s.get("raw")) is not None:
        cell += f'<span class="raw" title="raw score, before ceiling normalisation">raw {_fmt(s.get("raw"))}</span>'
    layer, kind = _layer_of(m, b["name"])
    if layer:
        cell += f'<small class="layer" title="{_e(kind)}">{_e(layer)}</small>'
    return f'<td class="num">{cell}</td>'


def data_title(d: dict, missing: str = "?") -> str:
    """A board column's data set as people read it: its label, and its own name beside when they differ."""
    label, name = d.get("label") or d.get("name") or missing, d.get("name")
    return f"{label} ({name})" if name and name != label else str(label)


def _data_line(b: dict) -> str:
    d = _d(b.get("data"))
    fp = str(d.get("fingerprint") or "").split(":")[-1][:10]
    counts = ", ".join(f"{c:,} {k}" if isinstance(c, int) else f"{c} {k}" for k, c in _d(d.get("counts")).items())
    return (f"<li><b>{_e(b['name'])}</b>: {_e(data_title(d))}" + (f" <code>{_e(fp)}</code>" if fp else "")
            + (f" ({_e(counts)})" if counts else "") + "</li>")


def _index(board: dict, benches: list[dict], models: list[dict], figs: list[tuple]) -> str:
    title = board.get("title") or "memscore leaderboard"
    version = board.get("memscore_version")
    if version is None:
        from . import __version__ as version
    cols = ["model", "weights", *(b["name"] for b in benches), "n layers", "parameters", "ImageNet top-1"]
    heads = "".join(f'<th scope="col" tabindex="0" data-col="{i}"'
                    + (f' title="{_e(benches[i - 2].get("description"))}"' if 2 <= i < 2 + len(benches) else "")
                    + f">{_e(c)}</th>" for i, c in enumerate(cols))
    scales, rows, body = {}, [], []
    for b in benches:
        ends = [x for m in models if (s := m["scores"].get(b["name"])) and (v := _num(s.get("value"))) is not None
                for x in (v - (_num(s.get("error")) or 0), v + (_num(s.get("error")) or 0))]
        scales[b["name"]] = _scale(*_range(ends, 0.0), 4, 56)
    for i, m in enumerate(models):
        weights = "" if m.get("weights") is None else str(m["weights"])
        keys = [m["model"], weights, *(_num(m["scores"].get(b["name"], {}).get("value")) for b in benches),
                _num(m.get("n_layers")), _num(m.get("params")), _num(m.get("imagenet_top1"))]
        rows.append({"i": i, "id": m["id"], "tags": m["tags"], "keys": keys,
                     "search": " ".join([m["model"], weights, *m["tags"]])})
        tags = f'<span class="tags">{_e(" · ".join(m["tags"]))}</span>' if m["tags"] else ""
        body.append(
            f'<tr id="model={_e(m["id"])}" data-i="{i}"><td><a class="perma" title="permalink" aria-label='
            f'"permalink" href="#model={_e(quote(m["id"], safe=""))}">¶</a><a href="models/{_e(m["file"])}">'
            f'{_e(m["model"])}</a>{tags}'
            f"</td><td>{_e(weights)}</td>" + "".join(_score_cell(m, b, scales[b["name"]]) for b in benches)
            + f'<td class="num">{_fmt(m.get("n_layers"), ".0f")}</td><td class="num" title="{_e(m.get("params"))}">'
            f'{_params(m.get("params"))}</td><td class="num">{_fmt(m.get("imagenet_top1"), ".2f")}</td></tr>')
    all_tags = sorted({t for m in models for t in m["tags"]})
    options = "".join(f'<option value="{_e(t)}">{_e(t)}</option>' for t in all_tags)
    fig_list = "".join(f'<li><a href="figures/{_e(f)}.html">{_e(fig.get("title") or fig.get("id") or f)}</a></li>'
                       for fig, f in figs)
    html_ = (f"<header>{_banner(board)}<h1>{_e(title)}</h1><p class=\"meta\">generated {_e(board.get('generated') or '–')} · "
             f"memscore {_e(version)}</p><p>Data behind each benchmark column:</p><ul class=\"data\">"
             + "".join(_data_line(b) for b in benches) + "</ul></header>"
             '<div class="controls"><input id="filter" type="search" placeholder="filter: model, weights, tag" '
             f'aria-label="filter models"><select id="tag" aria-label="tag"><option value="">all tags</option>{options}'
             '</select><span id="shown"></span><a href="board.csv" download>Download CSV</a></div>'
             f'<table id="board"><thead><tr>{heads}</tr></thead><tbody>\n' + "\n".join(body) + "\n</tbody></table>"
             + _notes(board) + (f"<h2>Figures</h2><ul>{fig_list}</ul>" if figs else ""))
    return _page(title, html_, _json_block({"board": board, "rows": rows}) + f"\n<script>{JS}</script>\n")


def _notes(board: dict) -> str:
    """The board's notes under the table: runs left out (failed checks, smoke runs), runs of one key that
    disagree, columns split by data or settings."""
    notes = [str(n) for n in _l(board.get("notes"))]
    return f'<h2>Notes</h2><ul class="notes">{"".join(f"<li>{_e(n)}</li>" for n in notes)}</ul>' if notes else ""


def _banner(board: dict) -> str:
    """The board's caveat (``banner``: "synthetic data", a draft), said at the top of every page."""
    text = board.get("banner")
    return f'<p class="banner"><strong>{_e(text)}</strong></p>' if text else ""


def _model_page(m: dict, benches: list[dict], colours: dict, banner: str = "") -> str:
    rows = []
    for b in benches:
        s = m["scores"].get(b["name"])
        if s:
            layer, kind = _layer_of(m, b["name"])
            rows.append(f"<tr><td>{_e(b['name'])}</td><td class=num>{_fmt(s.get('value'))} ± "
                        f"{_fmt(s.get('error'))}</td><td class=num>{_fmt(s.get('raw'))}</td><td class=num>"
                        f"{_fmt(s.get('ceiling'))}</td><td>{_e(layer)} <small>{_e(kind) if layer else ''}</small>"
                        f"</td><td><small>{_e(s.get('run_id'))}"
                        "</small></td></tr>")
    names = [b["name"] for b in benches] + [k for k in m["profiles"] if k not in colours]
    profiles = {n: pts for n in names if (pts := _points(m, n))}
    plot = "<p>No per-layer profiles.</p>"
    if profiles:
        sx, sy, axes = _axes((0.0, 1.0), _range([p[1] for pts in profiles.values() for p in pts]), "relative depth",
                             "score")
        g, legend = [axes], []
        for k, (n, pts) in enumerate(profiles.items()):
            c = colours.get(n, PALETTE[k % len(PALETTE)])
            g.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="'
                     + " ".join(f"{sx(d):.1f},{sy(v):.1f}" for d, v, _ in pts) + f'"><title>{_e(n)}</title></polyline>')
            layer, kind = _layer_of(m, n)
            for d, v, name in pts:
                if layer is not None and name == layer:
                    g.append(f'<circle class="mark" cx="{sx(d):.1f}" cy="{sy(v):.1f}" r="5" fill="#fff" stroke="{c}" '
                             f'stroke-width="2"><title>{_e(kind)}: {_e(name)}</title></circle>'
                             f'<text x="{sx(d) + 7:.1f}" y="{sy(v) - 7:.1f}" fill="{c}">{_e(name)}</text>')
                    break
            # the legend is HTML under the plot: a long benchmark name wraps there instead of being cut at the edge
            legend.append(f'<li><span style="background:{c}"></span>{_e(n)}</li>')
        plot = (f'<svg id="profiles" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
                f'role="img" aria-label="per-layer profiles">' + "".join(g) + "</svg>"
                f'<ul class="legend">{"".join(legend)}</ul>')
    tags = f"<p>tags: {_e(', '.join(m['tags']))}</p>" if m["tags"] else ""
    body = (f'<p><a href="../index.html">← leaderboard</a></p>{banner}<h1>{_e(m["model"])}</h1><p>weights: '
            f'{_e(m.get("weights"))} · id <code>{_e(m["id"])}</code> · {_params(m.get("params"))} parameters · '
            f'{_fmt(m.get("n_layers"), ".0f")} layers · ImageNet top-1 {_fmt(m.get("imagenet_top1"), ".2f")}</p>{tags}'
            "<table><thead><tr><th>benchmark</th><th>value ± error</th><th>raw</th><th>ceiling</th><th>layer</th>"
            f"<th>run</th></tr></thead><tbody>{''.join(rows)}</tbody></table><h2>Per-layer profiles</h2>{plot}")
    return _page(m["id"], body)


def _figure_page(fig: dict, models: list[dict], banner: str = "") -> str:
    xb, yb = str(fig.get("x")), str(fig.get("y"))
    pts, legend = [], []
    given: dict[str, list[tuple]] = {}  # the figure's own points (the runs the selection policy counted), by row
    for p in _l(fig.get("points")):
        x, y = _num(_d(p).get("x")), _num(_d(p).get("y"))
        if x is not None and y is not None:
            given.setdefault(str(_d(p).get("row")), []).append((x, y, _d(p).get("layer")))
    for i, m in enumerate(models):
        if "points" in fig:
            mine = given.get(str(m.get("id")), [])
        else:  # a figure without its points: the model's profiles in the two columns
            ys = {layer: v for _, v, layer in _points(m, yb)}
            mine = [(v, ys[layer], layer) for _, v, layer in _points(m, xb) if layer in ys]
        c = PALETTE[i % len(PALETTE)] if len(models) <= len(PALETTE) else f"hsl({i * 137.5 % 360:.0f},65%,45%)"
        pts += [(x, y, layer, m, c) for x, y, layer in mine]
        if mine:
            legend.append(f'<li><span style="background:{c}"></span>{_e(m["model"])} <small>{_e(m.get("weights"))} '
                          f"({len(mine)} layers)</small></li>")
    title = fig.get("title") or fig.get("id") or "figure"
    plot = "<p>No layer has values on both benchmarks.</p>"
    if pts:
        sx, sy, axes = _axes(_range([p[0] for p in pts]), _range([p[1] for p in pts]), xb, yb)
        dots = "".join(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{c}" fill-opacity="0.75"><title>'
                       f'{_e(m["id"])} · {_e(layer)} ({x:.3g}, {y:.3g})</title></circle>' for x, y, layer, m, c in pts)
        plot = (f'<svg id="scatter" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
                f'role="img" aria-label="{_e(title)}">{axes}{dots}</svg>')
    stats = f"ρ = {_fmt(fig.get('rho'))}, p = {_fmt(fig.get('p'), '.3g')}, n = {_fmt(fig.get('n'), '.0f')}"
    ci = [_num(c) for c in _l(fig.get("ci"))]
    if len(ci) == 2 and None not in ci:
        stats += (f"; 95% bootstrap CI over the layers [{_fmt(ci[0])}, {_fmt(ci[1])}], permutation p = "
                  f"{_fmt(fig.get('p_perm'), '.3g')}")
    body = (f'<p><a href="../index.html">← leaderboard</a></p>{banner}<h1>{_e(title)}</h1>{plot}<p class="stats">{_e(stats)}'
            f'</p><p class="caption">{_e(fig.get("caption"))}</p><ul class="legend">{"".join(legend)}</ul>')
    return _page(title, body)


def csv_rows(board: dict) -> list[list]:
    """The board as rows (header first): model, weights, per column value/error/raw/layer, n_layers, params,
    ImageNet top-1; missing values are None. ``board.csv`` and ``memscore leaderboard --format csv|markdown|
    table`` all come from these rows, so the formats cannot disagree."""
    benches = [{**_d(b), "name": str(_d(b).get("name"))} for b in _l(board.get("benchmarks")) if _d(b).get("name")]
    head = ["model", "weights"] + [f"{b['name']}:{k}" for b in benches for k in ("value", "error", "raw", "layer")]
    rows = [head + ["n_layers", "params", "imagenet_top1"]]
    for m in _models(board):
        row = [m["model"], m.get("weights")]
        for b in benches:
            s = m["scores"].get(b["name"], {})
            row += [s.get("value"), s.get("error"), s.get("raw"), _layer_of(m, b["name"])[0] if s else None]
        row += [m.get("n_layers"), m.get("params"), m.get("imagenet_top1")]
        rows.append([None if isinstance(v, float) and not math.isfinite(v) else v for v in row])
    return rows


def _write_csv(path: Path, board: dict) -> None:
    from .safetext import write_csv

    with path.open("w", newline="", encoding="utf-8") as f:
        write_csv(f, csv_rows(board))


def write_site(board: dict, out: Path) -> Path:
    """Write index.html, board.csv, models/*.html and figures/*.html under ``out``; return index.html's path."""
    out = Path(out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    benches = [{**_d(b), "name": str(_d(b).get("name"))} for b in _l(board.get("benchmarks")) if _d(b).get("name")]
    colours = {b["name"]: PALETTE[i % len(PALETTE)] for i, b in enumerate(benches)}
    models = _models(board)
    figs = [(_d(f), safe_file_name(_d(f).get("id") or f"fig{i + 1}", always_hash=False))
            for i, f in enumerate(_l(board.get("figures")))]
    for m in models:
        (out / "models" / m["file"]).write_text(_model_page(m, benches, colours, _banner(board)), encoding="utf-8")
    for fig, name in figs:
        (out / "figures" / f"{name}.html").write_text(_figure_page(fig, models, _banner(board)), encoding="utf-8")
    _write_csv(out / "board.csv", board)
    index = out / "index.html"
    index.write_text(_index(board, benches, models, figs), encoding="utf-8")
    return index
