"""`memscore analyze layers|models` on stored per-layer tables equals scipy.stats.spearmanr; PNGs decode."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import spearmanr

from memscore_plugins.benchmarks.harada2023.commands import analyze
from memscore.scores import Score
from memscore.store import ResultStore, run_key

REGIONS = ("v1", "v2", "v4", "it")


def _put(store, model, bench, layers, meta=None, limit=None, weights="default"):
    best = max(layers, key=lambda r: r.get("raw", r["value"]))  # the committed layer
    s = Score(model=model, benchmark=bench, benchmark_version="1", value=best["value"], layers=layers,
              meta={"weights": weights, "config": {"limit": limit}, "layer": best["layer"], **(meta or {})})
    store.put(s, run_key(model, weights, bench, "1", {"limit": limit, "n": len(layers)}))
    return s


@pytest.fixture
def stored(tmp_path):
    rng = np.random.default_rng(0)
    store = ResultStore()
    truth = {r: [] for r in REGIONS}  # (x, y) pairs the analysis must find
    for mi, model in enumerate(["net-a", "net-b", "net-c", "net-d"]):
        names = [f"block{j}" for j in range(12 + mi)]
        mem = np.round(rng.uniform(0.2, 0.6, len(names)), 2)  # rounded: ties, as LaMem accuracies have
        _put(store, model, "lamem-pls", [{"layer": n, "value": float(v)} for n, v in zip(names, mem)])
        for region in REGIONS:
            raw = rng.uniform(0.1, 0.7, len(names))
            rows = [{"layer": n, "value": float(r ** 2 / 0.8), "raw": float(r)} for n, r in zip(names, raw)]
            # a neural score for a layer without a memorability score is left out of the join
            rows.append({"layer": "extra", "value": 0.6 ** 2 / 0.8, "raw": 0.6})
            _put(store, model, f"neural-{region}", rows, meta={"penultimate_layer": names[-2]})
            truth[region] += [(r ** 2 / 0.8, float(m)) for r, m in zip(raw, mem)]
    # an older smoke run (--limit) of net-a is ignored in favour of the full run
    _put(store, "net-a", "lamem-pls", [{"layer": "block0", "value": 0.99}], limit=10)
    _put(store, "net-z", "lamem-pls", [{"layer": "block0", "value": 0.3}])  # no neural score: not joined
    return truth


def test_analyze_layers_equals_scipy_and_writes_pngs(stored, tmp_path):
    from PIL import Image

    out = tmp_path / "out"
    r = CliRunner().invoke(analyze, ["layers", "--out", str(out)])
    assert r.exit_code == 0, r.output
    result = json.loads((out / "layers.json").read_text())
    for region in REGIONS:
        x, y = zip(*stored[region])
        ref = spearmanr(x, y)
        panel = result["panels"][region.upper()]
        assert panel["n"] == len(x) == 12 + 13 + 14 + 15 and panel["models"] == 4
        assert panel["rho"] == pytest.approx(ref.statistic, abs=1e-12)
        assert panel["p"] == pytest.approx(ref.pvalue, rel=1e-9)
        png = out / f"layers_{region}.png"
        with Image.open(png) as im:
            im.load()
            assert im.format == "PNG" and im.size == (500, 400)
    assert result["panels"]["IT"]["paper_rho"] == 0.82
    rows = list(csv.DictReader(open(out / "layers.csv")))
    assert len(rows) == 4 * 54 and {r["panel"] for r in rows} == {"V1", "V2", "V4", "IT"}
    assert "IT" in r.output and "0.82" in r.output

    # raw r instead of the ceiled value: the same rho here (r > 0, one ceiling), other numbers in the CSV
    r = CliRunner().invoke(analyze, ["layers", "--out", str(tmp_path / "raw"), "--value", "raw", "--no-plots",
                                     "-m", "net-a,net-b"])
    assert r.exit_code == 0, r.output
    raw = json.loads((tmp_path / "raw" / "layers.json").read_text())
    assert raw["panels"]["V1"]["n"] == 25 and not list((tmp_path / "raw").glob("*.png"))


def test_analyze_models_penultimate_and_best(stored, tmp_path):
    store = ResultStore()
    out = tmp_path / "m"
    r = CliRunner().invoke(analyze, ["models", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    mem = {s.model: s.value for s in store.query(benchmark="lamem-pls") if s.meta["config"]["limit"] is None}
    it = {s.model: s for s in store.query(benchmark="neural-it")}
    models = sorted(it)
    pen = [next(r["value"] for r in it[m].layers if r["layer"] == it[m].meta["penultimate_layer"]) for m in models]
    best = [it[m].value for m in models]
    y = [mem[m] for m in models]
    assert result["panels"]["penultimate"]["rho"] == pytest.approx(spearmanr(pen, y).statistic, abs=1e-12)
    assert result["panels"]["best"]["rho"] == pytest.approx(spearmanr(best, y).statistic, abs=1e-12)
    assert result["panels"]["best"]["n"] == 4 and (out / "models_penultimate.png").is_file()


def test_analyze_without_scores_is_one_line(tmp_path):
    from memscore.errors import MemscoreError

    r = CliRunner().invoke(analyze, ["layers", "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and isinstance(r.exception, MemscoreError)
    assert "no stored layer has both" in str(r.exception)
