"""``shared_with=PATH``: a memorability benchmark scored on the test images it shares with another stimulus set.

Memorability and neural similarity are usually measured on different images (LaMem vs. the HvM objects). When
neural recordings exist for some of a memorability set's own images (THINGS images with macaque recordings, in
a BrainIO data set), both measures can be taken on the same images: ``shared_with=`` names that stimulus set —
a neural data set's JSON manifest (the stimuli in its assembly, as `neural-*` reads them) or a stimulus-set CSV
(``filename`` column, paths relative to the CSV; ``stimulus_id`` optional) — and each split's test Spearman is
computed only over its test images that are also stimuli of that set. Training is unchanged: each split's
readout is fitted on all its train images, as without ``shared_with``.

An image is shared when a stimulus of the set has its file name (the basename) **and** the same bytes (SHA-1):
a same-name image with other content is not shared, and is counted (``name_matches_other_content``). The run's
data fingerprint (so its key) includes the digest of the shared image names and of the set's stimuli; the run
records what it was restricted to in ``meta.shared_with`` (the set's name, its stimuli's content digest — equal
to the ``stimuli`` part of a `neural-*` run's data on that set, which is how `memscore analyze figures` pairs
them — and the shared test images per split).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Callable, Iterable

from memscore.errors import DataError
from memscore.images import path_kind, shorten

__all__ = ["MIN_SHARED", "StimulusSet", "Shared", "shared_source", "read_stimulus_set", "match"]

#: the fewest shared test images a split may be scored on
MIN_SHARED = 10


def shared_source(value: Any) -> str:
    """The ``shared_with`` argument: an existing ``.json`` manifest or ``.csv`` stimulus set (absolute path)."""
    p = Path(str(value)).expanduser()
    if p.suffix.lower() not in (".json", ".csv"):
        raise ValueError("give a neural data set's manifest (.json) or a stimulus-set CSV (.csv)")
    if path_kind(p) != "file":
        raise ValueError(f"{shorten(p, 120)} is not a file")
    return str(p.resolve())


def kind_of(source: str) -> str:
    """How a ``shared_with`` value is keyed: the kind of set, never its path (its content is keyed as data)."""
    return "manifest" if str(source).lower().endswith(".json") else "stimulus-set"


def basename(name: str) -> str:
    """A file name's last part, whichever separator it uses."""
    return PureWindowsPath(PurePosixPath(str(name)).name).name


@dataclass(frozen=True)
class StimulusSet:
    """The images of a stimulus set: what memorability test images are matched against."""

    source: str  # the manifest or CSV
    kind: str  # "manifest" or "stimulus-set"
    name: str  # the manifest's identifier, or the CSV's stem
    stimuli: str  # files_digest(ids, paths): a neural run's data part "stimuli" on this set has the same
    n: int
    by_name: dict[str, frozenset[str]]  # basename -> the SHA-1s of the stimuli with that name


@dataclass(frozen=True)
class Shared:
    """The test images of a memorability set that a stimulus set shares (see the module docstring)."""

    set: StimulusSet
    names: frozenset[str]  # the memorability set's shared test image names
    other_content: tuple[str, ...]  # test images whose name a stimulus has, with other bytes (not shared)
    checked: int  # test images looked at

    @property
    def digest(self) -> str:
        from memscore.fingerprint import digest

        return digest(sorted(self.names), self.set.stimuli)

    def record(self, splits: list[dict[str, int]]) -> dict[str, Any]:
        """What ``meta.shared_with`` stores: the set, its content digest, the counts (``splits``: per split
        ``{"split", "shared", "test"}``: shared test images scored of the split's test images)."""
        return {"name": self.set.name, "kind": self.set.kind, "source": self.set.source, "stimuli": self.set.stimuli,
                "n_stimuli": self.set.n, "shared_test_images": len(self.names), "test_images": self.checked,
                "name_matches_other_content": len(self.other_content),
                "other_content_examples": list(self.other_content[:5]), "splits": splits, "digest": self.digest}


