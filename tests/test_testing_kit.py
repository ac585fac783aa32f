"""The plugin test kit (memscore.testing) passes on good plugins and names what a broken one breaks."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from memscore import hookimpl
from memscore.model import Model, Preprocessing
from memscore.testing import CheckFailed, check_benchmark, check_model


class _Net(nn.Module):
    def __init__(self, nan: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc = nn.Linear(128, 10)
        self.nan = nan

    def forward(self, x):
        out = self.fc(self.pool(self.conv(x)).flatten(1))
        return out * float("nan") if self.nan else out


def good(weights="default"):
    return Model("good", _Net(), Preprocessing(crop_size=32, resize_size=36), weights=str(weights), head="fc")


def nan_output(weights="default"):
    return Model("nan", _Net(nan=True), Preprocessing(crop_size=32, resize_size=36), weights=str(weights))


def not_a_model(weights="default"):
    return _Net()


def bad_preprocessing(weights="default"):
    return Model("badprep", _Net(), Preprocessing(crop_size=32, resize_size=36, mean=(0.5,), std=(0.2,)),
                 weights=str(weights))


class _Plugin:
    @hookimpl
    def register_models(self, register):
        for f in (good, nan_output, not_a_model, bad_preprocessing):
            register(f"kit-{f.__name__}", f, description="kit test")


@pytest.fixture
def kit_models(monkeypatch):
    from memscore.pluginmanager import get_plugins

    plugins = get_plugins(reload=True)
    plugins.add("kit-test", _Plugin())
    yield
    get_plugins(reload=True)


def _without_subprocess(monkeypatch):
    """In-process test plugins are invisible to a subprocess: skip only the listing check for them."""
    import memscore.testing as t

    real = t.model_checks

    def checks(name, **kw):
        return [(n, f) for n, f in real(name, **kw) if n != "listing_is_torch_free"]

    monkeypatch.setattr(t, "model_checks", checks)


def test_a_good_model_passes(kit_models, monkeypatch):
    _without_subprocess(monkeypatch)
    passed = check_model("kit-good")
    assert "forwards_at_its_input_size" in passed and "head_can_be_replaced" in passed


@pytest.mark.parametrize("name, broken", [
    ("kit-nan_output", "forwards_at_its_input_size"),
    ("kit-not_a_model", "builds_without_weights"),
    ("kit-bad_preprocessing", "declares_preprocessing"),
])
def test_a_broken_model_fails_naming_the_check(kit_models, monkeypatch, name, broken):
    _without_subprocess(monkeypatch)
    with pytest.raises(CheckFailed) as e:
        check_model(name)
    assert broken in str(e.value)


def test_listing_that_imports_torch_is_caught(tmp_path, monkeypatch):
    """A real third-party distribution whose registration imports torch fails the listing check."""
    import sys

    from plugin_dist import write_distribution

    root = write_distribution(tmp_path / "site", "heavy_plugin", source='''
import torch  # a registration module must not do this
from memscore import hookimpl

@hookimpl
def register_models(register):
    register("heavy-net", "memscore_toy_impl:build")
''')
    monkeypatch.setenv("PYTHONPATH", str(root) + ":" + ":".join(sys.path))
    with pytest.raises(CheckFailed, match="listing_is_torch_free: .*imported torch"):
        check_model("heavy-net")


def test_lamem_pls_meets_the_benchmark_contract(tmp_path, memscore_home):
    from lamem_fixture import build_lamem

    a = build_lamem(tmp_path / "a", 80, image_size=32)
    b = build_lamem(tmp_path / "b", 80, image_size=32, shuffled=True)
    passed = check_benchmark("lamem-pls", data_root=a, other_data_root=b,
                             benchmark_args={"splits": "1", "image_size": 32, "layers": "decoder.avgpool", "pca": 20})
    assert {"config_follows_every_argument", "key_follows_the_data_and_limit",
            "score_round_trips_and_is_stored", "no_data_root_is_one_line"} <= set(passed)
    # the kit ran in a home of its own: nothing was stored or cached in the caller's
    assert not memscore_home.exists() or not any(memscore_home.iterdir())
    kept = tmp_path / "kit-home"
    check_benchmark("lamem-pls", data_root=a, run=True, home=kept,
                    benchmark_args={"splits": "1", "image_size": 32, "layers": "decoder.avgpool", "pca": 20})
    assert list((kept / "runs").rglob("*.json"))  # home= keeps one where asked


def test_a_benchmark_that_ignores_an_argument_fails(monkeypatch):
    import memscore_plugins.benchmarks.lamem.benchmark as lb

    real = lb.LamemPLS.config
    monkeypatch.setattr(lb.LamemPLS, "config", lambda self: {k: v for k, v in real(self).items()
                                                             if k != "n_components"})
    with pytest.raises(CheckFailed, match="n_components=26 leaves config"):
        check_benchmark("lamem-pls")


def test_check_plugin_command(memscore_home):
    from memscore.cli import main

    r = CliRunner().invoke(main, ["check-plugin", "cornet", "--example", "cornet:z"])
    assert r.exit_code == 0, r.output
    assert not memscore_home.exists() or not any(memscore_home.iterdir())  # the user's store is untouched
    assert "ok     model cornet:z" in r.output
    r = CliRunner().invoke(main, ["check-plugin", "no-such-plugin"])
    assert r.exit_code == 1 and "neither an installed plugin" in r.output


# -- metrics ---------------------------------------------------------------------------------------
class _ReadsAllRows:
    """A "correlation" that correlates every row, not the fold's test rows: leaks the train part."""

    def __call__(self, X, Y, folds):
        from scipy.stats import pearsonr

        from memscore.metrics import FoldResult

        return [FoldResult(value=float(pearsonr(X, Y)[0])) for _ in folds]


