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
from memscore.record import run_key
from memscore.store import ResultStore

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


# ---------------------------------------------------------------------------------------------
# `memscore analyze figures`: Figs. 2, 3, 4A, 4B, S1 from Scores stored directly (no model runs)
# ---------------------------------------------------------------------------------------------
IMAGENET = {"net-a": 56.5, "net-b": 69.8, "net-c": 76.1, "net-d": 80.0, "net-e": 72.0, "net-f": None}
LAMEM_FP, NEURAL_FP, FT_FP = "lamem" + "0" * 27, "majaj" + "0" * 27, "lamft" + "0" * 27


def _store(model, bench, *, layers=(), value=None, splits=(), weights="default", seed=0, model_args=None,
           limit=None, fp=None, meta=None, tag=""):
    """Store a Score as the API would (weights, seed, config, data fingerprint in meta); returns it."""
    layers = [dict(r) for r in layers]
    if value is None:
        value = max(r["value"] for r in layers) if layers else float(np.mean([r["value"] for r in splits]))
    config = {"model_args": model_args or {}, "seed": seed, "limit": limit, "benchmark_args": {}}
    m = {"weights": weights, "seed": seed, "config": config,
         "data": None if fp is None else {"name": bench, "fingerprint": fp}, **(meta or {})}
    if layers:
        m.setdefault("layer", max(layers, key=lambda r: r["value"])["layer"])
    s = Score(model=model, benchmark=bench, benchmark_version="1", value=value, layers=layers,
              splits=[dict(r) for r in splits], meta=m)
    ResultStore().put(s, run_key(model, weights, bench, "1", {"config": config, "data": fp, "tag": tag}))
    return s


def _layers(rng, n, depth=None):
    return [{"layer": f"L{i}", "value": float(v), **({"depth": depth(i, n)} if depth else {})}
            for i, v in enumerate(np.round(rng.uniform(0.1, 0.6, n), 2))]


def _neural(rng, names):
    raw = rng.uniform(0.1, 0.8, len(names))
    return [{"layer": n, "value": float(r ** 2 / 0.7), "raw": float(r)} for n, r in zip(names, raw)]


@pytest.fixture
def fake_registry(monkeypatch):
    """The model registry the figures read ImageNet top-1 (and fine-tuned exports' sha256) from."""
    from memscore import pluginmanager
    from memscore.registry import Registry

    reg = Registry()
    register = reg.registrar("model", "test-zoo")
    for name, top1 in IMAGENET.items():
        register(name, "x:y", **({} if top1 is None else {"imagenet_top1": top1}))
    register("finetuned:net-e@lamem2", "x:y", sha256="a" * 64)
    monkeypatch.setattr(pluginmanager, "registry", lambda: reg)
    return reg


@pytest.fixture
def paper_store(fake_registry):
    """Six ImageNet models (one without top-1) plus a random-init one, fine-tuned on splits 1 and 2; returns
    the (x, y) pairs each figure must find and what it must leave out."""
    rng = np.random.default_rng(1)
    truth = {f"fig2_{r}": [] for r in REGIONS} | {"fig3": [], "fig4a": [], "fig4b": [], "figS1": []}
    models = [(m, "default") for m in IMAGENET] + [("net-g", "none")]
    for i, (model, weights) in enumerate(models):
        n = 6 + i
        depth = (lambda j, k: (j / (k - 1)) ** 0.5) if model in ("net-a", "net-b") else None
        mem = _layers(rng, n, depth)
        if model == "net-a":  # an earlier run of the same key: history, never used
            _store(model, "lamem-pls", layers=[{**r, "value": 0.9} for r in mem], weights=weights, fp=LAMEM_FP)
        _store(model, "lamem-pls", layers=mem, weights=weights, fp=LAMEM_FP)
        names = [r["layer"] for r in mem]
        for region in REGIONS:
            rows = _neural(rng, names)
            _store(model, f"neural-{region}", layers=rows, weights=weights, fp=NEURAL_FP,
                   meta={"penultimate_layer": names[-2]})
            truth[f"fig2_{region}"] += [(r["value"], m["value"]) for r, m in zip(rows, mem)]
            if region == "it" and weights == "default" and IMAGENET[model] is not None:
                truth["fig4a"].append((IMAGENET[model], rows[-2]["value"]))
                truth["fig4b"].append((IMAGENET[model], max(r["value"] for r in rows)))
        ft = [{"split": k, "value": float(np.round(rng.uniform(0.4, 0.7), 3)), "model": f"finetuned:{model}@lamem{k}"}
              for k in (1, 2)]
        f = _store(model, "lamem-finetune", splits=ft, weights=weights, fp=FT_FP)
        if weights == "default" and IMAGENET[model] is not None:
            truth["figS1"].append((IMAGENET[model], f.value))
        if weights == "none":
            continue  # its fine-tuned models have no neural-it score: left out of Fig. 3
        for row in ft:
            name = row["model"]
            rows = _neural(rng, names)
            seed = 1 if name == "finetuned:net-d@lamem2" else 0  # seed differs from its fine-tuning: not joined
            w = "default:sha256=" + "b" * 64 if name == "finetuned:net-e@lamem2" else "default"  # stale export
            _store(name, "neural-it", layers=rows, weights=w, seed=seed, fp=NEURAL_FP,
                   meta={"penultimate_layer": names[-2]})
            if seed == 0 and w == "default":
                truth["fig3"].append((rows[-2]["value"], row["value"]))
    return truth


