"""The model table of Harada & Sakai's 64 models: scoreable layers, parameters, top-1, sources.

Builds every available model once with random init (nothing is downloaded) at its own input size,
through ``memscore.modelinfo.model_stats`` (cached in $MEMSCORE_HOME/cache/model_stats.json), and
prints a JSON summary; ``--markdown PATH`` also writes the table (docs/models.md is made this way):

    MEMSCORE_PLUGINS=zoo,timm,cornet,cadene,torchvision python benchmarks/model_table.py --markdown docs/models.md
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

PAPER_TOTAL = 16860


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", type=Path, help="write the Markdown table here")
    ap.add_argument("--refresh", action="store_true", help="recompute cached stats")
    args = ap.parse_args(argv)

    import torch

    from memscore import modelinfo
    from memscore_plugins.models.zoo import table as zoo

    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = []
    t0 = time.perf_counter()
    for rec in zoo.paper_models():
        ok, reason = rec.availability()
        row = {"name": rec.name, "paper": rec.paper, "source": rec.source, "arch": rec.arch,
               "weights": rec.weights, "top1": rec.top1, "top1_from": rec.top1_from, "note": rec.note,
               "available": ok, "reason": reason}
        if ok:
            t = time.perf_counter()
            row.update(modelinfo.model_stats(rec.name, refresh=args.refresh))
            print(f"{rec.name}: {row['layers']} layers ({time.perf_counter() - t:.1f}s)", file=sys.stderr)
        rows.append(row)
    done = [r for r in rows if r["available"]]
    summary = {
        "models": len(rows), "available": len(done),
        "unavailable": {r["name"]: r["reason"] for r in rows if not r["available"]},
        "scoreable_layers": sum(r["layers"] for r in done),
        "scoreable_leaf_layers": sum(r["leaf_layers"] for r in done),
        "aliases": sum(r["aliases"] for r in done),
        "paper_layers": PAPER_TOTAL,
        "by_source": {s: sum(r["layers"] for r in done if r["source"] == s)
                      for s in sorted({r["source"] for r in done})},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(summary, indent=1))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(rows, summary))
    return 0


SHORT = {"torchvision": "tv", "timm": "timm", "cadene": "cadene"}
FOOTNOTES = {
    "tv": "torchvision: `weights.meta['_metrics']['ImageNet-1K']['acc@1']` of the pinned weights",
    "timm": "timm: `results/results-imagenet.csv` of huggingface/pytorch-image-models (commit aa4b585), "
            "the row of the pinned tag at its pretrained_cfg size",
    "cadene": "Cadene's pretrained-models.pytorch README, Acc@1 of their porting",
}


def difference(summary) -> list[str]:
    """Why memscore's total differs from the paper's (the numbers from ``summary``)."""
    layers, leaf, aliases, paper = (summary["scoreable_layers"], summary["scoreable_leaf_layers"],
                                    summary["aliases"], summary["paper_layers"])
    return [
        "Why the totals differ. A layer is a module whose output is a new tensor; a module that only hands on",
        "a tensor another module made, unmodified (an `Identity` or drop-path placeholder, an eval-mode",
        "`Dropout`, a block or `Sequential` returning its last module's output, a `Flatten`), is an alias of",
        f"that layer and is not counted: {aliases:,} such modules over these models (counting them too gives",
        f"{layers + aliases:,}). Of the {layers:,} layers, {layers - leaf:,} are containers whose output no leaf module",
        "produces (an Inception or GoogLeNet block's `torch.cat`, a DPN, EfficientNet or SE block's residual",
        f"sum or gating product); counting leaf modules only gives {leaf:,} ({_pct(leaf, paper)} against the",
        f"paper's {paper:,}; all layers: {_pct(layers, paper)}). The paper's total includes a DPN-113 that memscore cannot",
        "build (no such network was published; see the notes): between DPN-107 and DPN-131 it would count",
        "some 370-450 layers, so over the same 63 models the gap is that much larger. The rest is implementation:",
        "the paper's sources (Cadene's ports, EfficientNet-PyTorch, an older torchvision) lay modules out",
        "differently from timm's (separate activation modules), and an in-place ReLU after a BatchNorm is a",
        "layer of its own (it changes the tensor), while a module reused within a block (torchvision's ResNet",
        "`relu`) is one layer, captured at its last call.",
    ]


def _pct(a: int, b: int) -> str:
    return f"{100 * (a - b) / b:+.1f} %"



def markdown(rows, summary) -> str:
    src_name = {"torchvision": "torchvision", "timm": "timm", "cornet": "memscore (CORnet)",
                "cadene": "pretrainedmodels (`memscore[cadene]`)", "none": "—"}
    out = [
        "# The 64 models of Harada & Sakai (2023)",
        "",
        "Generated by `MEMSCORE_PLUGINS=zoo,timm,cornet,cadene,torchvision python benchmarks/model_table.py "
        "--markdown docs/models.md`.",
        "All carry the tag `harada2023` (`memscore list models --tag harada2023`).",
        "",
        "*Layers*: scoreable layers (modules whose output has at least 24 units and is not an alias) at the",
        "model's own input size, counted with random init; *leaf*: those of them that have no submodules;",
        "*aliases*: modules that only hand on another layer's output unmodified (an `Identity`, an eval-mode",
        "`Dropout`, a block returning its last module's output, a `Flatten`), listed with their layer and never",
        "counted or scored apart (`memscore layers NAME` shows them). *Top-1*: published ImageNet top-1 of the",
        "weights memscore loads by default (see *top-1 from*).",
        "",
        "| name | paper (Table S1) | source | architecture / weights | input | layers | leaf | aliases | params | top-1 | top-1 from |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        arch = f"`{r['arch']}`" + (f" ({r['weights']})" if r["weights"] else "") if r["arch"] else "—"
        top1 = f"{r['top1']:.2f}" if r["top1"] is not None else "—"
        if r["available"]:
            cells = [str(r["input_size"]), str(r["layers"]), str(r["leaf_layers"]), str(r["aliases"]),
                     f"{r['params'] / 1e6:.1f}M"]
        else:
            cells = ["—", "—", "—", "—", "—"]
        out.append(f"| `{r['name']}` | {r['paper']} | {src_name[r['source']]} | {arch} | " + " | ".join(cells)
                   + f" | {top1} | {SHORT.get(r['source'], '—') if r['top1'] is not None else '—'} |")
    out += ["", "Top-1 from:", "", *(f"- *{k}*: {v}" for k, v in FOOTNOTES.items())]
    out += ["", f"**Total**: {summary['scoreable_layers']:,} scoreable layers over {summary['available']} "
                f"available models ({summary['scoreable_leaf_layers']:,} of them leaf modules; "
                f"{summary['aliases']:,} alias modules not counted); the paper reports "
                f"{summary['paper_layers']:,} over 64.", "", *difference(summary), ""]
    notes = [r for r in rows if r["note"] or not r["available"]]
    if notes:
        out += ["## Notes", ""]
        for r in notes:
            out.append(f"- `{r['name']}`: {r['note'] or r['reason']}")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