class _OneResult:
    def __call__(self, X, Y, folds):
        from memscore.metrics import FoldResult

        return [FoldResult(value=0.5)]


class _MetricPlugin:
    @hookimpl
    def register_metrics(self, register):
        register("kit-all-rows", _ReadsAllRows, tags=["correlation"])
        register("kit-one-result", _OneResult, tags=["correlation"])


@pytest.fixture
def kit_metrics():
    from memscore.pluginmanager import get_plugins

    get_plugins(reload=True).add("kit-metrics", _MetricPlugin())
    yield
    get_plugins(reload=True)


def test_the_builtin_metrics_meet_the_metric_contract():
    from memscore.testing import check_metric

    assert "recovers_planted_signal" in check_metric("pls", n_components=5)
    for name in ("spearman", "pearson"):
        assert "reads_only_its_test_rows" in check_metric(name)


@pytest.mark.parametrize("name, broken", [("kit-all-rows", "reads_only_its_test_rows"),
                                          ("kit-one-result", "one_result_per_fold")])
def test_a_broken_metric_fails_naming_the_check(kit_metrics, name, broken):
    from memscore.testing import check_metric

    with pytest.raises(CheckFailed, match=broken):
        check_metric(name)


def test_the_home_fixture_drops_every_variable_that_leads_to_the_users_files(tmp_path, monkeypatch):
    """A user's MEMSCORE_CACHE or a data set's folder variable must not survive into a test (the kit's fixture
    and the suite's own): split files and caches would be written into them."""
    from memscore.paths import cache_dir
    from memscore.pytest_plugin import KEEP, isolate

    user = tmp_path / "user"
    for name in ("MEMSCORE_CACHE", "MEMSCORE_MEMCAT", "MEMSCORE_STORE", "MEMSCORE_PLUGINS"):
        monkeypatch.setenv(name, str(user / name))
    monkeypatch.setenv("MEMSCORE_REQUIRE_SLURM", "1")
    import os

    kept = {k for k in os.environ if k in KEEP}
    home = isolate(tmp_path / "t", monkeypatch)
    assert "MEMSCORE_REQUIRE_SLURM" in kept
    assert {k for k in os.environ if k.startswith("MEMSCORE_")} == {"MEMSCORE_HOME"} | kept
    assert cache_dir() == home / "cache"
