"""The plugin test kit: the contract a model or benchmark plugin must meet, as checks anyone can run
(scikit-learn's ``parametrize_with_checks``, more simply). memscore tests its own plugins with it, a
third party calls it from its own tests, and ``memscore check-plugin NAME`` runs it for a pull request::

    from memscore.testing import check_model, check_benchmark

    def test_my_net():
        check_model("my-net")

    def test_my_benchmark(tmp_path):
        check_benchmark("my-bench", data_root=make_data(tmp_path), other_data_root=make_other_data(tmp_path))

Each ``check_*`` runs every check and raises :class:`AssertionError` listing the ones that failed; it returns
the names of the checks that passed. The checks run in a temporary ``$MEMSCORE_HOME`` of their own (removed
after; ``home=`` keeps one), so checking a plugin never stores a run, a cache or a model's stats in the user's
store. A plugin's own tests get the same with the ``memscore_home`` pytest fixture (registered by memscore's
pytest plugin): ``def test_x(memscore_home): ...``.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["check_model", "check_benchmark", "check_metric", "model_checks", "benchmark_checks", "metric_checks",
           "CheckFailed", "kit_home"]


@contextlib.contextmanager
def kit_home(home: str | Path | None = None) -> Iterator[Path]:
    """``$MEMSCORE_HOME`` set to ``home``, or to a temporary folder removed afterwards; restored after."""
    old = os.environ.get("MEMSCORE_HOME")
    tmp = tempfile.mkdtemp(prefix="memscore-kit-") if home is None else None
    os.environ["MEMSCORE_HOME"] = str(home if home is not None else tmp)
    try:
        yield Path(os.environ["MEMSCORE_HOME"])
    finally:
        if old is None:
            os.environ.pop("MEMSCORE_HOME", None)
        else:
            os.environ["MEMSCORE_HOME"] = old
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


class CheckFailed(AssertionError):
    pass


class FactoryTimeout(AssertionError):
    """A factory call did not return within the time limit (the call goes on in a daemon thread)."""

#: the model the benchmark checks score (random init): CORnet-Z has 14 layers and 3.4 M units at 224 px
#: (resnet18: 52 layers, 6.7 M; squeezenet: 64, 7.0 M) and runs at any size down to 16 px (alexnet,
#: with 1.1 M units, cannot run below ~64 px)
KIT_MODEL = "cornet-z"


def _timed(what: str, timeout: float | None, fn: Callable[..., Any], *args, **kwargs) -> Any:
    """``fn(*args, **kwargs)``, given at most ``timeout`` seconds (None: no limit): it runs in a daemon thread,
    so a factory that never returns cannot hang the checks (nor keep the process alive at exit)."""
    if not timeout:
        return fn(*args, **kwargs)
    import threading

    box: dict[str, Any] = {}

    def target():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    t = threading.Thread(target=target, name=f"memscore-check {what}", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise FactoryTimeout(f"{what} did not return within {timeout:g} s (a factory that never returns?); "
                             f"fix it, or give it more time (--timeout)")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _run(checks: list[tuple[str, Callable[[], None]]], what: str) -> list[str]:
    passed, failed = [], []
    hung = ""
    for name, fn in checks:
        if hung:  # the factory is still running in its thread: calling it again would wait again
            failed.append(f"{name}: skipped ({hung} did not return)")
            continue
        try:
            fn()
        except FactoryTimeout as exc:
            failed.append(f"{name}: {exc}")
            hung = name
        except Exception as exc:  # noqa: BLE001 - each check reports, the others still run
            first = (str(exc).splitlines() or [""])[0]
            failed.append(f"{name}: {type(exc).__name__}: {first[:300]}")
        else:
            passed.append(name)
    if failed:
        raise CheckFailed(f"{what}: {len(failed)} of {len(checks)} checks failed:\n  " + "\n  ".join(failed))
    return passed


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------
def model_checks(name: str, *, image_size: int | None = None,
                 timeout: float | None = None) -> list[tuple[str, Callable[[], None]]]:
    """The checks of :func:`check_model` (name, callable), for parametrising a test over them; ``timeout``
    limits each call of the model's factory (seconds, None: no limit)."""
    state: dict[str, Any] = {}

    def listing_is_torch_free():
        code = ("import sys, memscore\nfrom memscore.pluginmanager import registry\n"
                f"registry().get('model', {name!r})\nprint(int('torch' in sys.modules))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"looking the name up failed: {out.stderr.strip().splitlines()[-1:]}"
        assert out.stdout.strip().endswith("0"), "registering or resolving the name imported torch"

    def builds_without_weights():
        import torch

        from .api import load_model
        from .model import Model

        m = _timed(f"model {name!r}: its factory", timeout, load_model, name, weights="none", seed=0)
        assert isinstance(m, Model), f"the factory returned a {type(m).__name__}, not memscore.model.Model"
        assert isinstance(m.module, torch.nn.Module), "Model.module is not a torch.nn.Module"
        assert str(m.weights).startswith("none"), f"weights='none' gave weights {m.weights!r}"
        state["model"] = m

    def declares_preprocessing():
        p = _model(state).preprocessing
        assert p.crop_size >= 8 and p.resize_size >= p.crop_size, f"crop {p.crop_size}, resize {p.resize_size}"
        assert len(p.mean) == 3 and len(p.std) == 3 and all(s > 0 for s in p.std), "mean/std must have 3 channels"
        p.transform(image_size=image_size)

    def forwards_at_its_input_size():
        import torch

        m = _model(state)
        size = image_size or m.preprocessing.crop_size
        with torch.inference_mode():
            out = m.module.eval()(torch.rand(2, 3, size, size))
        out = out[0] if isinstance(out, (tuple, list)) else out
        assert isinstance(out, torch.Tensor) and out.shape[0] == 2, f"output {type(out).__name__}"
        assert torch.isfinite(out).all(), "the forward pass gives NaN or inf on random input"

    def finds_layers_and_penultimate():
        m = _model(state)
        layers = m.layers(image_size=image_size)
        assert layers, "no scoreable layer (every module's output has < 24 units?)"
        for n in layers:
            m.module.get_submodule(n)
        pen = m.penultimate_layer
        assert pen in m.layers(), f"penultimate layer {pen!r} is not a scoreable layer"

    def head_can_be_replaced():
        import copy

        import torch

        m = copy.deepcopy(_model(state))
        m.replace_head(1)
        size = image_size or m.preprocessing.crop_size
        with torch.inference_mode():
            out = m.module.eval()(torch.rand(2, 3, size, size))
        out = out[0] if isinstance(out, (tuple, list)) else out
        assert out.reshape(2, -1).shape[1] == 1, f"a one-unit head gives {tuple(out.shape)}"

    def weights_identity_is_stable():
        from .weights import weights_identity

        assert weights_identity("none") == weights_identity(_model(state).weights) == "none"

    def unknown_model_arg_is_one_line():
        from .api import load_model
        from .errors import MemscoreError

        try:
            _timed(f"model {name!r}: its factory", timeout, load_model, name, weights="none", no_such_argument_xyz=1)
        except MemscoreError as exc:
            assert "\n" not in str(exc), "the error message spans several lines"
        except TypeError as exc:
            raise AssertionError(f"an unknown model arg gives a TypeError ({exc}), not one line") from None

    return [(f.__name__, f) for f in (listing_is_torch_free, builds_without_weights, declares_preprocessing,
                                      forwards_at_its_input_size, finds_layers_and_penultimate, head_can_be_replaced,
                                      weights_identity_is_stable, unknown_model_arg_is_one_line)]


def _model(state):
    if "model" not in state:
        raise AssertionError("the model did not build (see builds_without_weights)")
    return state["model"]


def check_model(name: str, *, image_size: int | None = None, timeout: float | None = None,
                home: str | Path | None = None) -> list[str]:
    """Check model ``name`` against the model contract: the name resolves without importing torch; it
    builds with ``weights="none"`` (within ``timeout`` seconds, when given); it declares its preprocessing; it
    forwards at its input size; its scoreable layers and penultimate layer are found; its head can be replaced
    by one unit; an unknown model arg is one line."""
    with kit_home(home):
        return _run(model_checks(name, image_size=image_size, timeout=timeout), f"model {name!r}")


# ---------------------------------------------------------------------------------------------
# benchmarks
# ---------------------------------------------------------------------------------------------
def benchmark_checks(name: str, *, data_root: str | Path | None = None, other_data_root: str | Path | None = None,
                     model: str = KIT_MODEL, benchmark_args: dict[str, Any] | None = None,
                     limit: int | None = None, run: bool = True,
                     timeout: float | None = None) -> list[tuple[str, Callable[[], None]]]:
    """The checks of :func:`check_benchmark` (name, callable); ``timeout`` limits each call of the benchmark's
    factory (seconds, None: no limit)."""
    from .api import load_benchmark as _load_benchmark, plan
    from .benchmark import RunOptions
    from .errors import MemscoreError, OptionError
    from .pluginmanager import registry

    def load_benchmark(name, **kw):
        return _timed(f"benchmark {name!r}: its factory", timeout, _load_benchmark, name, **kw)

    bargs = dict(benchmark_args or {})
    entry, _ = registry().get("benchmark", name)
    declared = [a for a in (getattr(entry.resolve(), "arguments", ()) or ()) if a.name not in entry.params]

    def run_plan(**kw):
        opts = RunOptions(data_root=Path(kw.pop("data_root", data_root)) if (kw.get("data_root") or data_root)
                          else None, limit=kw.pop("limit", limit), progress=False, device="cpu")
        return plan(model, name, weights="none", benchmark_args={**bargs, **kw.pop("bargs", {})}, options=opts)

    def key(**kw) -> str:
        return run_plan(**kw).key

    def declares_its_arguments():
        assert all(a.help for a in declared), "every declared argument needs a help text"
        for a in declared:
            a.check(a.default) if a.default is not None else None

    def bad_values_are_one_line():
        tried = 0
        for a in declared:
            if a.type in (int, float, bool) or a.choices:
                tried += 1
                try:
                    load_benchmark(name, **{**bargs, a.name: "not-a-valid-value"})
                except OptionError as exc:
                    assert "\n" not in str(exc) and a.name in str(exc), f"{a.name}: {exc}"
                else:
                    raise AssertionError(f"{a.name}=not-a-valid-value was accepted")
        try:
            load_benchmark(name, no_such_argument_xyz=1)
        except OptionError as exc:
            assert "no_such_argument_xyz" in str(exc) and "\n" not in str(exc)
        else:
            raise AssertionError("an unknown argument was accepted")

    def config_follows_every_argument():
        base = load_benchmark(name, **bargs).config()
        for a in declared:
            other = _another_value(a)
            if other is None:
                continue
            cfg = load_benchmark(name, **{**bargs, a.name: other}).config()
            if a.keyed is False or a.help.endswith("(speed only; not keyed)"):
                continue
            assert cfg != base, f"{a.name}={other!r} leaves config() unchanged: a stale score would be served"

    def no_data_root_is_one_line():
        """Without --data-root a benchmark reads its default place, or says in one line which to give."""
        opts = RunOptions(limit=limit, progress=False, device="cpu")
        try:
            plan(model, name, weights="none", benchmark_args=bargs, options=opts)
        except MemscoreError as exc:
            assert "\n" not in str(exc), "the error message spans several lines"
            assert "--data-root" in str(exc) or "data fetch" in str(exc), f"it does not say what to give: {exc}"

    checks = [("declares_its_arguments", declares_its_arguments), ("bad_values_are_one_line", bad_values_are_one_line),
              ("config_follows_every_argument", config_follows_every_argument),
              ("no_data_root_is_one_line", no_data_root_is_one_line)]
    if data_root is None:
        return checks

    def key_follows_the_data_and_limit():
        p = run_plan()
        k = p.key
        assert k == key(), "the run key is not deterministic"
        counts = (p.data.counts or {}) if p.data is not None else {}
        n = limit or counts.get("stimuli", counts.get("images"))
        if isinstance(n, int) and n > 1:  # a limit that cuts changes the key
            assert key(limit=n - 1) != k, "--limit does not change the run key"
        else:
            assert key(limit=50) != k, "--limit does not change the run key"
        if other_data_root is not None:
            assert key(data_root=other_data_root) != k, "other data gives the same run key"

    def score_round_trips_and_is_stored():
        from .api import score
        from .scores import Score

        opts = RunOptions(data_root=Path(data_root), limit=limit, progress=False, device="cpu")
        s = score(model, name, weights="none", benchmark_args=bargs, options=opts)
        again = Score.from_json(s.to_json())
        assert again.to_dict() == s.to_dict(), "Score.to_json/from_json lose something"
        assert s.meta.get("data") and s.meta["data"].get("fingerprint"), "the score does not record its data"
        hit = score(model, name, weights="none", benchmark_args=bargs, options=opts)
        assert hit.meta.get("from_store") and hit.value == s.value, "a second identical run was not served"

    def missing_data_is_one_line():
        opts = RunOptions(data_root=Path("/nonexistent/memscore-check"), limit=limit, progress=False, device="cpu")
        try:
            plan(model, name, weights="none", benchmark_args=bargs, options=opts)
        except MemscoreError as exc:
            assert "\n" not in str(exc), "the error message spans several lines"
        else:
            raise AssertionError("a data root that does not exist was accepted")

    checks += [("key_follows_the_data_and_limit", key_follows_the_data_and_limit),
               ("missing_data_is_one_line", missing_data_is_one_line)]
    if run:
        checks.append(("score_round_trips_and_is_stored", score_round_trips_and_is_stored))
    return checks


def _another_value(a) -> Any:
    """A valid value of ``a`` other than its default (None when there is none to try)."""
    if a.choices:
        others = [c for c in a.choices if c != a.default]
        return others[0] if others else None
    if a.type is bool:
        return not bool(a.default)
    if a.type is int:
        v = (a.default if isinstance(a.default, int) else int(a.min or 1)) + 1
        return v if a.max is None or v <= a.max else None
    if a.type is float:
        v = (a.default if isinstance(a.default, (int, float)) else (a.min or 1.0)) * 1.5 + 0.5
        return v if a.max is None or v <= a.max else None
    return None


def check_benchmark(name: str, *, data_root: str | Path | None = None, other_data_root: str | Path | None = None,
                    model: str = KIT_MODEL, benchmark_args: dict[str, Any] | None = None,
                    limit: int | None = None, run: bool = True, timeout: float | None = None,
                    home: str | Path | None = None) -> list[str]:
    """Check benchmark ``name`` against the benchmark contract: declared arguments with help; bad values and
    unknown keys are one line; ``config()`` changes with every keyed argument; and with data: the run key
    changes with the data and ``--limit``, missing data is one line, the score records its data, round-trips
    through JSON and is served from the store the second time."""
    with kit_home(home):
        return _run(benchmark_checks(name, data_root=data_root, other_data_root=other_data_root, model=model,
                                     benchmark_args=benchmark_args, limit=limit, run=run, timeout=timeout),
                    f"benchmark {name!r}")


def metric_checks(name: str, *, kind: str | None = None, data: tuple | None = None,
                  **metric_args: Any) -> list[tuple[str, Callable[[], None]]]:
    """The checks of :func:`check_metric`. ``kind`` is "regression" or "correlation" (default: the metric's
    registry tag); a metric of another kind (a ceiling, neural predictivity) takes inputs of its own shape:
    give them as ``data=(X, Y, folds)`` for the contract checks."""
    import numpy as np

    from .api import load_metric
    from .metrics import Fold, FoldResult
    from .pluginmanager import registry

    entry, _ = registry().get("metric", name)
    kind = kind or next((t for t in entry.tags if t in ("regression", "correlation")), None)
    rng = np.random.default_rng(0)
    n, d = 90, 12
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 0.05 * rng.standard_normal(n)
    folds = [Fold(np.setdiff1d(np.arange(n), t), t) for t in np.array_split(rng.permutation(n), 3)]
    if kind == "correlation":  # a correlation scores predictions (X) against the truth (y) on each fold's test rows
        X = y + 0.1 * rng.standard_normal(n)
    if data is not None:
        X, y, folds = data
    state: dict[str, Any] = {}

    def loads_by_name():
        state["metric"] = load_metric(name, **metric_args)
        assert callable(state["metric"]), "the factory does not return a callable metric"

    def one_result_per_fold():
        out = state["metric"](X, y, folds)
        assert isinstance(out, list) and len(out) == len(folds), "one FoldResult per fold is the contract"
        assert all(isinstance(r, FoldResult) for r in out), "each result must be a memscore.metrics.FoldResult"
        state["out"] = out

    def deterministic():
        again = state["metric"](X, y, folds)
        for a, b in zip(state["out"], again):
            assert np.array_equal(np.asarray(a.value), np.asarray(b.value), equal_nan=True)
            if a.prediction is not None:
                np.testing.assert_array_equal(a.prediction, b.prediction)

    def recovers_planted_signal():
        for f, r in zip(folds, state["out"]):
            if kind == "regression":
                assert r.prediction is not None and np.shape(r.prediction)[0] == len(f.test), \
                    "a regression returns one prediction per test row"
                rho = np.corrcoef(np.ravel(r.prediction), y[f.test])[0, 1]
                assert rho > 0.9, f"predictions of a planted linear signal correlate only {rho:.2f} with it"
            else:
                assert r.value > 0.9, f"a correlation of near-equal vectors is {r.value:.2f}"
        if kind == "correlation":
            flipped = state["metric"](-X, y, folds)
            assert all(r.value < -0.9 for r in flipped), "a reversed prediction does not correlate negatively"

    def reads_only_its_test_rows():
        if kind != "correlation":
            return
        X2 = X.copy()
        X2[folds[0].train] = rng.standard_normal(len(folds[0].train))
        assert state["metric"](X2, y, folds[:1])[0].value == state["out"][0].value, \
            "a fold's value changed with rows outside its test part"

    checks = [("loads_by_name", loads_by_name)]
    if kind in ("regression", "correlation") or data is not None:
        checks += [("one_result_per_fold", one_result_per_fold), ("deterministic", deterministic)]
    if kind in ("regression", "correlation") and data is None:
        checks += [("recovers_planted_signal", recovers_planted_signal),
                   ("reads_only_its_test_rows", reads_only_its_test_rows)]
    return checks


def check_metric(name: str, *, kind: str | None = None, data: tuple | None = None, home: str | Path | None = None,
                 **metric_args: Any) -> list[str]:
    """Check metric ``name`` against the metric contract (:mod:`memscore.metrics`): loaded by name with
    ``metric_args``; ``metric(X, Y, folds)`` returns one ``FoldResult`` per fold, the same each time; a
    regression predicts a planted linear signal on each fold's test rows, a correlation finds near-equal
    vectors near 1, reversed ones near -1, and reads only the fold's test rows."""
    with kit_home(home):
        return _run(metric_checks(name, kind=kind, data=data, **metric_args), f"metric {name!r}")


def report(results: dict[str, list[str] | str]) -> str:
    return json.dumps(results, indent=1)