def read_stimulus_set(source: str) -> StimulusSet:
    """The stimulus set a ``shared_with`` value names (a :class:`~memscore.errors.DataError` line for a bad one)."""
    if kind_of(source) == "manifest":
        ids, paths, name = _manifest(Path(source))
    else:
        ids, paths, name = _csv(Path(source))
    from memscore.fingerprint import file_sha1s, files_digest

    shas = file_sha1s(paths)
    by_name: dict[str, set[str]] = {}
    for p, sha in zip(paths, shas):
        by_name.setdefault(basename(p.name), set()).add(sha)
    return StimulusSet(source=str(source), kind=kind_of(source), name=name, stimuli=files_digest(ids, paths),
                       n=len(ids), by_name={k: frozenset(v) for k, v in by_name.items()})


def match(stimset: StimulusSet, names: Iterable[str], image_path: Callable[[str], Path]) -> Shared:
    """Which of ``names`` (a memorability set's test images) are stimuli of ``stimset``: same basename, same bytes."""
    from memscore.fingerprint import file_sha1s

    names = sorted(set(names))
    cand = [n for n in names if basename(n) in stimset.by_name]
    shas = file_sha1s([Path(image_path(n)) for n in cand])
    shared = [n for n, sha in zip(cand, shas) if sha in stimset.by_name[basename(n)]]
    other = tuple(n for n, sha in zip(cand, shas) if sha not in stimset.by_name[basename(n)])
    return Shared(stimset, frozenset(shared), other, len(names))


def _rows(table, ids: list[str], where: str, folder: Path) -> list[Path]:
    """The image paths of ``ids`` in a stimulus table (``filename`` relative to ``folder``; a CSV without
    ``stimulus_id`` is keyed by ``filename``), each checked as the neural benchmarks check them."""
    from memscore_plugins.benchmarks.neural.data import stimulus_rows

    if "stimulus_id" not in table.columns and "image_id" not in table.columns and "filename" in table.columns:
        table = table.assign(stimulus_id=table["filename"].astype(str))
    return stimulus_rows(table, ids, where, folder, stimulus_csv=Path(where),
                         fix="fix the stimulus set or its folder")[1]


def _read_table(path: Path):
    import pandas as pd

    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as e:  # noqa: BLE001 - any reader failure is one line
        raise DataError(f"stimulus set {path} is not a readable CSV ({type(e).__name__}: "
                        f"{shorten(str(e).splitlines()[0] if str(e) else '', 100)}); fix the file") from None


def _csv(path: Path) -> tuple[list[str], list[Path], str]:
    """A stimulus-set CSV: every row's image (``filename`` relative to the CSV's folder)."""
    table = _read_table(path)
    if "filename" not in table.columns:
        raise DataError(f"stimulus set {path} has no 'filename' column (it has "
                        f"{', '.join(map(str, table.columns[:8]))}); give a CSV with one image per row")
    col = next((c for c in ("stimulus_id", "image_id") if c in table.columns), "filename")
    ids = sorted({str(s) for s in table[col]})
    if not ids:
        raise DataError(f"stimulus set {path} lists no images")
    return ids, _rows(table, ids, str(path), path.parent), path.stem


def _manifest(path: Path) -> tuple[list[str], list[Path], str]:
    """A neural data set's manifest: the stimuli its assembly has (sorted ids, as `neural-*` reads them)."""
    import numpy as np

    from memscore_plugins.benchmarks.neural.data import DataSpec, NeuralDataset, _coord, _flat, verify

    spec = DataSpec.from_manifest(path)
    ds = NeuralDataset(spec.root, spec=spec)
    csv = ds.path(spec.csv)
    verify(csv, spec.csv.sha1, fix="fix the file or the manifest")
    table = _read_table(csv)
    da, where = ds.assembly()
    try:
        flat = _flat(da)
        sids = _coord(flat, "stimulus_id", "presentation")
        if sids is None:
            sids = _coord(flat, "image_id", "presentation")
    finally:
        da.close()
    if sids is None:
        raise DataError(f"{where} has no stimulus_id (or image_id) coordinate on presentation; it is not a BrainIO "
                        f"neural assembly")
    ids = [str(u) for u in np.unique(np.array([str(s) for s in sids]))]  # sorted, as the neural benchmarks read them
    return ids, _rows(table, ids, str(csv), ds.images_dir(csv)), spec.identifier
