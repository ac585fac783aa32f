"""THINGS memorability (Kramer, Hebart, Baker & Bainbridge, "The features underlying the memorability of objects",
Science Advances 2023; data on OSF, https://osf.io/5a7z6/): memorability of the 26,107 THINGS object images (Hebart
et al. 2019; 1,854 concepts), read in the published layout.

Layout (the names are the defaults; each is an argument)::

    <root>/THINGS_Memorability_Scores.csv        # the published per-image table, read by column name
    <root>/object_images/<concept>/<image>.jpg   # the THINGS image tree (osf.io/jum2f), e.g. aardvark/aardvark_01b.jpg

Confirmed from code that reads the published table (several independent repositories): its name,
``THINGS_Memorability_Scores.csv``; the columns ``file_path`` (``images/<concept>/<image>.jpg``: the THINGS tree,
whose folder is ``object_images/`` once unpacked, hence the ``images/`` prefix is dropped), ``image_name`` and
``cr`` (corrected recognition, HR − FAR: the paper's memorability score; the default here); and that some rows have
no ``cr`` (readers drop them). Other columns are ignored; ``score=`` picks any other numeric column by name (the
paper also reports hit and false-alarm rates; their column names were not confirmed, so none is assumed).

A row whose score is empty or NaN has no score: it is left out, counted and reported (``unscored``), never
silently. Every other problem (a missing column, a non-numeric score, a duplicate image, a path escaping the
image folder or not ``<concept>/<image>``, a missing image, a ragged line, non-UTF-8 bytes) is one line naming
the file and line.

There are no official splits: 5 seeded 70/10/20 % train/val/test splits **grouped by concept** — no concept has
images on two sides of a split (:func:`memscore_plugins.benchmarks.memsets.data.seeded_splits` with the concepts
as groups), written out and keyed as MemCat's.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from memscore.arguments import Arg
from memscore.errors import DataError
from memscore.images import shorten, unsafe_relpath

from .data import _read_csv, _score, _SplitSet

__all__ = ["ThingsMemorability", "THINGS_TABLE", "THINGS_ARGS"]

THINGS_TABLE = "THINGS_Memorability_Scores.csv"
#: the set's options, declared once: `memscore data check things-memorability --dataset-args ...` and the benchmarks'
THINGS_ARGS = (
        Arg("score", str, "cr", "the table's score column (cr: corrected recognition, the paper's)", keyed="changed"),
        Arg("table", str, THINGS_TABLE, "the score table in the data folder", keyed="changed"),
        Arg("images", str, "object_images", "the THINGS image folder in the data folder", keyed="changed"),
        Arg("prefix", str, "images/", "the prefix of the table's file_path that the image folder replaces",
            keyed="changed"),
)
_NO_SCORE = ("", "nan", "na", "n/a", "none", "null")


class ThingsMemorability(_SplitSet):
    """THINGS memorability on disk (see the module docstring); ``score`` names the score column."""

    name = "things-memorability"
    title = "THINGS memorability"
    arguments = THINGS_ARGS
    fetch_marks = (THINGS_TABLE, "object_images")
    # The table and the images are separate OSF downloads (the images a password-protected zip): no one archive
    # to default to; --url is needed.
    archive_source = (f"get {THINGS_TABLE} from https://osf.io/5a7z6/ and the THINGS images (object_images/) from "
                      f"https://osf.io/jum2f/ and pack both into one archive")

    def __init__(self, root=None, score: str = "cr", *, table: str = THINGS_TABLE, images: str = "object_images",
                 prefix: str = "images/"):
        if root is None or str(root) == "":
            from memscore.paths import data_dir

            root = os.environ.get("MEMSCORE_THINGS_MEMORABILITY") or data_dir() / "things-memorability"
        super().__init__(root)
        for what, value in (("table", table), ("images", images)):
            if not value or value in (".", "..") or "/" in value or "\\" in value or "\x00" in value:
                raise DataError(f"THINGS memorability {what} {shorten(repr(value))}: give a plain name inside the "
                                f"data folder")
        self.score, self.table, self.images, self.prefix = score, table, images, prefix
        self.unscored: list[str] = []  # rows without a score (left out, reported)

    @property
    def source(self) -> Path:
        return self.root / self.table

    @property
    def images_dir(self) -> Path:
        return self.root / self.images

    def _parse(self):
        from memscore.images import path_kind

        if path_kind(self.root) != "a folder":
            raise DataError(f"THINGS memorability folder {self.root} does not exist or is not a folder; point "
                            f"--data-root things-memorability=PATH at the folder that holds {self.table} and "
                            f"{self.images}/")
        header, rows = _read_csv(self.source, "THINGS memorability table")
        lacking = [c for c in ("file_path", self.score) if c not in header]
        if lacking:
            raise DataError(f"THINGS memorability table {self.source} has no column {', '.join(lacking)} (it has "
                            f"{', '.join(header[:8])}); use the published {THINGS_TABLE} (or give --benchmark-args "
                            f"score=COLUMN)")
        names, scores, concepts, unscored = [], [], [], []
        for r in rows:
            where = f"{self.source}, line {r['_line']}"
            path = r["file_path"]
            rel = path[len(self.prefix):] if self.prefix and path.startswith(self.prefix) else path
            why = unsafe_relpath(rel) if rel else "empty"
            if why:
                raise DataError(f"{where}: file_path {shorten(repr(path))} escapes {self.images}/ ({why}); give "
                                f"<concept>/<image> inside it")
            parts = PurePosixPath(rel).parts
            if len(parts) != 2 or "\\" in rel:
                raise DataError(f"{where}: file_path {shorten(repr(path))} is not {self.prefix}<concept>/<image>; fix "
                                f"that row")
            if r[self.score].strip().lower() in _NO_SCORE:
                unscored.append(rel)
                continue
            names.append(rel)
            scores.append(_score(r[self.score], where))
            concepts.append(parts[0])
        if not names:
            raise DataError(f"THINGS memorability table {self.source}: no row has a {self.score} score")
        self.unscored = unscored
        return names, scores, None, concepts

    def check(self, **kwargs) -> dict:
        report = super().check(**kwargs)
        report["unscored"] = len(self.unscored)  # rows with no score: left out
        report["concepts"] = len(set(self.rows()[3]))
        report["split source"] += ", whole concepts on one side"
        return report
