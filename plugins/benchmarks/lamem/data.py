"""The LaMem memorability data set (Khosla, Raju, Torralba & Oliva, ICCV 2015) as it is on disk.

Layout::

    <root>/images/00000001.jpg … 00058741.jpg
    <root>/splits/{train,val,test}_{1..5}.txt      # "<image file> <score>" per line, no header

Each split k is an independent random split: train (45,000) / val (3,741) / test (10,000), disjoint,
together all 58,741 images. **The same image has a different score in each split file** (different
halves of the participants), so the targets of split k come from split k's own files only: nothing
here merges, averages or looks up scores across files. :meth:`LaMem.read_part` reads exactly one file,
so a benchmark can leave ``test_k`` unread until the very end.

Every problem a user can cause raises :class:`memscore.errors.DataError` with one line naming the file
(and line) and the fix; nothing is cached from a file that failed validation.
"""
from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memscore.errors import DataError
from memscore.images import path_kind, shorten, unsafe_relpath

__all__ = ["LaMem", "SplitPart", "PARTS", "OFFICIAL_SIZES"]

PARTS = ("train", "val", "test")
#: images per part in each official split (58,741 in all)
OFFICIAL_SIZES = {"train": 45000, "val": 3741, "test": 10000}
N_IMAGES = 58741

_SPLIT_FILE = re.compile(r"^(train|val|test)_(\d+)\.txt$")
_REFETCH = "re-download the data set (`memscore data fetch lamem` into an empty folder)"
#: where a user points memscore at a LaMem copy (the end of LaMem's "missing" messages)
_POINT = "point --data-root / MEMSCORE_LAMEM at the folder that holds images/ and splits/"


@dataclass(frozen=True)
class SplitPart:
    """One split file: image names and their scores (in file order), read from ``path`` only."""

    names: list[str]
    scores: np.ndarray  # float64, read-only, aligned with names
    path: Path
    part: str = ""  # "train" | "val" | "test"
    k: int = 0  # split number

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class _Parsed:
    names: list[str]
    scores: np.ndarray
    stamp: tuple
    images_ok: tuple | None = None  # stamp of images/ when every name was last found there


#: why an image name would escape the images folder, or None (fast for plain file names)
_unsafe_name = unsafe_relpath


def _not_a_file(path: Path, what: str, kind: str, *, refetch: str = _REFETCH, point: str = _POINT) -> DataError:
    """The one-line error for ``path`` (a ``what``: "LaMem split file", …) that is ``kind``, not a file
    (``refetch``, ``point``: the data set's own remedies; LaMem's by default)."""
    if kind == "missing":
        return DataError(f"{what} {path} is missing; {refetch}, or {point}")
    return DataError(f"{what} {path} is {kind}, not a regular file; replace it with the file or {refetch}")


