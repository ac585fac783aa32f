"""The plugin test kit: the contract a model or benchmark plugin must meet, as checks anyone can run
(scikit-learn's ``parametrize_with_checks``, more simply). memscore tests its own plugins with it, a
third party calls it from its own tests, and ``memscore check-plugin NAME`` runs it for a pull request::

    from memscore.testing import check_model, check_benchmark

    def test_my_net():
        check_model("my-net")

    def test_my_benchmark(tmp_path):
        check_benchmark("my-bench", data_root=make_data(tmp_path), other_data_root=make_other_data(tmp_path))

Each ``check_*`` runs every check and raises :class:`AssertionError` listing the ones that failed; it returns
the names of the checks that passed.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

__all__ = ["check_model", "check_benchmark", "model_checks", "benchmark_checks", "CheckFailed"]


class CheckFailed(AssertionError):
    pass


def _run(checks: list[tuple[str, Callable[[], None]]], what: str) -> list[str]:
    passed, failed = [], []
    for name, fn in checks:
        try:
            fn()
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
def model_checks(name: str, *, image_size: int | None = None) -> list[tuple[str, Callable[[], None]]]:
    """The checks of :func:`check_model` (name, callable), for parametrising a test over them."""
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

        m = load_model(name, weights="none", seed=0)
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
            load_model(name, weights="none", no_such_argument_xyz=1)
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


def check_model(name: str, *, image_size: int | None = None) -> list[str]:
    """Check model ``name`` against the model contract: the name resolves without importing torch; it
    builds with ``weights="none"``; it declares its preprocessing; it forwards at its input size; its
    scoreable layers and penultimate layer are found; its head can be replaced by one unit; an unknown
    model arg is one line."""
    return _run(model_checks(name, image_size=image_size), f"model {name!r}")


# ---------------------------------------------------------------------------------------------
# benchmarks
# ---------------------------------------------------------------------------------------------
def benchmark_checks(name: str, *, data_root: str | Path | None = None, other_data_root: str | Path | None = None,
                     model: str = "torchvision:resnet18", benchmark_args: dict[str, Any] | None = None,
                     limit: int | None = None, run: bool = True) -> list[tuple[str, Callable[[], None]]]:
    """The checks of :func:`check_benchmark` (name, callable)."""
    from .api import load_benchmark, plan
    from .benchmark import RunOptions
    from .errors import MemscoreError, OptionError
    from .pluginmanager import registry

    bargs = dict(benchmark_args or {})
    entry, _ = registry().get("benchmark", name)
    declared = [a for a in (getattr(entry.resolve(), "arguments", ()) or ()) if a.name not in entry.params]

    def key(**kw) -> str:
        opts = RunOptions(data_root=Path(kw.pop("data_root", data_root)) if (kw.get("data_root") or data_root)
                          else None, limit=kw.pop("limit", limit), progress=False, device="cpu")
        return plan(model, name, weights="none", benchmark_args={**bargs, **kw.pop("bargs", {})}, options=opts).key

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
            if a.help.endswith("(speed only; not keyed)"):
                continue
            assert cfg != base, f"{a.name}={other!r} leaves config() unchanged: a stale score would be served"

    checks = [("declares_its_arguments", declares_its_arguments), ("bad_values_are_one_line", bad_values_are_one_line),
              ("config_follows_every_argument", config_follows_every_argument)]
    if data_root is None:
        return checks

    def key_follows_the_data_and_limit():
        k = key()
        assert k == key(), "the run key is not deterministic"
        n = limit or 10**9
        assert key(limit=max(1, min(n, 10**9) - 1) if limit else 50) != k, "--limit does not change the run key"
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
                    model: str = "torchvision:resnet18", benchmark_args: dict[str, Any] | None = None,
                    limit: int | None = None, run: bool = True) -> list[str]:
    """Check benchmark ``name`` against the benchmark contract: declared arguments with help; bad values and
    unknown keys are one line; ``config()`` changes with every keyed argument; and with data: the run key
    changes with the data and ``--limit``, missing data is one line, the score records its data, round-trips
    through JSON and is served from the store the second time."""
    return _run(benchmark_checks(name, data_root=data_root, other_data_root=other_data_root, model=model,
                                 benchmark_args=benchmark_args, limit=limit, run=run), f"benchmark {name!r}")


def report(results: dict[str, list[str] | str]) -> str:
    return json.dumps(results, indent=1)
