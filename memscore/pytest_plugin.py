"""memscore's pytest plugin (entry point ``pytest11``): the ``memscore_home`` fixture, a temporary
``$MEMSCORE_HOME`` for one test, so a plugin's tests never store runs or caches in the user's store. Nothing
is imported until the fixture is used."""
from __future__ import annotations

import pytest


@pytest.fixture
def memscore_home(tmp_path, monkeypatch):
    """A fresh ``$MEMSCORE_HOME`` (``tmp_path / "memscore-home"``) for this test; the user's is untouched."""
    home = tmp_path / "memscore-home"
    monkeypatch.setenv("MEMSCORE_HOME", str(home))
    return home
