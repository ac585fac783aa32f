"""Statistics over per-item outputs: the bootstrap equals a direct NumPy/scipy loop with the same seed,
Williams' t equals a published worked example, paired comparisons behave (A vs A, planted differences),
stored items round-trip and damaged ones are one line; `memscore compare` and `results` on a real store."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats as sps
from click.testing import CliRunner

from memscore.cli import main
from memscore.errors import DataError
from memscore.items import Items, items_of
from memscore.scores import Score
from memscore.stats import bootstrap_ci, compare, rows, williams
from run_fixture import put_run


def _groups(seed: int, noise: float, sizes=(40, 41, 43), quantise: float = 0.1):
    rng = np.random.default_rng(seed)
    out = []
    for k, n in enumerate(sizes, 1):
        y = np.round(rng.normal(size=n), 1)  # ties, as LaMem's 1/40 steps have
        p = np.round(y + noise * rng.normal(size=n), int(-np.log10(quantise)))
        out.append((k, [f"img{k}_{j}" for j in range(n)], p, y))
    return out


def test_row_correlations_equal_scipys_with_ties():
    rng = np.random.default_rng(0)
    a, b = np.round(rng.normal(size=(7, 30)), 1), np.round(rng.normal(size=(7, 30)), 1)
    for kind, ref in (("spearman", sps.spearmanr), ("pearson", sps.pearsonr)):
        got = rows(a, b, kind)
        np.testing.assert_allclose(got, [ref(x, y)[0] for x, y in zip(a, b)], rtol=0, atol=1e-12)
    assert np.isnan(rows(np.ones((1, 5)), rng.normal(size=(1, 5)))[0])  # a constant row has no correlation


def test_bootstrap_equals_a_direct_loop_with_the_same_seed():
    groups = _groups(1, 1.0)
    items = items_of(groups, layer="l")
    ci = bootstrap_ci(items, n_boot=300, seed=7)
    rng = np.random.default_rng(7)  # the reference: one resample at a time, scipy's Spearman
    idx = [np.array([rng.integers(0, len(g[1]), len(g[1])) for _ in range(300)]) for g in groups]
    reps = [np.mean([sps.spearmanr(p[i[b]], y[i[b]])[0] for (_, _, p, y), i in zip(groups, idx)])
            for b in range(300)]
    np.testing.assert_allclose(ci, np.quantile(reps, [0.025, 0.975]), rtol=0, atol=1e-12)
    point = np.mean([sps.spearmanr(p, y)[0] for _, _, p, y in groups])
    assert items.point() == pytest.approx(point, abs=1e-12) and ci[0] < point < ci[1]
    assert bootstrap_ci(items, n_boot=300, seed=8) != ci  # the seed matters


def test_groups_that_scored_the_same_items_are_resampled_jointly():
    """A transfer run's readouts (one per LaMem split) each predict the whole target set: one draw of images
    serves every readout, as a direct loop that resamples the images once per replicate."""
    rng0 = np.random.default_rng(3)
    y = np.round(rng0.normal(size=50), 1)
    ids = [f"t{j}" for j in range(50)]
    groups = [(k, ids, np.round(y + rng0.normal(size=50), 1), y) for k in range(1, 4)]
    ci = bootstrap_ci(items_of(groups, layer="l"), n_boot=200, seed=11)
    rng = np.random.default_rng(11)
    idx = rng.integers(0, 50, size=(200, 50))
    reps = [np.mean([sps.spearmanr(p[i], t[i])[0] for _, _, p, t in groups]) for i in idx]
    np.testing.assert_allclose(ci, np.quantile(reps, [0.025, 0.975]), rtol=0, atol=1e-12)


def test_williams_t_equals_howells_worked_example():
    # Howell, Statistical Methods for Psychology (6th ed., p. 262): r12 .80, r13 .72, r23 .89, n 26
    t, df, p = williams(0.80, 0.72, 0.89, 26)
    assert (round(t, 3), df, round(p, 3)) == (1.361, 23, 0.187)
    assert williams(0.5, 0.5, 0.3, 50) == (0.0, 47, 1.0)
    t_rev, _, p_rev = williams(0.72, 0.80, 0.89, 26)
    assert t_rev == pytest.approx(-t) and p_rev == pytest.approx(p)


def test_paired_comparison_of_a_model_with_itself_and_with_a_worse_one():
    good, bad = _groups(2, 0.3), None
    rng = np.random.default_rng(3)
    bad = [(k, ids, y + 1.5 * rng.normal(size=len(y)), y) for k, ids, _, y in good]  # same items, noisier
    a, b = items_of(good, layer="x"), items_of(bad, layer="y")
    same = compare(a, a, n_boot=200)
    assert same.delta == 0 and same.p == 1.0 and same.ci == [0.0, 0.0]
    assert all(w["t"] == 0 and w["p"] == 1 for w in same.williams)
    diff = compare(a, b, n_boot=500, seed=1)
    assert diff.delta == pytest.approx(a.point() - b.point(), abs=1e-12) and diff.delta > 0.3
    assert diff.ci[0] < diff.delta < diff.ci[1] and diff.ci[0] > 0 and diff.p < 0.01
    assert all(w["p"] < 0.05 and w["t"] > 0 for w in diff.williams)
    flipped = compare(b, a, n_boot=500, seed=1)
    assert flipped.delta == pytest.approx(-diff.delta) and flipped.p == diff.p
    other = items_of(_groups(2, 0.3, sizes=(40, 41, 44)), layer="z")
    with pytest.raises(ValueError, match="same items"):
        compare(a, other)


def test_items_round_trip_and_damaged_items_are_one_line():
    items = items_of(_groups(4, 0.5), layer="fc")
    back = Items.from_dict(json.loads(json.dumps(items.to_dict())))
    assert back.aligned(items) and back.layer == "fc"
    for a, b in zip(back.groups, items.groups):
        assert a.ids == b.ids and np.array_equal(a.prediction, b.prediction)
    d = items.to_dict()
    bad = json.loads(json.dumps(d))
    bad["groups"][0]["prediction"] = bad["groups"][0]["prediction"][:-8] + "AAAAAAA="
    bomb = json.loads(json.dumps(d))
    import base64
    import zlib
    bomb["groups"][0]["ids"] = base64.b64encode(zlib.compress(b"x" * 10_000_000)).decode()
    for doc in (bad, bomb, {**d, "statistic": "max"}, {**d, "groups": [{**d["groups"][0], "n": -1}]},
                {**d, "groups": [{**d["groups"][0], "n": 3}]}):
        with pytest.raises(DataError) as exc:
            Items.from_dict(doc, where="run x")
        assert "\n" not in str(exc.value) and str(exc.value).startswith("run x: its per-item outputs are damaged")


def _stored(model: str, groups, created: float) -> Score:
    items = items_of(groups, layer="l3")
    value = items.point()
    meta = {"weights": "none", "seed": 0, "created": created, "layer": "l3", "memscore_version": "0",
            "config": {"benchmark_args": {"pca": 10}, "model_args": {}, "seed": 0, "limit": None, "bf16": False,
                       "skip_bad_images": False},
            "data": {"name": "lamem", "fingerprint": "f" * 16, "counts": {"images": 124}}}
    return Score(model, "lamem-pls", "1", value, 0.01, None, value, [{"layer": "l3", "value": value}], [], meta,
                 ci=bootstrap_ci(items, n_boot=200), items=items.to_dict())


def test_compare_and_results_commands_on_a_store():
    from memscore.store import ResultStore

    st = ResultStore()
    rng = np.random.default_rng(5)
    good = _groups(6, 0.4)
    worse = [(k, ids, y + 1.2 * rng.normal(size=len(y)), y) for k, ids, _, y in good]
    a, b = put_run(st, _stored("net-a", good, 1.0)), put_run(st, _stored("net-b", worse, 2.0))
    r = CliRunner().invoke(main, ["compare", "net-a", "net-b", "-b", "lamem-pls", "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["delta"] == a.value - b.value and out["ci"][0] < out["delta"] < out["ci"][1] and out["p"] < 0.05
    r = CliRunner().invoke(main, ["compare", "net-a", "net-a", "-b", "lamem-pls", "--format", "json"])
    same = json.loads(r.stdout)
    assert same["delta"] == 0 and same["p"] >= 0.99
    r = CliRunner().invoke(main, ["compare", "-b", "lamem-pls", "--models", "net-a,net-b,net-a"])
    assert r.exit_code == 0 and r.stdout.count("net-a") >= 2
    r = CliRunner().invoke(main, ["results", "--format", "json"])
    docs = json.loads(r.stdout)
    assert all(d["ci"][0] <= d["value"] <= d["ci"][1] and "items" not in d for d in docs)
    assert "95% CI" in CliRunner().invoke(main, ["results"]).stdout
    old = _stored("net-old", good, 3.0)
    old.items = None
    put_run(st, old)
    r = CliRunner().invoke(main, ["compare", "net-a", "net-old", "-b", "lamem-pls"])
    assert r.exit_code == 1 and "has no per-item outputs" in r.output and "--force" in r.output
    r = CliRunner().invoke(main, ["compare", "net-a", "nobody", "-b", "lamem-pls"])
    assert r.exit_code == 1 and "no stored run of 'nobody'" in r.output


def test_the_board_shows_cis_and_marks_ties_with_the_best():
    from memscore.leaderboard import build_board
    from memscore.store import ResultStore

    st = ResultStore()
    rng = np.random.default_rng(9)
    good = _groups(10, 0.4, sizes=(120, 120, 120))
    near = [(k, ids, p + 0.01 * rng.normal(size=len(p)), y) for k, ids, p, y in good]  # indistinguishable
    worse = [(k, ids, y + 1.5 * rng.normal(size=len(y)), y) for k, ids, _, y in good]
    for name, g, t in (("net-a", good, 1.0), ("net-near", near, 2.0), ("net-b", worse, 3.0)):
        put_run(st, _stored(name, g, t))
    board = build_board(benchmarks=["lamem-pls"])
    cells = {m["model"]: m["scores"]["lamem-pls"] for m in board["models"]}
    best = max(cells, key=lambda m: cells[m]["value"])
    assert best in ("net-a", "net-near") and cells[best].get("best")
    other = "net-near" if best == "net-a" else "net-a"
    assert cells[other]["tied"] is True and cells["net-b"]["tied"] is False
    assert all(c["ci"][0] <= c["value"] <= c["ci"][1] for c in cells.values())
    assert any("≈ marks 1 score" in n for n in board["notes"])


def test_figure_rho_inference_equals_a_direct_loop():
    from memscore.stats import rho_inference

    rng = np.random.default_rng(11)
    x = rng.normal(size=40)
    y = x + rng.normal(size=40)
    got = rho_inference(x, y, n_boot=200, n_perm=200, seed=4)
    r = np.random.default_rng(4)  # the reference: same draws, scipy's Spearman one at a time
    idx = r.integers(0, 40, size=(200, 40))
    boot = [sps.spearmanr(x[i], y[i])[0] for i in idx]
    perm = [sps.spearmanr(x, r.permutation(y))[0] for _ in range(200)]
    rho = sps.spearmanr(x, y)[0]
    np.testing.assert_allclose(got["ci"], np.quantile(boot, [0.025, 0.975]), atol=1e-12)
    assert got["p_perm"] == (1 + sum(abs(p) >= abs(rho) - 1e-12 for p in perm)) / 201
    assert got["ci"][0] < rho < got["ci"][1] and got["p_perm"] < 0.01


def test_neural_items_bootstrap_equals_a_direct_loop_and_round_trip():
    """A neural run's items (folds of stimuli x sites, median-pearson, r²/ceiling): the point is the run's value,
    the CI a direct scipy loop's (each fold's stimuli resampled, sites kept whole), packed as float32 round trip,
    A vs A compares to 0 and the index keeps a stub."""
    from memscore.items import index_form, is_stub

    rng = np.random.default_rng(12)
    groups = []
    for k, n in enumerate((30, 31)):
        t = rng.normal(size=(n, 5))
        groups.append((k, [f"s{k}_{i}" for i in range(n)], t + rng.normal(size=(n, 5)), t))
    items = items_of(groups, layer="l", statistic="median-pearson", ceiling=0.8)
    got = bootstrap_ci(items, n_boot=120, seed=3)
    held = [(g.prediction, g.target) for g in items.groups]  # float32-held values (what the run file keeps)
    point = np.mean([np.median([sps.pearsonr(p[:, j], t[:, j])[0] for j in range(5)]) for p, t in held]) ** 2 / 0.8
    assert items.point() == pytest.approx(point, abs=1e-12)
    r = np.random.default_rng(3)
    draws = [r.integers(0, len(p), size=(120, len(p))) for p, _ in held]
    reps = []
    for b in range(120):
        per_fold = [np.median([sps.pearsonr(p[i[b], j], t[i[b], j])[0] for j in range(5)])
                    for (p, t), i in zip(held, draws)]
        reps.append(np.mean(per_fold) ** 2 / 0.8)
    np.testing.assert_allclose(got, np.quantile(reps, [0.025, 0.975]), rtol=0, atol=1e-12)
    back = Items.from_dict(json.loads(json.dumps(items.to_dict())))
    assert back.aligned(items) and back.ceiling == 0.8 and bootstrap_ci(back, n_boot=120, seed=3) == got
    same = compare(items, back, n_boot=200)
    assert same.delta == 0 and same.p == 1 and same.williams == []
    assert is_stub(index_form(items.to_dict())) and not is_stub(index_form(items_of(_groups(1, 1.0), layer="l").to_dict()))