def _check(panel, pairs):
    x, y = zip(*pairs)
    ref = spearmanr(x, y)
    assert panel["n"] == len(pairs)
    assert panel["rho"] == pytest.approx(ref.statistic, abs=1e-12)
    assert panel["p"] == pytest.approx(ref.pvalue, rel=1e-9)
    # every figure's rho carries its seeded bootstrap CI over the points and a permutation p (memscore.stats)
    from memscore.stats import rho_inference

    inf = rho_inference(x, y)
    assert panel["ci"] == pytest.approx(inf["ci"]) and panel["p_perm"] == pytest.approx(inf["p_perm"])
    assert panel["ci"][0] <= panel["rho"] <= panel["ci"][1] and 0 < panel["p_perm"] <= 1


def _why(panel, benchmark, text):
    return [g for g in panel["left_out"] if g["benchmark"] == benchmark and text in g["why"]]


def test_figures_equal_scipy_on_the_stored_values(paper_store, tmp_path):
    out = tmp_path / "figs"
    r = CliRunner().invoke(analyze, ["figures", "--out", str(out)])
    assert r.exit_code == 0, r.output
    index = json.loads((out / "figures.json").read_text())
    assert list(index["figures"]) == ["fig2", "fig3", "fig4a", "fig4b", "figS1"]

    fig2 = json.loads((out / "fig2.json").read_text())
    for region in REGIONS:
        _check(fig2["panels"][region.upper()], paper_store[f"fig2_{region}"])
        assert fig2["panels"][region.upper()]["models"] == 7
    fig3 = json.loads((out / "fig3.json").read_text())
    _check(fig3["panels"]["finetuned"], paper_store["fig3"])
    assert fig3["n"] == 10 and fig3["rho"] == fig3["panels"]["finetuned"]["rho"]
    p3 = fig3["panels"]["finetuned"]
    assert _why(p3, "neural-it", "seed differs")[0]["models"] == ["finetuned:net-d@lamem2"]
    assert _why(p3, "neural-it", "stale")[0]["models"] == ["finetuned:net-e@lamem2"]
    assert _why(p3, "lamem-finetune", "no neural-it run")[0]["models"] == ["finetuned:net-g@lamem1",
                                                                         "finetuned:net-g@lamem2"]
    for fig, panel in (("fig4a", "penultimate"), ("fig4b", "best"), ("figS1", "top1")):
        res = json.loads((out / f"{fig}.json").read_text())
        _check(res["panels"][panel], paper_store[fig])
        assert res["n"] == 5  # net-f has no top-1, net-g random weights
        bench = "lamem-finetune" if fig == "figS1" else "neural-it"
        assert _why(res["panels"][panel], bench, "no ImageNet top-1")[0]["models"] == ["net-f"]
        assert _why(res["panels"][panel], bench, "default weights")[0]["models"] == ["net-g"]
        assert res["panels"][panel]["data"][bench]["fingerprint"] in (NEURAL_FP, FT_FP)
    # every figure: CSV rows = points, PNG files exist and are not empty
    for fig, pngs in (("fig2", [f"fig2_{r}.png" for r in REGIONS] + ["fig2_rho.png"]), ("fig3", ["fig3.png"]),
                      ("fig4a", ["fig4a.png"]), ("fig4b", ["fig4b.png"]), ("figS1", ["figS1.png"])):
        res = json.loads((out / f"{fig}.json").read_text())
        rows = list(csv.DictReader(open(out / f"{fig}.csv")))
        assert len(rows) == sum(p["n"] for p in res["panels"].values())
        for png in pngs:
            assert (out / png).stat().st_size > 1000 and (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert str(out / png) in index["files"]
    assert "paper" not in index["figures"]["fig3"] and "fig3" in r.output and "Δ" not in r.output


def test_figures_paper_flag(paper_store, tmp_path):
    plain, paper = tmp_path / "plain", tmp_path / "paper"
    assert CliRunner().invoke(analyze, ["figures", "--out", str(plain), "--only", "fig3"]).exit_code == 0
    r = CliRunner().invoke(analyze, ["figures", "--out", str(paper), "--paper"])
    assert r.exit_code == 0, r.output
    expected = {("fig2", "V1"): 0.37, ("fig2", "V2"): 0.76, ("fig2", "V4"): 0.21, ("fig2", "IT"): 0.82,
                ("fig3", "finetuned"): 0.56, ("fig4a", "penultimate"): -0.39, ("fig4b", "best"): 0.57,
                ("figS1", "top1"): None}
    for (fig, panel), value in expected.items():
        res = json.loads((paper / f"{fig}.json").read_text())
        block = res["paper"]["panels"][panel]
        assert block["paper"] == value and res["panels"][panel]["paper_rho"] == value
        assert block["ours"] == res["panels"][panel]["rho"]
        assert block["difference"] == (None if value is None else pytest.approx(block["ours"] - value))
        assert "arXiv 2303.07679" in res["paper"]["source"]
    assert "paper" not in json.loads((plain / "fig3.json").read_text())
    assert (plain / "fig3.png").read_bytes() != (paper / "fig3.png").read_bytes()  # the overlay is drawn
    assert "Δ" in r.output and "0.56" in r.output and "-0.39" in r.output
    assert not (plain / "fig2.json").exists()  # --only


def test_figures_leave_out_the_minority_fingerprint(fake_registry, tmp_path):
    rng = np.random.default_rng(2)
    pairs = {"fig4a": [], "fig2_it": []}
    for i, model in enumerate(["net-a", "net-b", "net-c", "net-d", "net-e", "net-f"]):
        mem = _layers(rng, 8)
        _store(model, "lamem-pls", layers=mem, fp=LAMEM_FP)
        rows = _neural(rng, [r["layer"] for r in mem])
        # net-d and net-e were scored on other neural data; net-f without a fingerprint (an older key form)
        fp = {"net-d": "other" + "0" * 27, "net-e": "other" + "0" * 27, "net-f": None}.get(model, NEURAL_FP)
        _store(model, "neural-it", layers=rows, fp=fp, meta={"penultimate_layer": "L6"})
        if fp == NEURAL_FP:
            pairs["fig4a"].append((IMAGENET[model], rows[6]["value"]))
            pairs["fig2_it"] += [(r["value"], m["value"]) for r, m in zip(rows, mem)]
    # a second majority run: so the majority is 4 runs (3 models + net-a's other seed), not 3 against 2; one
    # point per model in Fig. 4A: net-a's newer run (seed 1)
    rows = _neural(rng, [f"L{i}" for i in range(8)])
    _store("net-a", "neural-it", layers=rows, seed=1, fp=NEURAL_FP, meta={"penultimate_layer": "L6"})
    pairs["fig4a"][0] = (IMAGENET["net-a"], rows[6]["value"])
    out = tmp_path / "mixed"
    r = CliRunner().invoke(analyze, ["figures", "--out", str(out), "--only", "fig2,fig4a", "--no-plots"])
    assert r.exit_code == 0, r.output
    fig4a = json.loads((out / "fig4a.json").read_text())["panels"]["penultimate"]
    _check(fig4a, pairs["fig4a"])
    assert fig4a["data"]["neural-it"]["fingerprint"] == NEURAL_FP
    assert fig4a["data"]["neural-it"]["fingerprints"] == {NEURAL_FP[:10]: 4, "other00000": 2, "none": 1}
    other = _why(fig4a, "neural-it", "other data")
    assert len(other) == 1 and other[0]["rows"] == 2 and other[0]["models"] == ["net-d", "net-e"]
    assert "not mixed" in other[0]["why"]
    assert _why(fig4a, "neural-it", "without a data fingerprint")[0]["models"] == ["net-f"]
    assert _why(fig4a, "neural-it", "other seed")[0]["models"] == ["net-a"]  # one point per model
    it = json.loads((out / "fig2.json").read_text())["panels"]["IT"]
    _check(it, pairs["fig2_it"])
    assert _why(it, "neural-it", "other data")[0]["rows"] == 2
    # net-a's seed-1 neural run has no lamem-pls partner with that seed: not joined, and said so
    assert _why(it, "neural-it", "same weights, model args and seed")[0]["models"] == ["net-a"]
    assert not list(out.glob("*.png"))


def test_figures_join_on_weights_model_args_and_seed(fake_registry, tmp_path):
    rng = np.random.default_rng(3)
    pairs = []
    for model in ["net-a", "net-b", "net-c", "net-d"]:
        mem = _layers(rng, 7)
        _store(model, "lamem-pls", layers=mem, fp=LAMEM_FP)
        rows = _neural(rng, [r["layer"] for r in mem])
        _store(model, "neural-v4", layers=rows, fp=NEURAL_FP)
        pairs += [(r["value"], m["value"]) for r, m in zip(rows, mem)]
        # runs that must not join the ones above: other weights, other model args, other seed
        _store(model, "neural-v4", layers=_neural(rng, [r["layer"] for r in mem]), weights="none", fp=NEURAL_FP)
        _store(model, "neural-v4", layers=_neural(rng, [r["layer"] for r in mem]), model_args={"image_size": 160},
               fp=NEURAL_FP)
        _store(model, "lamem-pls", layers=_layers(rng, 7), seed=3, fp=LAMEM_FP)
    out = tmp_path / "join"
    r = CliRunner().invoke(analyze, ["figures", "--out", str(out), "--only", "fig2", "--json"])
    assert r.exit_code == 0, r.output
    v4 = json.loads(r.output)["figures"]["fig2"]["panels"]["V4"]
    _check(v4, pairs)
    assert sum(g["rows"] for g in _why(v4, "neural-v4", "no lamem-pls run")) == 8
    assert _why(v4, "lamem-pls", "no neural-v4 run")[0]["rows"] == 4


def test_figures_only_is_checked_and_empty_store_is_one_line(tmp_path):
    from memscore.errors import MemscoreError, OptionError

    r = CliRunner().invoke(analyze, ["figures", "--out", str(tmp_path / "x"), "--only", "fig9"])
    assert isinstance(r.exception, OptionError) and "fig2, fig3, fig4a, fig4b, figS1" in str(r.exception)
    r = CliRunner().invoke(analyze, ["figures", "--out", str(tmp_path / "x")])
    assert isinstance(r.exception, MemscoreError) and "no stored scores for any of the requested figures" in str(
        r.exception)
    assert "\n" not in str(r.exception)


def test_layers_draws_depth_profiles(paper_store, tmp_path):
    out = tmp_path / "layers"
    r = CliRunner().invoke(analyze, ["layers", "--out", str(out), "--paper"])
    assert r.exit_code == 0, r.output
    result = json.loads((out / "layers.json").read_text())
    prof = {p["model"]: p for p in result["profiles"]["models"]}
    assert sorted(prof) == ["net-a", "net-b", "net-c", "net-d", "net-e", "net-f", "net-g"]
    # net-a's lamem-pls rows carry depth; its neural rows take it by layer name; net-c's rows carry none
    assert prof["net-a"]["depth"]["lamem-pls"] == "stored"
    assert prof["net-a"]["depth"]["neural-it"].startswith("stored by another benchmark")
    assert prof["net-c"]["depth"] == {b: "index/(n-1) in the stored row order (the rows carry no depth)"
                                      for b in ["lamem-pls", "neural-it", "neural-v1", "neural-v2", "neural-v4"]}
    assert "index/(n-1)" in result["profiles"]["depth"]
    for p in prof.values():
        png = out / "profiles" / f"{p['model']}.png"
        assert p["png"] == str(png) and png.stat().st_size > 1000
    rows = list(csv.DictReader(open(out / "layers_profiles.csv")))
    c = [r for r in rows if r["model"] == "net-c" and r["benchmark"] == "lamem-pls"]
    assert [float(r["depth"]) for r in c] == pytest.approx([i / (len(c) - 1) for i in range(len(c))])
    a = [r for r in rows if r["model"] == "net-a" and r["benchmark"] == "neural-v2"]
    assert [float(r["depth"]) for r in a] == pytest.approx([(i / 5) ** 0.5 for i in range(6)])
    assert result["paper"]["panels"]["IT"]["paper"] == 0.82
    assert (out / "layers_rho.png").stat().st_size > 1000
    _check(result["panels"]["IT"], paper_store["fig2_it"])


def test_runs_of_another_neural_metric_never_enter_fig2(stored, tmp_path):
    """A newer neural-it run with metric=rsa (metric=pls,rsa,cka stores one each) is left out, with the reason:
    Fig. 2 keeps reading the pls runs, and its rho is unchanged."""
    out = tmp_path / "before"
    assert CliRunner().invoke(analyze, ["layers", "--out", str(out), "--no-plots"]).exit_code == 0
    before = json.loads((out / "layers.json").read_text())["panels"]["IT"]["rho"]
    store = ResultStore()
    names = [f"block{j}" for j in range(12)]
    s = Score(model="net-a", benchmark="neural-it", benchmark_version="1", value=0.9,
              layers=[{"layer": n, "value": 0.9 - 0.01 * j, "raw": 0.9} for j, n in enumerate(names)],
              meta={"weights": "default", "config": {"limit": None, "benchmark_args": {"metric": "rsa"}},
                    "layer": names[0], "created": 10**10})
    store.put(s, run_key("net-a", "default", "neural-it", "1", {"metric": "rsa"}))
    out = tmp_path / "after"
    assert CliRunner().invoke(analyze, ["layers", "--out", str(out), "--no-plots"]).exit_code == 0
    after = json.loads((out / "layers.json").read_text())
    assert after["panels"]["IT"]["rho"] == before
    assert "metric=rsa" in json.dumps(after)


def test_agreement_recomputes_fig2_per_metric_and_kendall_between_them(stored, tmp_path):
    """pls runs (the fixture) and rsa runs of every model on neural-it: Fig. 2's rho per metric equals scipy's on
    that metric's points, and Kendall's tau between the metrics' layer values equals scipy's."""
    from scipy.stats import kendalltau

    store = ResultStore()
    rng = np.random.default_rng(5)
    rsa_points = {}
    for mi, model in enumerate(["net-a", "net-b", "net-c", "net-d"]):
        names = [f"block{j}" for j in range(12 + mi)]
        vals = rng.uniform(0.1, 0.9, len(names))
        rows = [{"layer": n, "value": float(v), "raw": float(v)} for n, v in zip(names, vals)]
        s = Score(model=model, benchmark="neural-it", benchmark_version="1", value=float(vals.max()), layers=rows,
                  meta={"weights": "default", "config": {"limit": None, "benchmark_args": {"metric": "rsa"}},
                        "layer": names[int(vals.argmax())]})
        store.put(s, run_key(model, "default", "neural-it", "1", {"metric": "rsa", "n": len(names)}))
        rsa_points.update({(model, n): float(v) for n, v in zip(names, vals)})
    r = CliRunner().invoke(analyze, ["agreement", "--out", str(tmp_path / "a"), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert set(res["metrics"]) == {"pls", "rsa"}
    x, y = zip(*stored["it"])
    assert res["metrics"]["pls"]["rho"] == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert res["metrics"]["pls"]["ci"][0] <= res["metrics"]["pls"]["rho"] <= res["metrics"]["pls"]["ci"][1]
    pls = {}
    for s in ResultStore().query(benchmark="neural-it"):
        if "metric" not in ((s.meta.get("config") or {}).get("benchmark_args") or {}):
            pls.update({(s.model, row["layer"]): row["value"] for row in s.layers})
    common = sorted(pls.keys() & rsa_points.keys())
    want = kendalltau([pls[k] for k in common], [rsa_points[k] for k in common]).statistic
    (pair,) = res["pairs"]
    assert pair["layers"] == len(common) and pair["tau_layers"] == pytest.approx(want, abs=1e-12)
    assert (tmp_path / "a" / "agreement_IT.png").is_file() and (tmp_path / "a" / "agreement.csv").is_file()


def test_transfer_profiles_per_model(tmp_path):
    """memcat-pls and lamem-to-memcat runs of two models: per model the layers both scored, Spearman between
    the two depth profiles (= scipy), the transfer's layer as stored; a model with one of the two is left out."""
    store = ResultStore()
    rng = np.random.default_rng(7)
    want = {}
    for model in ("net-a", "net-b"):
        names = [f"block{j}" for j in range(10)]
        within = rng.uniform(0.2, 0.8, 10)
        trans = within * 0.5 + rng.normal(0, 0.05, 10)
        for bench, vals in (("memcat-pls", within), ("lamem-to-memcat", trans)):
            rows = [{"layer": n, "value": float(v), "depth": j / 9} for j, (n, v) in enumerate(zip(names, vals))]
            _put(store, model, bench, rows)
        want[model] = spearmanr(within, trans).statistic
    _put(store, "net-c", "memcat-pls", [{"layer": "block0", "value": 0.5}])
    r = CliRunner().invoke(analyze, ["transfer", "--out", str(tmp_path / "t"), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert set(res["models"]) == {"net-a@default", "net-b@default"}
    for model, rho in want.items():
        m = res["models"][f"{model}@default"]
        assert m["layers"] == 10 and m["rho_profiles"] == pytest.approx(rho, abs=1e-12)
    assert any("net-c" in json.dumps(x) for x in res["left_out"])
    assert len(list((tmp_path / "t").glob("transfer_*.png"))) == 2
    r = CliRunner().invoke(analyze, ["transfer", "--target", "things", "--out", str(tmp_path / "u")])
    assert r.exit_code != 0 and "use one of memcat, figrim, things-memorability, memorability-csv" in str(r.exception)


def test_board_and_analyze_count_the_same_runs_for_fig2(paper_store, tmp_path):
    """One selection policy (memscore.selection) serves the board and `analyze`: with runs it leaves out (a
    smoke-only model, a fine-tuned model's lamem-pls run beside its neural-it runs, a neural run on other data),
    the board's Fig. 2 (IT) and `analyze figures` count the same layers and give one rho — scipy's on the truth;
    with --include-smoke both count the smoke-only model too."""
    from memscore.leaderboard import build_board
    from memscore_plugins.benchmarks.harada2023.analysis import analyze_figures

    rng = np.random.default_rng(9)
    names = [f"L{i}" for i in range(8)]
    smoke = (_layers(rng, 8), _neural(rng, names))
    _store("net-s", "lamem-pls", layers=smoke[0], limit=10, fp=LAMEM_FP)
    _store("net-s", "neural-it", layers=smoke[1], limit=10, fp=NEURAL_FP)
    _store("finetuned:net-a@lamem1", "lamem-pls", layers=_layers(rng, 6), fp=LAMEM_FP)
    _store("net-o", "lamem-pls", layers=_layers(rng, 8), fp=LAMEM_FP)
    _store("net-o", "neural-it", layers=_neural(rng, names), fp="other" + "0" * 27)
    for include_smoke, extra in ((False, []), (True, [(n["value"], m["value"]) for n, m in zip(smoke[1], smoke[0])])):
        truth = paper_store["fig2_it"] + extra
        panel = analyze_figures(out=tmp_path / f"f{include_smoke}", figures=["fig2"], plots=False,
                                include_smoke=include_smoke)["figures"]["fig2"]["panels"]["IT"]
        board = build_board(include_smoke=include_smoke)
        fig = next(f for f in board["figures"] if f["id"] == "fig2-it")
        x, y = zip(*truth)
        assert panel["n"] == fig["n"] == len(truth)
        assert panel["rho"] == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
        assert fig["rho"] == pytest.approx(panel["rho"], abs=1e-12)
        assert sorted((p["x"], p["y"]) for p in fig["points"]) == sorted(truth)
        assert not [p for p in fig["points"] if p["model"].startswith("finetuned:")]
        assert [g for g in fig["left_out"] if "other data" in g["why"] and g["models"] == ["net-o"]]
