"""Shared fixtures for the core's tests (tests/) and each plugin's tests (plugins/<kind>/<name>/test_*.py):
every test gets its own $MEMSCORE_HOME, so nothing touches the user's store; the fixture builders in tests/
(lamem_fixture, neural_fixture, ...) import as plain modules."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent / "tests"
sys.path.insert(0, str(TESTS))  # fixture builders (lamem_fixture, ...) import as plain modules
from slurm_cluster import slurm_cluster  # noqa: E402,F401


@pytest.fixture(autouse=True)
def memscore_home(tmp_path, monkeypatch):
    from memscore.pytest_plugin import isolate

    home = isolate(tmp_path, monkeypatch)  # no MEMSCORE_CACHE, MEMSCORE_<DATA SET>, ... of the user's survives
    monkeypatch.setenv("MEMSCORE_MEMORY_GB", os.environ.get("MEMSCORE_TEST_MEMORY_GB", "4"))
    return home
