"""Memorability data sets besides LaMem, each read in its official layout and offered with LaMem's interface
(``read_part(part, k)`` → names and scores, ``image_path(name)``, ``split_ids()``, ``check()``), so the
`lamem-pls` protocol scores them unchanged.

* **MemCat** (Goetschalckx & Wagemans 2019, 10,000 images in 5 categories)::

      <root>/MemCat_data/memcat_image_data.csv      # read by column name; other columns ignored
      <root>/MemCat_images/MemCat/<category>/<subcategory>/<image_file>

  The score column is ``memorability_w_fa_correction`` (default) or ``memorability_wo_fa_correction``.
  MemCat has no official splits: :func:`seeded_splits` draws 5 train/val/test splits (70/10/20 %),
  stratified by category, from seed ``[seed, k]``; they are written out in LaMem's format under
  ``$MEMSCORE_CACHE/splits/`` (to read, never needed) and keyed through the parts' fingerprints.

* **memorability-csv**: anyone's set, ``<root>/scores.csv`` with columns ``image,score[,split][,group]`` and
  ``<root>/images/``. With a ``split`` column (train/val/test) that is split 1; without, 5 seeded splits as
  MemCat's, whole ``group``s kept on one side.

Every problem a user can cause is one :class:`memscore.errors.DataError` line naming the file (and line).
"""
from __future__ import annotations

import csv
import hashlib
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from memscore.arguments import Arg
from memscore.errors import DataError
from memscore.images import path_kind, shorten
from memscore_plugins.benchmarks.lamem.data import PARTS, SplitPart

__all__ = ["MemCat", "MemorabilityCSV", "seeded_splits", "FRACTIONS", "MEMCAT_SCORE"]

FRACTIONS = (0.7, 0.1, 0.2)  # train / val / test of a seeded split
N_SPLITS = 5
MEMCAT_CSV = Path("MemCat_data") / "memcat_image_data.csv"
MEMCAT_IMAGES = Path("MemCat_images") / "MemCat"
MEMCAT_SCORES = ("memorability_w_fa_correction", "memorability_wo_fa_correction")
#: MemCat's option, declared once: `memscore data check memcat --dataset-args score=...` and the benchmarks' own
MEMCAT_SCORE = Arg("score", str, MEMCAT_SCORES[0], "MemCat's score column", choices=MEMCAT_SCORES, keyed="changed")


