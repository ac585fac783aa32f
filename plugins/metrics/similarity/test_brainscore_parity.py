"""Parity with brainscore_vision 2.4.2 (issue #23, item 5): ridge (fixed alpha, and RidgeCV's shared alpha),
RDM and CKA (whole set and cross-validated on brainscore's own splits, unbiased and biased) equal memscore's to
1e-4 on a small synthetic input, through ``benchmarks/metrics_vs_brainscore.py``. brainscore_vision pins
numpy 1.26, so it runs under another interpreter (``MEMSCORE_BRAINSCORE_PYTHON``, default
``/tmp/bsvenv/bin/python``); without one the test is skipped (CI has none)."""
from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BS_PYTHON = os.environ.get("MEMSCORE_BRAINSCORE_PYTHON", "/tmp/bsvenv/bin/python")


def _brainscore_python() -> str:
    if not Path(BS_PYTHON).exists():
        pytest.skip(f"no brainscore_vision interpreter at {BS_PYTHON} (a venv with brainscore_vision 2.4.2; "
                    "point MEMSCORE_BRAINSCORE_PYTHON at its python)")
    probe = subprocess.run([BS_PYTHON, "-c", "import brainscore_vision"], capture_output=True, text=True,
                           env={**os.environ, "BS_INSTALL_DEPENDENCIES": "no"})
    if probe.returncode != 0:
        pytest.skip(f"brainscore_vision is not importable under {BS_PYTHON}: {probe.stderr.strip()[-200:]}")
    return BS_PYTHON


@pytest.mark.slow  # ~15-30 s: brainscore_vision's import and its 10-split metrics
def test_metrics_equal_brainscore_vision_on_the_same_inputs_and_splits(tmp_path):
    python = _brainscore_python()
    spec = importlib.util.spec_from_file_location("metrics_vs_brainscore",
                                                  ROOT / "benchmarks" / "metrics_vs_brainscore.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # 160 stimuli (8 objects), 200 features: ridge's fits are in the dual form (144 train stimuli < 200)
    out = mod.compare(tmp_path, stimuli=160, image_px=32, reps=4, regions=["IT"], dims=200, repeats=1,
                      brainscore_python=python)
    assert set(out["metrics"]) == set(mod.METRICS)
    for name, m in out["metrics"].items():
        for region, v in m["values"].items():
            assert v["abs_diff"] <= 1e-4, (name, region, v)
            if "error_abs_diff" in v:
                assert v["error_abs_diff"] <= 1e-4, (name, region, v)
    assert out["agree"]
    assert all(out["splits_from_memscore_shuffle_split"].values())
    # the default definitions really differ where the report says so
    assert out["metrics"]["ridge"]["default_definitions"]["values"]["IT"]["abs_diff"] > 1e-3
    assert out["metrics"]["cka_biased"]["default_definitions"]["values"]["IT"]["abs_diff"] > 1e-3
