"""FIGRIM, the FIne-GRained Image Memorability set (Bylinskii, Isola, Bainbridge, Torralba & Oliva, "Intrinsic and
extrinsic effects on image memorability", Vision Research 2015; http://figrim.mit.edu): 1,754 target scenes from
21 SUN categories, each with the counts of a repeat-detection memory game on Amazon Mechanical Turk.

Layout (the names are the defaults; each is an argument)::

    <root>/image_data_targets.mat           # MATLAB struct array `image_data_targets`, one element per target
    <root>/Targets/<category>/<filename>    # e.g. Targets/airport_terminal/sun_aabkzjntjfarengi.jpg

What is confirmed, and where from:

* ``image_data_targets.mat`` holds the variable ``image_data_targets``, a struct array with (at least) the fields
  ``filename``, ``category``, ``amt1`` and ``amt2``; ``amt1``/``amt2`` are structs with the counts ``hits``,
  ``misses``, ``false_alarms`` and ``correct_rejections`` of the within-category (AMT 1) and across-category
  (AMT 2) experiments — the authors' own code loads and reads it so (github.com/cvzoya/memorability-distinctiveness,
  ``context_correlations.m``, ``getContext.m``).
* The five scores and their formulas are the authors' ``calculateScores.m`` (same repository): HR = hits / (hits +
  misses); FAR = false_alarms / (false_alarms + correct_rejections); ACC = (hits + correct_rejections) / all;
  DPRIME = z(HR) − z(FAR) with HR = 1 → 1 − 1/(2·(hits + misses)) and FAR = 0 → 1/(2·(false alarms + correct
  rejections)) (``util/dprime.m``); MI = mutual information of the 2×2 table [[CR, misses], [FA, hits]] + 0.1,
  natural log (``calcMI.m``). memscore adds CR = HR − FAR (corrected recognition, as MemCat's and THINGS's
  scores), and for DPRIME the mirror corrections (HR = 0, FAR = 1) so that every count gives a finite value.
* Images: ``Targets/<category>/<filename>`` (the README of github.com/cvzoya/figrim: "Example image:
  Targets/airport_terminal/sun_aabkzjntjfarengi.jpg"; pysaliency unpacks Targets.zip to that depth), and six pairs
  of targets are duplicates (the same README lists them): each pair is kept on one side of every split.

Assumed (documented, and each an argument): that ``filename`` is the bare file name and the image sits in the
folder named by ``category`` (the README's example); that the .mat file is MATLAB v5/v7 (scipy reads it; a v7.3
file gets a one-line error); the file and variable names (the authors' code loads them from a folder of their own,
``DATAFILES_forSharing``, and figrim.mit.edu is where to download them). A target with no responses in the chosen
experiment (an empty ``amt2``, or counts that leave the score undefined) has no score: it is left out, counted and
reported (``unscored``), never silently.

FIGRIM has no official splits: 5 seeded 70/10/20 % train/val/test splits stratified by category
(:func:`memscore_plugins.benchmarks.memsets.data.seeded_splits`), written out and keyed as MemCat's.
"""
from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from memscore.arguments import Arg
from memscore.errors import DataError
from memscore.images import path_kind, shorten

from .data import _safe_part, _SplitSet

__all__ = ["Figrim", "FIGRIM_SCORES", "FIGRIM_DUPLICATES", "FIGRIM_ARGS", "figrim_score"]

#: the score types: the authors' five (calculateScores.m) and corrected recognition
FIGRIM_SCORES = ("HR", "FAR", "ACC", "DPRIME", "MI", "CR")
COUNTS = ("hits", "misses", "false_alarms", "correct_rejections")
#: FIGRIM's options, declared once: `memscore data check figrim --dataset-args ...` and the benchmarks' own
FIGRIM_ARGS = (
        Arg("score", str, "HR", "FIGRIM's score: HR, FAR, ACC, DPRIME, MI (the authors' five) or CR (HR - FAR)",
            choices=FIGRIM_SCORES, keyed="changed"),
        Arg("experiment", str, "amt1", "the struct field with the counts: amt1 (within category) or amt2 (across)",
            keyed="changed"),
        Arg("scores_file", str, "image_data_targets.mat", "the .mat file in the data folder", keyed="changed"),
        Arg("variable", str, None, "the struct array's variable (default: the file's stem)", keyed="changed"),
        Arg("images", str, "Targets", "the image folder in the data folder (<category>/<filename> inside)",
            keyed="changed"),
        Arg("filename_field", str, "filename", "the struct field with the image's file name", keyed="changed"),
        Arg("category_field", str, "category", "the struct field with the image's category", keyed="changed"),
)
#: the duplicate targets the FIGRIM README lists (category/filename): each pair stays on one side of a split
FIGRIM_DUPLICATES = (
    ("highway/sun_bnjxztsvnercygxn.jpg", "highway/sun_bdwttbytrbnqyqsk.jpg"),
    ("conference_room/sun_awjucfvtjllxrtkv.jpg", "conference_room/sun_abpqxslcljhrwmck.jpg"),
    ("highway/sun_byoonkqxghujgvkh.jpg", "highway/sun_bjitfqyiepkgfkks.jpg"),
    ("highway/sun_bwrlzawyknljbhcb.jpg", "highway/sun_auwrraazjwdcjcjg.jpg"),
    ("mountain/sun_boskvwzgsvsyuhll.jpg", "mountain/sun_bgdykfpjgudqpzlu.jpg"),
    ("conference_room/sun_bzagimnxconenicn.jpg", "conference_room/sun_bsccnfecifucnavf.jpg"),
)