def seeded_splits(n: int, k: int, *, strata: Sequence | None = None, groups: Sequence | None = None,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Split ``k``'s row indices per part (train/val/test, FRACTIONS of the rows), from seed ``[seed, k]``:
    within each stratum (``strata``: MemCat's categories) the rows — or whole ``groups``, never split across
    parts — are shuffled and cut at the fractions. Deterministic; split k is independent of the others."""
    rng = np.random.default_rng([seed, k])
    strata = np.zeros(n, dtype=np.int64) if strata is None else np.unique(np.asarray(strata), return_inverse=True)[1]
    groups = np.arange(n) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    out = {p: [] for p in PARTS}
    for s in np.unique(strata):
        units = np.unique(groups[strata == s])  # the groups of this stratum, shuffled as wholes
        units = units[rng.permutation(len(units))]
        a = int(round(len(units) * FRACTIONS[0]))
        b = a + int(round(len(units) * FRACTIONS[1]))
        for part, chosen in zip(PARTS, (units[:a], units[a:b], units[b:])):
            out[part].append(np.flatnonzero(np.isin(groups, chosen) & (strata == s)))
    return {p: np.sort(np.concatenate(v)) if v else np.empty(0, dtype=np.int64) for p, v in out.items()}


def _safe_part(text: str, what: str, where: str) -> str:
    if not text or text in (".", "..") or "/" in text or "\\" in text or "\x00" in text:
        raise DataError(f"{where}: {what} {shorten(repr(text))} is not a plain file or folder name; fix that row")
    return text


def _read_csv(path: Path, what: str) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows) of a CSV file; one line for a missing, non-text or ragged file."""
    kind = path_kind(path)
    if kind == "missing":
        raise DataError(f"{what} {path} does not exist; point --data-root at the data set's folder")
    if kind != "file":
        raise DataError(f"{what} {path} is {kind}, not a file; point --data-root at the data set's folder")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from None
    except OSError as exc:
        raise DataError(f"cannot read {what} {path} ({exc.strerror or exc}); check its permissions") from None
    reader = csv.reader(text.splitlines())
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError(f"{what} {path} is empty; it needs a header line and one row per image") from None
    except csv.Error as exc:
        raise DataError(f"{what} {path}: line 1 is not CSV ({exc})") from None
    rows = []
    try:
        for line in reader:
            if not any(c.strip() for c in line):
                continue
            if len(line) != len(header):
                raise DataError(f"{what} {path}, line {reader.line_num}: {len(line)} fields where the header has "
                                f"{len(header)}; fix that line")
            rows.append(dict(zip(header, (c.strip() for c in line)), _line=str(reader.line_num)))
    except csv.Error as exc:
        raise DataError(f"{what} {path}, line {reader.line_num}: not CSV ({exc}); fix that line") from None
    if not rows:
        raise DataError(f"{what} {path} has a header but no rows; it needs one row per image")
    return header, rows


def _score(text: str, where: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not math.isfinite(v):
        raise DataError(f"{where}: score {shorten(repr(text))} is not a finite number; fix that row")
    return v


class _SplitSet:
    """What MemCat and the CSV set share: parsed rows, seeded or given splits, LaMem's read interface, and
    ``fetch``: an archive in the set's layout unpacked and checked (:func:`memscore.download.fetch_tree`)."""

    name = ""
    seed = 0
    #: the set's options (:class:`memscore.arguments.Arg`), validated by `memscore data check NAME --dataset-args`
    arguments: tuple[Arg, ...] = ()
    #: how messages name the set; the top-level entries that mark a copy of it (in a folder or in an archive)
    title = ""
    fetch_marks: tuple[str, ...] = ()
    #: where to get the archive by hand (said when there is no default URL, or a URL gave something else)
    archive_source = ""
    #: the official archive, where one is confirmed (none is, for these sets: each needs --url)
    default_url: str | None = None
    default_sha256: str | None = None

    def __init__(self, root):
        self.root = Path(root).expanduser()
        self._rows: tuple[list[str], np.ndarray, list, list] | None = None  # names, scores, strata, groups
        self._given: dict[str, list[int]] | None = None  # a CSV's own split column: part -> row indices

    # what a subclass supplies: the rows (names relative to images_dir), and where the images are
    def _parse(self) -> tuple[list[str], np.ndarray, list, list]:
        raise NotImplementedError

    @property
    def images_dir(self) -> Path:
        raise NotImplementedError

    @property
    def source(self) -> Path:
        raise NotImplementedError

    def rows(self) -> tuple[list[str], np.ndarray, list, list]:
        if self._rows is None:
            names, scores, strata, groups = self._parse()
            seen: dict[str, int] = {}
            for i, n in enumerate(names):
                if n in seen:
                    raise DataError(f"{self.source}: image {shorten(repr(n))} is listed twice; keep one row per image")
                seen[n] = i
            missing = [n for n in names if not (self.images_dir / n).is_file()]
            if missing:
                raise DataError(f"{self.source}: {len(missing)} listed image(s) missing under {self.images_dir} "
                                f"(first: {shorten(missing[0])}); restore them or drop their rows")
            self._rows = names, np.asarray(scores, dtype=np.float64), strata, groups
        return self._rows

    def image_path(self, name: str) -> Path:
        return self.images_dir / name

    def split_ids(self) -> list[int]:
        self.rows()
        return [1] if self._given is not None else list(range(1, N_SPLITS + 1))

    def _index(self, part: str, k: int) -> np.ndarray:
        if part not in PARTS:
            raise DataError(f"unknown split part {part!r}; use one of {', '.join(PARTS)}")
        names, _, strata, groups = self.rows()
        if k not in self.split_ids():
            raise DataError(f"{self.name} has splits {', '.join(map(str, self.split_ids()))}, not {k!r}; "
                            f"give --benchmark-args splits=" + ",".join(map(str, self.split_ids())))
        if self._given is not None:
            return np.asarray(self._given[part], dtype=np.int64)
        return seeded_splits(len(names), k, strata=strata, groups=groups, seed=self.seed)[part]

    def read_part(self, part: str, k: int, *, check_images: bool = True) -> SplitPart:
        names, scores, _, _ = self.rows()
        idx = self._index(part, int(k))
        part_scores = scores[idx].copy()
        part_scores.setflags(write=False)
        return SplitPart([names[i] for i in idx], part_scores, self.source, part, int(k))

    def write_splits(self) -> Path:
        """The splits in LaMem's format (``{part}_{k}.txt``: "<image> <score>") under the cache, to read or to
        reuse elsewhere; the folder is named by their content."""
        from memscore import atomic, paths

        text = {f"{p}_{k}.txt": "".join(f"{n} {s:.6f}\n" for n, s in zip(part.names, part.scores))
                for k in self.split_ids() for p in PARTS for part in [self.read_part(p, k)]}
        tag = hashlib.sha1("".join(f"{f}\n{t}" for f, t in sorted(text.items())).encode()).hexdigest()[:12]
        folder = paths.cache_dir() / "splits" / f"{self.name}-{tag}"
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            for f, t in text.items():
                atomic.write_text(folder / f, t)
        return folder

    @classmethod
    def fetch(cls, url: str | None = None, dest: str | os.PathLike | None = None, *, progress: bool = True,
              sha256: str | None = None, md5: str | None = None, keep_archive: bool = False) -> Path:
        """Download (resumable, verified) or take a local archive in the set's layout, unpack it safely into
        ``dest`` (default: where the constructor looks), check it there; return the folder. As LaMem's
        ``fetch``: :func:`memscore.download.fetch_tree`."""
        from memscore.download import fetch_tree

        url = str(url or cls.default_url or "") or None
        sha256 = sha256 if sha256 is not None else (cls.default_sha256 if url and url == cls.default_url else None)
        return fetch_tree(url, cls._fetch_root(dest), marks=cls.fetch_marks, check=lambda d: cls(d).check(),
                          title=cls.title, name=cls.name, obtain=cls.archive_source, sha256=sha256, md5=md5,
                          progress=progress, keep_archive=keep_archive)

    @classmethod
    def _fetch_root(cls, dest) -> Path:
        return cls(dest).root

    def check(self, *, check_images: bool = True, decode: bool = False, progress: bool = False, **_) -> dict:
        names, scores, strata, _ = self.rows()
        report = {"root": str(self.root), "source": str(self.source), "images": len(names),
                  "score": getattr(self, "score", "score"),
                  "score range": f"{scores.min():.4f} .. {scores.max():.4f}",
                  "splits": {k: {p: len(self._index(p, k)) for p in PARTS} for k in self.split_ids()},
                  "split source": "the CSV's split column" if self._given is not None else
                  f"seeded (seed [{self.seed}, k]), {'/'.join(str(round(f * 100)) for f in FRACTIONS)} %"
                  + (", stratified by category" if strata is not None else "")}
        if strata is not None:
            cats, counts = np.unique(np.asarray(strata), return_counts=True)
            report["categories"] = dict(zip(map(str, cats), map(int, counts)))
        report["split files"] = str(self.write_splits())
        if decode:
            from memscore.images import load_image

            bad = []
            for n in names:
                try:
                    load_image(self.image_path(n))
                except DataError as exc:
                    bad.append({"name": n, "reason": str(exc)})
            report["bad_images"] = bad
        return report


class MemCat(_SplitSet):
    """MemCat on disk (see the module docstring); ``score`` picks the score column."""

    name = "memcat"
    title = "MemCat"
    arguments = (MEMCAT_SCORE,)
    fetch_marks = ("MemCat_data", "MemCat_images")
    # The project page links the download; no direct archive URL could be confirmed, so there is no default.
    archive_source = ("download MemCat from http://gestaltrevision.be/projects/memcat/ (an archive with MemCat_data/ "
                      "and MemCat_images/)")

    def __init__(self, root=None, score: str = MEMCAT_SCORES[0]):
        if root is None or str(root) == "":
            from memscore.paths import data_dir

            root = os.environ.get("MEMSCORE_MEMCAT") or data_dir() / "memcat"
        super().__init__(root)
        if score not in MEMCAT_SCORES:
            raise DataError(f"MemCat score column {score!r}: use one of {', '.join(MEMCAT_SCORES)}")
        self.score = score

    @property
    def source(self) -> Path:
        return self.root / MEMCAT_CSV

    @property
    def images_dir(self) -> Path:
        return self.root / MEMCAT_IMAGES

    def _parse(self):
        if path_kind(self.root) != "a folder":
            raise DataError(f"MemCat folder {self.root} does not exist or is not a folder; point --data-root "
                            f"memcat=PATH at the folder that holds MemCat_data/ and MemCat_images/")
        header, rows = _read_csv(self.source, "MemCat table")
        need = ["image_file", "category", "subcategory", self.score]
        lacking = [c for c in need if c not in header]
        if lacking:
            raise DataError(f"MemCat table {self.source} has no column {', '.join(lacking)} (it has "
                            f"{', '.join(header[:8])}); use the official memcat_image_data.csv")
        names, scores, cats = [], [], []
        for r in rows:
            where = f"{self.source}, line {r['_line']}"
            cat, sub = _safe_part(r["category"], "category", where), _safe_part(r["subcategory"], "subcategory", where)
            names.append(f"{cat}/{sub}/{_safe_part(r['image_file'], 'image_file', where)}")
            scores.append(_score(r[self.score], where))
            cats.append(cat)
        return names, scores, cats, None


class MemorabilityCSV(_SplitSet):
    """A memorability set of one's own: ``scores.csv`` (``image,score[,split][,group]``) and ``images/``."""

    name = "memorability-csv"
    title = "memorability-csv set"
    fetch_marks = ("scores.csv", "images")
    archive_source = "it is your own: pack your scores.csv and images/ into a .zip or .tar.gz"

    def __init__(self, root=None):
        if root is None or str(root) == "":
            raise DataError("memorability-csv: no data folder was given; give --data-root memorability-csv=PATH "
                            "(a folder with scores.csv and images/)")
        super().__init__(root)

    @classmethod
    def _fetch_root(cls, dest) -> Path:
        if dest is None or str(dest) == "":
            raise DataError("memorability-csv has no default folder; give --dest FOLDER (where to unpack your archive "
                            "of scores.csv and images/) and --url ARCHIVE")
        return cls(dest).root

    @property
    def source(self) -> Path:
        return self.root / "scores.csv"

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    def _parse(self):
        header, rows = _read_csv(self.source, "memorability table")
        lacking = [c for c in ("image", "score") if c not in header]
        if lacking:
            raise DataError(f"memorability table {self.source} has no column {', '.join(lacking)}; its header "
                            f"must name image,score[,split][,group]")
        names, scores, groups, given = [], [], [], {p: [] for p in PARTS}
        for i, r in enumerate(rows):
            where = f"{self.source}, line {r['_line']}"
            name = r["image"]
            if not name or name.startswith(("/", "\\")) or ".." in Path(name).parts or "\x00" in name:
                raise DataError(f"{where}: image {shorten(repr(name))} escapes images/; give a path inside it")
            names.append(name)
            scores.append(_score(r["score"], where))
            groups.append(r.get("group", "") or f"\x00{i}")
            if "split" in header:
                part = r["split"].lower()
                if part not in PARTS:
                    raise DataError(f"{where}: split {shorten(repr(r['split']))} is not train, val or test")
                given[part].append(i)
        if "split" in header:
            if not given["train"] or not given["test"]:
                raise DataError(f"memorability table {self.source}: its split column needs train and test rows")
            self._given = given
        return names, scores, None, groups if "group" in header else None
