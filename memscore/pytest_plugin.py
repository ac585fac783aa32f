"""memscore's pytest plugin (entry point ``pytest11``): the ``memscore_home`` fixture, a temporary
``$MEMSCORE_HOME`` for one test, so a plugin's tests never store runs or caches in the user's store. Nothing
is imported until the fixture is used."""
from __future__ import annotations

import os

import pytest

#: variables a test run may keep: they say how to test, not where the user's store, cache or data are
KEEP = frozenset({"MEMSCORE_REQUIRE_SLURM", "MEMSCORE_REQUIRE_BROWSER", "MEMSCORE_TEST_MEMORY_GB",
                  "MEMSCORE_BRAINSCORE_PYTHON", "MEMSCORE_PROGRESS"})


def isolate(tmp_path, monkeypatch):
    """Point ``$MEMSCORE_HOME`` at a fresh folder and drop every other ``MEMSCORE_*`` variable that could lead
    to the user's files (``MEMSCORE_CACHE``, ``MEMSCORE_STORE``, a data set's ``MEMSCORE_<NAME>`` folder,
    ``MEMSCORE_PLUGINS``); returns the home."""
    home = tmp_path / "memscore-home"
    for name in list(os.environ):
        if name.startswith("MEMSCORE_") and name not in KEEP:
            monkeypatch.delenv(name)
    monkeypatch.setenv("MEMSCORE_HOME", str(home))
    return home


@pytest.fixture
def memscore_home(tmp_path, monkeypatch):
    """A fresh ``$MEMSCORE_HOME`` (``tmp_path / "memscore-home"``) for this test, with no other ``MEMSCORE_*``
    variable pointing elsewhere; the user's store, cache and data are untouched."""
    return isolate(tmp_path, monkeypatch)