def _z(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


def figrim_score(kind: str, hits: float, misses: float, false_alarms: float, correct_rejections: float) -> float | None:
    """One target's score of type ``kind`` (:data:`FIGRIM_SCORES`) from its counts, as the authors compute it
    (see the module docstring); None where the counts leave it undefined (no responses of the kind it needs)."""
    hm, fc = hits + misses, false_alarms + correct_rejections
    if kind == "HR":
        return hits / hm if hm else None
    if kind == "FAR":
        return false_alarms / fc if fc else None
    if kind == "ACC":
        return (hits + correct_rejections) / (hm + fc) if hm + fc else None
    if not hm or not fc:
        return None
    hr, far = hits / hm, false_alarms / fc
    if kind == "CR":
        return hr - far
    if kind == "DPRIME":
        hr = 1 - 1 / (2 * hm) if hr == 1 else 1 / (2 * hm) if hr == 0 else hr
        far = 1 / (2 * fc) if far == 0 else 1 - 1 / (2 * fc) if far == 1 else far
        return _z(hr) - _z(far)
    if kind == "MI":
        pmf = np.array([[correct_rejections, misses], [false_alarms, hits]], dtype=np.float64) + 0.1
        pmf /= pmf.sum()
        outer = pmf.sum(axis=1, keepdims=True) * pmf.sum(axis=0, keepdims=True)
        return float(np.sum(pmf * np.log(pmf / outer)))
    raise DataError(f"FIGRIM score {kind!r}: use one of {', '.join(FIGRIM_SCORES)}")


def _text(value: Any) -> str | None:
    """A MATLAB char field as text (char matrices pad with blanks), None where it is empty or no text."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, np.ndarray) and value.dtype.kind == "U" and value.size == 1:
        return str(value.reshape(-1)[0]).strip() or None
    return None


def _count(value: Any) -> float | None:
    """A count field: a non-negative whole number (double, uint8, … as MATLAB stored it); None where empty;
    ValueError where it is something else."""
    a = np.asarray(value)
    if a.size == 0:
        return None
    if a.size != 1 or a.dtype.kind not in "biuf":
        raise ValueError
    v = float(a.reshape(-1)[0])
    if not math.isfinite(v) or v < 0 or v != int(v):
        raise ValueError
    return v


class Figrim(_SplitSet):
    """FIGRIM on disk (see the module docstring). ``score``: one of :data:`FIGRIM_SCORES`; ``experiment``: the
    struct field with the counts (``amt1`` within category, ``amt2`` across categories); the file, variable,
    folder and field names are arguments too, for a copy that differs."""

    name = "figrim"
    title = "FIGRIM"
    arguments = FIGRIM_ARGS
    fetch_marks = ("image_data_targets.mat", "Targets")
    # figrim.mit.edu's Targets.zip holds the 630 eye-tracking targets only, and no URL of the memory-game data
    # (image_data_targets.mat) with all 1,754 targets could be confirmed: no default, --url is needed.
    archive_source = ("download the targets and image_data_targets.mat from http://figrim.mit.edu and pack "
                      "image_data_targets.mat and Targets/<category>/ into one archive")

    def __init__(self, root=None, score: str = "HR", experiment: str = "amt1", *,
                 scores_file: str = "image_data_targets.mat", variable: str | None = None, images: str = "Targets",
                 filename_field: str = "filename", category_field: str = "category",
                 count_fields: tuple[str, str, str, str] = COUNTS):
        if root is None or str(root) == "":
            from memscore.paths import data_dir

            root = os.environ.get("MEMSCORE_FIGRIM") or data_dir() / "figrim"
        super().__init__(root)
        if score not in FIGRIM_SCORES:
            raise DataError(f"FIGRIM score {score!r}: use one of {', '.join(FIGRIM_SCORES)}")
        for what, value in (("scores_file", scores_file), ("images", images)):
            if not value or value in (".", "..") or "/" in value or "\\" in value or "\x00" in value:
                raise DataError(f"FIGRIM {what} {shorten(repr(value))}: give a plain name inside the data folder")
        self.score, self.experiment = score, experiment
        self.scores_file, self.images = scores_file, images
        self.variable = variable or Path(scores_file).stem
        self.filename_field, self.category_field = filename_field, category_field
        self.count_fields = tuple(count_fields)
        self.unscored: list[str] = []  # targets the experiment leaves without a score (left out, reported)

    @property
    def source(self) -> Path:
        return self.root / self.scores_file

    @property
    def images_dir(self) -> Path:
        return self.root / self.images

    def _load_mat(self) -> list[dict]:
        """The struct array's elements (dicts), read with scipy; every problem one line."""
        from scipy.io import loadmat

        where = f"FIGRIM scores file {self.source}"
        if path_kind(self.root) != "a folder":
            raise DataError(f"FIGRIM folder {self.root} does not exist or is not a folder; point --data-root "
                            f"figrim=PATH at the folder that holds {self.scores_file} and {self.images}/")
        kind = path_kind(self.source)
        if kind == "missing":
            raise DataError(f"{where} does not exist; download it from http://figrim.mit.edu into {self.root} (or "
                            f"give --benchmark-args scores_file=NAME)")
        if kind != "file":
            raise DataError(f"{where} is {kind}, not a file; replace it with the official .mat file")
        try:
            raw = self.source.read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read {where} ({exc.strerror or exc}); check its permissions") from None
        try:
            mat = loadmat(io.BytesIO(raw), simplify_cells=True)
        except NotImplementedError:  # scipy's word for a v7.3 (HDF5) file
            raise DataError(f"{where} is a MATLAB v7.3 (HDF5) file, which scipy cannot read; save it again with "
                            f"save(..., '-v7') or restore the official file") from None
        except Exception as exc:  # noqa: BLE001 - scipy raises ValueError, OSError, TypeError, … on a bad file
            raise DataError(f"{where} is not a MATLAB .mat file scipy can read ({type(exc).__name__}: "
                            f"{shorten(str(exc), 80)}); restore the official file") from None
        names = [k for k in mat if not k.startswith("__")]
        if self.variable not in mat:
            raise DataError(f"{where} has no variable {self.variable!r} (it has {', '.join(names) or 'none'}); give "
                            f"--benchmark-args variable=NAME")
        data = mat[self.variable]
        if isinstance(data, dict):  # a struct array of one element
            data = [data]
        elif isinstance(data, np.ndarray) and data.dtype == object:
            data = list(data.reshape(-1))
        if not isinstance(data, list) or not data or not all(isinstance(d, dict) for d in data):
            raise DataError(f"{where}: variable {self.variable!r} is not a non-empty struct array (one element per "
                            f"target); restore the official file")
        fields = list(data[0])
        lacking = [f for f in (self.filename_field, self.category_field, self.experiment) if f not in fields]
        if lacking:
            raise DataError(f"{where}: {self.variable} has no field {', '.join(lacking)} (it has "
                            f"{', '.join(fields[:10])}); give the field names as --benchmark-args (experiment=, "
                            f"filename_field=, category_field=)")
        return data

    def _parse(self):
        data = self._load_mat()
        src = f"FIGRIM scores file {self.source}"
        names, scores, cats, seen, unscored = [], [], [], {}, []
        for i, rec in enumerate(data, start=1):
            where = f"{src}, {self.variable}({i})"  # MATLAB's 1-based index
            filename, category = _text(rec.get(self.filename_field)), _text(rec.get(self.category_field))
            if filename is None or category is None:
                raise DataError(f"{where}: no {self.filename_field if filename is None else self.category_field} "
                                f"text; restore the official file")
            name = (f"{_safe_part(category, self.category_field, where)}/"
                    f"{_safe_part(filename, self.filename_field, where)}")
            if name in seen:
                raise DataError(f"{where}: {shorten(name)} is listed twice (first at {self.variable}({seen[name]})); "
                                f"keep one element per target")
            seen[name] = i
            counts = rec.get(self.experiment)
            if counts is None or (isinstance(counts, np.ndarray) and counts.size == 0):
                unscored.append(name)  # no data in this experiment
                continue
            if not isinstance(counts, dict):
                raise DataError(f"{where}: field {self.experiment!r} is not a struct of counts; restore the official "
                                f"file")
            values = []
            for field in self.count_fields:
                if field not in counts:
                    raise DataError(f"{where}: {self.experiment} has no count {field!r} (it has "
                                    f"{', '.join(counts)}); restore the official file")
                try:
                    values.append(_count(counts[field]))
                except ValueError:
                    raise DataError(f"{where}: {self.experiment}.{field} = {shorten(repr(counts[field]), 40)} is not "
                                    f"a count (a whole number ≥ 0); restore the official file") from None
            value = None if None in values else figrim_score(self.score, *values)
            if value is None:
                unscored.append(name)
                continue
            names.append(name)
            scores.append(value)
            cats.append(category)
        if not names:
            raise DataError(f"{src}: no target has a {self.score} score in {self.experiment!r} ({len(unscored)} "
                            f"without responses); choose another --benchmark-args experiment=")
        self.unscored = unscored
        # the README's duplicate pairs: one group each (listed or not), every other target a group of its own
        group = {n: n for n in names}
        for a, b in FIGRIM_DUPLICATES:
            if a in group and b in group:
                group[b] = a
        return names, scores, cats, [group[n] for n in names]

    def check(self, **kwargs) -> dict:
        report = super().check(**kwargs)
        report["score"] = f"{self.score} ({self.experiment})"
        report["unscored"] = len(self.unscored)  # left out: no responses in this experiment
        names = set(self.rows()[0])
        report["duplicate pairs kept together"] = sum(a in names and b in names for a, b in FIGRIM_DUPLICATES)
        return report
