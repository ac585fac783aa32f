"""Stored runs for store and board tests, built as memscore stores them: complete provenance, the value equal to
its committed layer's, and the key recomputable from the content (what `collect`, `--rebuild` and `--from`
check before a run enters a store or a board)."""
from __future__ import annotations

from memscore.record import key_of_run, key_versions_of_run
from memscore.scores import Score


def key_for(score: Score) -> str:
    """The run key ``score``'s own content gives (key version 1 for a run that records no data, as runs made
    before data fingerprints)."""
    doc = score.to_dict()
    return key_of_run(doc, key_versions_of_run(doc)[-1])


def put_run(store, score: Score) -> Score:
    """Store ``score`` under the key its content gives."""
    return store.put(score, key_for(score))
