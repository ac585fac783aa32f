"""benchmarks/gpu_check.py --cpu-smoke: the GPU check's code paths on CPU (what CI runs until a GPU is lent):
exits 0 and prints JSON with the equality cases and a throughput figure."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_cpu_smoke_exits_0_with_json(tmp_path):
    env = {**os.environ, "MEMSCORE_HOME": str(tmp_path / "home")}
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--cpu-smoke", "--workdir",
                        str(tmp_path / "work")], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout)
    assert report["ok"] and report["smoke"] and set(report["equality"]) == {"lamem-pls", "neural-it",
                                                                 "neural-it metric=ridgecv", "lamem-finetune"}
    assert report["throughput"]["images_per_s"] > 0 and report["throughput"]["batch_size"] >= 1
    assert (tmp_path / "home").is_dir()  # its runs went where MEMSCORE_HOME said, not into a user's store