def _read_regular(path: Path, what: str, **say: str) -> bytes:
    """The bytes of ``path``, which must be a regular file: a FIFO, a device (``/dev/zero``), a folder or a
    symlink loop is refused before a single byte is read (open never blocks: ``O_NONBLOCK``). ``say``: the
    remedies :func:`_not_a_file` names."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except (FileNotFoundError, NotADirectoryError):
        raise _not_a_file(path, what, path_kind(path), **say) from None
    except PermissionError:
        raise DataError(f"cannot read {what} {path}: permission denied; check its permissions") from None
    except OSError as e:
        kind = path_kind(path)
        if kind != "file":
            raise _not_a_file(path, what, kind, **say) from None
        raise DataError(f"cannot read {what} {path}: {e.strerror or e}; check the file") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_a_file(path, what, path_kind(path), **say)
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    except OSError as e:
        raise DataError(f"cannot read {what} {path}: {e.strerror or e}; check the file") from None
    finally:
        os.close(fd)


def _parse_split_file(path: Path, *, what: str = "LaMem split file", refetch: str = _REFETCH,
                      point: str = _POINT) -> tuple[list[str], np.ndarray]:
    """Parse and validate one split file (format, scores, names, duplicates); raise DataError. ``what``,
    ``refetch``, ``point``: how the messages name the file and its remedies (LaMem's by default; a data set in
    LaMem's format passes its own)."""
    raw = _read_regular(path, what, refetch=refetch, point=point)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text; the split file is corrupt — {refetch}") from None

    names: list[str] = []
    values: list[str] = []
    linenos: list[int] | None = None  # only built when blank lines are skipped
    for i, line in enumerate(text.splitlines()):
        parts = line.split()
        if len(parts) == 2:
            names.append(parts[0])
            values.append(parts[1])
            if linenos is not None:
                linenos.append(i + 1)
        elif not parts:  # blank line (e.g. a trailing one): skipped
            if linenos is None:
                linenos = list(range(1, len(names) + 1))
        else:
            shown = shorten(line.strip(), 60)
            raise DataError(f"{path}:{i + 1}: malformed line {shown!r}: expected '<image file> <score>' "
                            f"(e.g. '00013688.jpg 0.857143'); fix the line or {refetch}")

    def where(j: int) -> str:
        return f"{path}:{linenos[j] if linenos is not None else j + 1}"

    if not names:
        raise DataError(f"{what} {path} is empty; {refetch}")
    try:
        scores = np.array(values, dtype=np.float64)
    except ValueError:
        for j, v in enumerate(values):
            try:
                float(v)
            except ValueError:
                raise DataError(f"{where(j)}: malformed line: score {shorten(repr(v), 60)} of {shorten(names[j])} is "
                                f"not a number; fix the line or "
                                f"{refetch}") from None
        raise  # pragma: no cover - numpy and float() disagree
    bad = ~np.isfinite(scores) | (scores < 0.0) | (scores > 1.0)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        value = "NaN" if math.isnan(scores[j]) else f"{values[j]} (outside [0, 1])"
        raise DataError(f"{where(j)}: score of {shorten(names[j])} is {value}; memorability scores are hit rates in "
                        f"[0, 1] — fix the line or {refetch}")
    for j, name in enumerate(names):
        why = _unsafe_name(name)
        if why:
            raise DataError(f"{where(j)}: image name {shorten(repr(name))} escapes the images folder ({why}); "
                            f"only names "
                            f"inside images/ are allowed — fix the line or {refetch}")
    if len(set(names)) != len(names):
        seen: dict[str, int] = {}
        for j, name in enumerate(names):
            if name in seen:
                raise DataError(f"{where(j)}: duplicate entry {shorten(name)} (first at line "
                                f"{where(seen[name]).rsplit(':', 1)[1]}); each image may appear once per split "
                                f"file — remove the duplicate or {refetch}")
            seen[name] = j
    scores.flags.writeable = False
    return names, scores


def _stamp(path: Path) -> tuple:
    try:
        st = path.stat()
    except (OSError, ValueError):  # missing, a symlink loop, …: nothing to cache
        return ()
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class LaMem:
    """LaMem on disk: ``<root>/images`` and ``<root>/splits``; validated, cached, leak-free split access."""

    name = "lamem"
    # The official archive, linked from the LaMem download page http://memorability.csail.mit.edu/download.html
    # (project page http://memorability.csail.mit.edu, Khosla et al. ICCV 2015). It unpacks to
    # lamem/images/ and lamem/splits/. The server speaks plain http only and may be unreachable or
    # restricted; pass another URL (or a local path / file:// URL of the archive) with `url=`.
    default_url = "http://memorability.csail.mit.edu/lamem.tar.gz"
    # No official checksum is published; pass sha256= to verify your copy.
    default_sha256: str | None = None

    # How the messages name the data set and its remedies. A data set in LaMem's layout (another name, another
    # number of splits, a part it lacks) is a subclass that sets these (memsets' SUN memorability).
    title = "LaMem"
    env_var = "MEMSCORE_LAMEM"
    #: the parts every split has on disk (a part not listed here is read when its file is there)
    required_parts = PARTS
    #: the number of official splits, and the sizes of each split's parts and of the whole set
    official_splits = 5
    official_sizes = OFFICIAL_SIZES
    n_images = N_IMAGES
    refetch = _REFETCH
    point = _POINT
    point_complete = "point --data-root / MEMSCORE_LAMEM at a complete copy"
    #: how to get a copy (said when the folder is missing)
    obtain = "run `memscore data fetch lamem`"

    def __init__(self, root: str | os.PathLike | None = None):
        if root is None or str(root) == "":
            env = os.environ.get(self.env_var)
            if env:
                root = env
            else:
                from memscore.paths import data_dir

                root = data_dir() / self.name
        self.root = Path(root).expanduser()
        self._parts: dict[tuple[str, int], _Parsed] = {}
        # (stamp of images/, names of its regular files, names of its other entries)
        self._image_names: tuple[tuple, set[str], set[str]] | None = None
        self._checked_splits: dict[int, tuple] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r})"

    # ------------------------------------------------------------------------------------------ paths
    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def splits_dir(self) -> Path:
        return self.root / "splits"

    def split_path(self, part: str, k: int) -> Path:
        if part not in PARTS:
            raise DataError(f"unknown {self.title} split part {part!r}; use one of {', '.join(PARTS)}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise DataError(f"{self.title} split number must be an integer ≥ 1 (the official splits are "
                            f"1..{self.official_splits}), got {k!r}")
        return self.splits_dir / f"{part}_{int(k)}.txt"

    def image_path(self, name: str) -> Path:
        why = _unsafe_name(name)
        if why:
            raise DataError(f"image name {shorten(repr(name))} escapes {self.images_dir} ({why}); use a name inside "
                            f"images/")
        return self.images_dir / name

    def split_ids(self) -> list[int]:
        """The split numbers k that have at least one file in ``splits/`` (sorted)."""
        self._require_root()
        ks = set()
        for entry in os.scandir(self.splits_dir):
            m = _SPLIT_FILE.match(entry.name)
            if m:
                ks.add(int(m.group(2)))
        return sorted(ks)

    def _require_root(self) -> None:
        kind = path_kind(self.root)
        if kind == "missing":
            raise DataError(f"{self.title} folder {self.root} does not exist; {self.obtain}, or {self.point}")
        if kind != "a folder":
            raise DataError(f"{self.title} folder {self.root} is {'a file' if kind == 'file' else kind}, not a "
                            f"folder; {self.point}")
        kind = path_kind(self.splits_dir)
        if kind == "missing":
            raise DataError(f"{self.title} folder {self.root} has no splits/ folder; {self.refetch}, or {self.point}")
        if kind != "a folder":
            raise DataError(f"{self.title} splits folder {self.splits_dir} is "
                            f"{'a file' if kind == 'file' else kind}, not a folder; {self.refetch}")

    # ---------------------------------------------------------------------------------------- images
    def _scan_images(self) -> tuple[set[str], set[str]]:
        """(regular files, other entries) of images/ by name: one directory scan (no stat for plain files),
        cached while the folder is unchanged."""
        kind = path_kind(self.images_dir)
        if kind == "missing":
            raise DataError(f"{self.title} images folder {self.images_dir} is missing; {self.refetch}, or "
                            f"{self.point}")
        if kind != "a folder":
            raise DataError(f"{self.title} images folder {self.images_dir} is {'a file' if kind == 'file' else kind}, "
                            f"not a folder; {self.refetch}, or {self.point_complete}")
        stamp = _stamp(self.images_dir)
        if self._image_names is None or self._image_names[0] != stamp:
            files, others = set(), set()
            with os.scandir(self.images_dir) as it:
                for e in it:
                    try:
                        regular = e.is_file()  # follows symlinks: a symlink to an image is an image
                    except OSError:  # a symlink loop
                        regular = False
                    (files if regular else others).add(e.name)
            self._image_names = (stamp, files, others)
        return self._image_names[1], self._image_names[2]

    def _listed_images(self) -> set[str]:
        """Names of the regular files (images) in images/."""
        return self._scan_images()[0]

    def _missing(self, names: list[str]) -> list[str]:
        """The names that are not an image file in images/ (missing, or a folder, a symlink loop, …)."""
        present = self._listed_images()
        missing = []
        for n in names:
            if n in present:
                continue
            if ("/" in n or "\\" in n) and path_kind(self.images_dir / n) == "file":
                continue
            missing.append(n)
        return missing

    def _raise_missing(self, missing: list[str], listed_in) -> None:
        """``listed_in``: the split file (str) or a function from an image name to the file that lists it."""
        where = listed_in if callable(listed_in) else (lambda _: listed_in)
        others = self._scan_images()[1]
        for n in missing:  # an entry that is there but is no image file is named on its own
            if n in others or "/" in n or "\\" in n:
                kind = path_kind(self.images_dir / n)
                if kind != "missing":
                    raise DataError(f"image {shorten(n)} listed in {where(n)} is {kind} in {self.images_dir}, "
                                    f"not an image file; replace it with the image or {self.refetch}")
        first = ", ".join(shorten(n) for n in missing[:3]) + (", …" if len(missing) > 3 else "")
        raise DataError(f"{len(missing)} image(s) listed in {where(missing[0])} are missing from {self.images_dir} "
                        f"(first: {first}); {self.refetch} or {self.point_complete}")

    # ---------------------------------------------------------------------------------------- splits
    def _parsed(self, part: str, k: int, *, check_images: bool) -> _Parsed:
        path = self.split_path(part, k)
        stamp = _stamp(path)
        cached = self._parts.get((part, k))
        if cached is None or cached.stamp != stamp or not stamp:
            if not stamp:
                self._require_root()
            names, scores = _parse_split_file(path, what=f"{self.title} split file", refetch=self.refetch,
                                              point=self.point)
            cached = _Parsed(names, scores, stamp)
            self._parts[(part, k)] = cached
        if check_images and cached.images_ok != _stamp(self.images_dir):
            missing = self._missing(cached.names)
            if missing:
                self._raise_missing(missing, str(path))
            cached.images_ok = _stamp(self.images_dir)
        return cached

    def read_part(self, part: str, k: int, *, check_images: bool = True) -> SplitPart:
        """Read ONE split file (``<part>_<k>.txt``): its names and its own scores, validated and cached."""
        p = self._parsed(part, k, check_images=check_images)
        return SplitPart(names=list(p.names), scores=p.scores, path=self.split_path(part, k), part=part, k=int(k))

    def parts_of(self, k: int) -> tuple[str, ...]:
        """The parts split k has: the required ones, and an optional one whose file is there."""
        return tuple(p for p in PARTS if p in self.required_parts or self.split_path(p, k).exists())

    def split(self, k: int, *, check_images: bool = True) -> dict[str, SplitPart]:
        """``{"train", "val", "test"}`` of split k (those it has: :meth:`parts_of`), each from its own file;
        validated disjoint."""
        have = self.parts_of(k)
        parts = {p: self.read_part(p, k, check_images=check_images) for p in have}
        stamp = tuple(self._parts[(p, k)].stamp for p in have)
        if self._checked_splits.get(k) != stamp:
            sets = {p: set(parts[p].names) for p in have}
            for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
                both = sets[a] & sets[b] if a in sets and b in sets else set()
                if both:
                    first = ", ".join(sorted(both)[:3]) + (", …" if len(both) > 3 else "")
                    raise DataError(f"{self.title} split {k}: {len(both)} image(s) are in both {parts[a].path} and "
                                    f"{parts[b].path} (first: {first}); {'/'.join(have)} of a split must be "
                                    f"disjoint — {self.refetch}")
            self._checked_splits[k] = stamp
        return parts

    def images(self) -> list[str]:
        """Every image name listed in any split file, sorted (names only: no scores are combined)."""
        names: set[str] = set()
        for k in self.split_ids():
            for p in PARTS:
                if self.split_path(p, k).exists():
                    names.update(self._parsed(p, k, check_images=False).names)
        return sorted(names)

    # ----------------------------------------------------------------------------------------- check
    def check(self, *, check_images: bool = True, decode: bool = False, progress: bool = False,
              workers: int | None = None) -> dict:
        """Validate the whole data set; raise DataError on the first problem, else return a report.

        ``check_images``: every listed image must exist. ``decode``: also decode every image (slow:
        minutes for 58,741) — undecodable ones are *reported* in ``bad_images``, not raised.
        """
        self._require_root()
        ks = self.split_ids()
        if not ks:
            first = ", ".join(f"{p}_1.txt" for p in self.required_parts)
            raise DataError(f"no {self.title} split files ({first}, …) in {self.splits_dir}; {self.refetch}")
        needs = ", ".join(self.required_parts[:-1]) + " and " + self.required_parts[-1]
        for k in range(1, max(ks) + 1):  # splits are numbered 1..K without gaps, each complete
            for p in self.required_parts:
                path = self.split_path(p, k)
                kind = path_kind(path)
                if kind == "missing":
                    raise DataError(f"{self.title} split file {path} is missing (split {k} needs {needs}); "
                                    f"{self.refetch}")
                if kind != "file":
                    raise _not_a_file(path, f"{self.title} split file", kind, refetch=self.refetch, point=self.point)
        splits: dict[int, dict[str, int]] = {}
        union: set[str] = set()
        for k in range(1, max(ks) + 1):
            parts = self.split(k, check_images=False)
            splits[k] = {p: len(part) for p, part in parts.items()}
            for part in parts.values():
                union.update(part.names)
        report: dict = {
            "root": str(self.root),
            "images_dir": str(self.images_dir),
            "split_ids": list(range(1, max(ks) + 1)),
            "images": len(union),
            "splits": splits,
            "official_sizes": all(v == self.official_sizes for v in splits.values()) and len(union) == self.n_images,
            "bad_images": [],
            "images_checked": False,
            "decoded": 0,
            "unlisted_images": None,
        }
        if check_images:
            names = sorted(union)
            missing = self._missing(names)
            if missing:
                def listed_in(name: str) -> str:
                    return next((str(self.split_path(p, k)) for k in splits for p in splits[k]
                                 if name in self._parts[(p, k)].names), str(self.splits_dir))

                self._raise_missing(missing, listed_in)
            for parsed in self._parts.values():
                parsed.images_ok = _stamp(self.images_dir)
            present = self._listed_images()
            report["unlisted_images"] = len(present - union)
            report["images_checked"] = True
        if decode:
            report["bad_images"] = self._decode_all(sorted(union), progress=progress, workers=workers)
            report["decoded"] = len(union) - len(report["bad_images"])
        return report

    def _decode_all(self, names: list[str], *, progress: bool, workers: int | None) -> list[dict]:
        from concurrent.futures import ThreadPoolExecutor

        from tqdm.auto import tqdm

        from memscore.images import probe_image

        workers = workers or min(8, os.cpu_count() or 1)
        paths = [self.images_dir / n for n in names]
        bad = []
        with ThreadPoolExecutor(max_workers=workers) as pool:  # Pillow decodes without the GIL
            it = pool.map(probe_image, paths, chunksize=64)
            for name, path, reason in zip(names, paths, tqdm(it, total=len(paths), desc=f"decoding {self.title} images",
                                                              unit="img", disable=not progress)):
                if reason is not None:
                    bad.append({"name": name, "path": str(path), "reason": reason})
        return bad

    # ----------------------------------------------------------------------------------------- fetch
    #: the entries whose presence marks a copy of the data set (in the folder, or in an archive's folder)
    fetch_marks = ("images", "splits")
    #: where to get the archive by hand (said when there is no default URL, or a URL gave something else)
    archive_source = "download the official archive from http://memorability.csail.mit.edu/download.html"

    @classmethod
    def fetch(cls, url: str | None = None, dest: str | os.PathLike | None = None, *, progress: bool = True,
              sha256: str | None = None, md5: str | None = None, keep_archive: bool = False) -> Path:
        """Download the archive (resumable, verified), unpack it safely into ``dest``, check it; return the root.

        ``dest`` resolves like the constructor's ``root``. A ``dest`` that already holds a copy of the tree is
        only checked (nothing downloaded). The archive is downloaded next to ``dest`` and deleted after a
        successful check unless ``keep_archive``. A failed unpack or check leaves ``dest`` untouched. Without
        ``url``, ``default_url``; a data set without one (SUN memorability) says where to get it and to pass
        ``url``. See :func:`memscore.download.fetch_tree`.
        """
        from memscore.download import fetch_tree

        url = str(url or cls.default_url or "") or None
        sha256 = sha256 if sha256 is not None else (cls.default_sha256 if url and url == cls.default_url else None)
        return fetch_tree(url, cls(dest).root, marks=cls.fetch_marks, check=lambda d: cls(d).check(check_images=True),
                          title=cls.title, name=cls.name, obtain=cls.archive_source, sha256=sha256, md5=md5,
                          progress=progress, keep_archive=keep_archive)
