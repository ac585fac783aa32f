"""Resumable, verified downloads and safe unpacking (standard library + tqdm only).

``download(url, dest)``

* streams into ``<dest>.part`` and renames it to ``dest`` only once it is complete and verified, so a
  file at ``dest`` is always whole;
* resumes a ``.part`` left by a broken transfer (this run's or an earlier one's) with an HTTP
  ``Range: bytes=N-`` request; a server that ignores ``Range`` (answers 200) is handled by starting
  over, a 416 answer by checking whether the ``.part`` is already whole;
* retries connection errors, time-outs, short reads and HTTP 5xx/429 (``retries`` times in a row
  without progress, with exponential back-off);
* verifies ``sha256`` and/or ``md5`` when given. **Checksum policy:** on a mismatch the downloaded
  bytes are not deleted and not kept as ``.part`` (which would be resumed, corrupt, forever): they are
  moved aside to ``<dest>.bad`` and a :class:`DataError` names the file, the expected and the actual
  digest. The next call starts a fresh download. An existing ``dest`` that does not match the
  expected digest is left untouched and reported (delete it to download again).

``unpack(archive, dest_dir)`` extracts ``.tar``, ``.tar.gz``/``.tgz`` (any tar compression) and
``.zip`` — chosen by content, not name — into a staging folder next to ``dest_dir``, refusing any
member that would land outside it (absolute names, ``..``, links pointing out, device files); the
``tarfile`` ``data`` filter is applied on top where Python has it. Nothing is half-written: on any
error the staging folder is removed; on success its entries are moved into ``dest_dir``.

``fetch_tree(url, root, marks=..., check=...)`` is what a data set's ``fetch`` does with those two: a data
set's archive (a URL, a local path or a ``file://`` URL) downloaded next to ``root``, verified, unpacked
into a staging folder, the data set's folder found in it (the one holding all of ``marks``, at the top or
≤ 2 levels down: archives often have a top folder), checked, and only then moved to ``root``.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import socket
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Callable, Sequence

from .errors import DataError

__all__ = ["download", "unpack", "fetch_tree", "find_tree", "file_digest", "RETRIES", "RETRY_BACKOFF"]

RETRIES = 5  # failed attempts in a row (without any progress) before giving up
RETRY_BACKOFF = 1.0  # seconds; doubles after each failure in a row (tests set 0)
TIMEOUT = 60.0  # socket timeout, seconds
CHUNK = 1 << 20

_RETRYABLE = (
    ConnectionError, TimeoutError, socket.timeout, http.client.IncompleteRead,
    http.client.RemoteDisconnected, http.client.BadStatusLine, urllib.error.URLError,
)


class _ShortRead(Exception):
    """The server closed the connection before sending every byte it announced."""


class _RetryableHTTP(Exception):
    pass


def _user_agent() -> str:
    from . import __version__

    return f"memscore/{__version__} (+python-urllib)"


def file_digest(path: Path, algorithms: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    """Hex digests of a file, all algorithms in one read."""
    hashes = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            for h in hashes.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashes.items()}


def _expected(sha256: str | None, md5: str | None, sha1: str | None = None) -> dict[str, str]:
    out = {}
    for algo, value, n in (("sha256", sha256, 64), ("md5", md5, 32), ("sha1", sha1, 40)):
        if value:
            v = value.strip().lower()
            if not re.fullmatch(rf"[0-9a-f]{{{n}}}", v):
                raise DataError(f"{algo} checksum {value!r} is not {n} hex digits; pass the digest as printed "
                                f"by `{algo}sum`")
            out[algo] = v
    return out


def _mismatch(path: Path, expected: dict[str, str]) -> tuple[str, str, str] | None:
    if not expected:
        return None
    got = file_digest(path, tuple(expected))
    for algo, want in expected.items():
        if got[algo] != want:
            return algo, want, got[algo]
    return None


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes 100-199/200`` → (100, 200); ``bytes */200`` → (None, 200)."""
    if not value:
        return None, None
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value)
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _is_local(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme in ("", "file")


def download(url: str, dest: str | os.PathLike, *, sha256: str | None = None, md5: str | None = None,
             sha1: str | None = None, progress: bool = True, retries: int | None = None, timeout: float | None = None) -> Path:
    """Download ``url`` to ``dest`` (resumable, verified, atomic). Returns ``dest``.

    An existing ``dest`` is taken as done (it was renamed there only when complete) once it matches
    the given checksum. See the module docstring for the resume and checksum policy.
    """
    dest = Path(dest)
    url = str(url)
    if urllib.parse.urlsplit(url).scheme == "" or re.match(r"^[A-Za-z]:[\\/]", url):
        if not Path(url).is_file():
            raise DataError(f"cannot download {url}: no such file, and not a URL (http://, https://, file://)")
        url = Path(url).resolve().as_uri()
    expected = _expected(sha256, md5, sha1)
    retries = RETRIES if retries is None else retries
    timeout = TIMEOUT if timeout is None else timeout
    if dest.exists():
        bad = _mismatch(dest, expected)
        if bad:
            algo, want, got = bad
            raise DataError(f"existing file {dest} does not match the expected {algo} (expected {want}, got "
                            f"{got}); delete it to download it again, or check the checksum you passed")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")

    failures = 0
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            _transfer(url, part, progress=progress, timeout=timeout, name=dest.name)
            break
        except (_ShortRead, _RetryableHTTP, *_RETRYABLE) as e:
            if isinstance(e, urllib.error.HTTPError):  # a subclass of URLError: 4xx are final
                raise _http_error(url, dest, e) from None
            if isinstance(e, urllib.error.URLError) and (
                    not isinstance(e.reason, OSError) or isinstance(e.reason, FileNotFoundError)):
                raise DataError(f"cannot download {url}: {_reason(e)}; check the URL (or download the file "
                                f"by hand and put it at {dest})") from None
            after = part.stat().st_size if part.exists() else 0
            failures = 0 if after > before else failures + 1
            if failures > retries:
                raise DataError(
                    f"download of {url} failed {failures} times in a row ({_reason(e)}); "
                    f"{after} bytes are kept in {part} and the next attempt resumes from there"
                ) from None
            if failures:
                time.sleep(RETRY_BACKOFF * 2 ** (failures - 1))

    bad = _mismatch(part, expected)
    if bad:
        algo, want, got = bad
        aside = dest.with_name(dest.name + ".bad")
        os.replace(part, aside)
        raise DataError(f"checksum mismatch for {dest.name} from {url}: expected {algo} {want}, got {got}; "
                        f"the download was moved aside to {aside} (delete it) — retry, or check the checksum "
                        f"and URL")
    os.replace(part, dest)
    return dest


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        return f"{type(e.reason).__name__}: {e.reason}" if isinstance(e.reason, BaseException) else str(e.reason)
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _http_error(url: str, dest: Path, e: urllib.error.HTTPError) -> DataError:
    return DataError(f"download of {url} failed: HTTP {e.code} {e.reason}; check the URL, or download the "
                     f"file by hand and put it at {dest}")


def _transfer(url: str, part: Path, *, progress: bool, timeout: float, name: str) -> None:
    """One attempt: append to ``part`` from where it stops; raise a retryable error on a broken stream."""
    from tqdm.auto import tqdm

    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _user_agent(), "Accept-Encoding": "identity"}
    if have and not _is_local(url):
        headers["Range"] = f"bytes={have}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            _, total = _content_range(e.headers.get("Content-Range"))
            e.close()
            if total is not None and total == have:
                return  # the .part was already whole
            part.unlink()  # cannot tell what we hold: start over
            raise _RetryableHTTP("HTTP 416 for the resumed range; restarting from zero") from None
        if e.code in (408, 429) or 500 <= e.code < 600:
            e.close()
            raise _RetryableHTTP(f"HTTP {e.code} {e.reason}") from None
        raise
    with resp:
        status = getattr(resp, "status", None) or 200
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if status == 206:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start != have:  # not the range we asked for: start over cleanly
                part.unlink(missing_ok=True)
                raise _RetryableHTTP(f"server sent range starting at {start}, asked for {have}")
            mode = "ab"
        else:  # 200: the server ignored Range (or none was asked): the body is the whole file
            have, mode = 0, "wb"
            total = length
        expected_body = length if length is not None else (None if total is None else total - have)
        got = 0
        with open(part, mode) as f, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                         unit_divisor=1024, desc=name, disable=not progress,
                                         leave=False) as bar:
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                f.write(block)
                got += len(block)
                bar.update(len(block))
        if expected_body is not None and got < expected_body:
            raise _ShortRead(f"connection closed after {have + got} of {have + expected_body} bytes")


# ---------------------------------------------------------------------------------------------- unpack

def _unsafe_name(name: str) -> str | None:
    """Why an archive member name would escape the destination, or None."""
    if not name or "\x00" in name:
        return "empty or NUL in name"
    for pure in (PurePosixPath(name), PureWindowsPath(name)):
        if pure.is_absolute() or pure.anchor or (isinstance(pure, PureWindowsPath) and pure.drive):
            return "absolute path"
        if ".." in pure.parts:
            return "'..' in path"
    return None


def _inside(base: Path, target: Path) -> bool:
    try:
        target.resolve().relative_to(base.resolve())
        return True
    except ValueError:
        return False


def _check_tar_member(m: tarfile.TarInfo, staging: Path) -> str | None:
    why = _unsafe_name(m.name)
    if why:
        return why
    if m.ischr() or m.isblk() or m.isfifo() or m.isdev():
        return "device or FIFO member"
    if m.issym():
        link = m.linkname
        if PurePosixPath(link).is_absolute() or not _inside(staging, staging / PurePosixPath(m.name).parent / link):
            return f"symbolic link to {link!r} points outside"
    if m.islnk():
        if _unsafe_name(m.linkname) or not _inside(staging, staging / m.linkname):
            return f"hard link to {m.linkname!r} points outside"
    if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
        return "unsupported member type"
    return None


def _archive_kind(archive: Path) -> str:
    if zipfile.is_zipfile(archive):
        return "zip"
    try:
        if tarfile.is_tarfile(archive):
            return "tar"
    except (OSError, tarfile.TarError, EOFError):
        pass
    return ""


def unpack(archive: str | os.PathLike, dest_dir: str | os.PathLike) -> Path:
    """Extract ``archive`` (.tar, .tar.gz/.tgz/.tar.bz2/.tar.xz, .zip) into ``dest_dir``; return ``dest_dir``.

    Members that would escape ``dest_dir`` are refused (:class:`DataError`, nothing extracted). Top-level
    entries that already exist in ``dest_dir`` are an error too (nothing is overwritten).
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    if not archive.is_file():
        raise DataError(f"archive {archive} not found; download it first (or pass the right path)")
    kind = _archive_kind(archive)
    if not kind:
        raise DataError(f"{archive} is not a tar or zip archive (or it is corrupt); delete it and download "
                        f"it again")
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest_dir.name}.unpack-", dir=dest_dir.parent))
    try:
        if kind == "zip":
            _unzip(archive, staging)
        else:
            _untar(archive, staging)
        if dest_dir.exists() or dest_dir.is_symlink():
            _move_into(staging, dest_dir)
        else:
            os.replace(staging, dest_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when it became dest_dir
    return dest_dir


def _refuse(archive: Path, member: str, why: str) -> DataError:
    return DataError(f"refusing to unpack {archive}: member {member!r} would be written outside the "
                     f"destination ({why}); the archive is unsafe or corrupt — nothing was extracted")


def _untar(archive: Path, staging: Path) -> None:
    def checked(tf: tarfile.TarFile):
        for m in tf:
            why = _check_tar_member(m, staging)
            if why:
                raise _refuse(archive, m.name, why)
            yield m

    try:
        with tarfile.open(archive, "r:*") as tf:
            if hasattr(tarfile, "data_filter"):
                tf.extractall(staging, members=checked(tf), filter="data")
            else:  # pragma: no cover - Python < 3.11.4: our own checks only
                tf.extractall(staging, members=checked(tf))
    except DataError:
        raise
    except tarfile.TarError as e:  # FilterError is a TarError
        raise DataError(f"cannot unpack {archive}: {' '.join(str(e).split())}; the archive is corrupt or "
                        f"unsafe — delete it and download it again") from None
    except (OSError, EOFError) as e:
        raise DataError(f"cannot unpack {archive}: {type(e).__name__}: {e}; the archive is truncated or "
                        f"corrupt (delete it and download it again) or the disk is full") from None


def _unzip(archive: Path, staging: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:  # check all first: the central directory is cheap to read
                why = _unsafe_name(info.filename)
                mode = info.external_attr >> 16
                if not why and stat.S_ISLNK(mode):
                    why = "symbolic link"
                if why:
                    raise _refuse(archive, info.filename, why)
            for info in infos:
                zf.extract(info, staging)
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DataError(f"cannot unpack {archive}: {type(e).__name__}: {e}; the archive is truncated or "
                        f"corrupt (delete it and download it again) or the disk is full") from None


def _move_into(staging: Path, dest_dir: Path) -> None:
    if not dest_dir.is_dir():
        raise DataError(f"cannot unpack into {dest_dir}: it exists and is not a folder")
    entries = sorted(staging.iterdir())
    clash = [e.name for e in entries if (dest_dir / e.name).exists() or (dest_dir / e.name).is_symlink()]
    if clash:
        raise DataError(f"cannot unpack into {dest_dir}: {', '.join(clash[:5])} already exist there; move them "
                        f"away or unpack into an empty folder")
    for e in entries:
        os.replace(e, dest_dir / e.name)


# ------------------------------------------------------------------------------------ fetch a data set

def find_tree(top: Path, marks: Sequence[str], depth: int = 2) -> Path | None:
    """The folder under ``top`` (itself or ≤ ``depth`` levels down, breadth first, by name) that holds every
    entry named in ``marks``; None when there is none. Symbolic links are not followed."""
    level = [Path(top)]
    for _ in range(depth + 1):
        for d in level:
            if all((d / m).exists() for m in marks):
                return d
        level = [c for d in level for c in sorted(d.iterdir()) if c.is_dir() and not c.is_symlink()]
    return None


def _archive_name(url: str, fallback: str) -> str:
    """The file name an archive URL (or path) ends in — query and fragment dropped, odd characters replaced."""
    name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(url).path if "://" in url else url)
                         .replace("\\", "/").rstrip("/")).name
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", name).strip(".")
    return name or fallback


def fetch_tree(url: str | None, root: str | os.PathLike, *, marks: Sequence[str], check: Callable[[Path], Any],
               title: str, name: str, obtain: str, sha256: str | None = None, md5: str | None = None,
               progress: bool = True, keep_archive: bool = False, depth: int = 2) -> Path:
    """Fetch a data set whose archive unpacks to a folder holding ``marks`` (its top-level entries, e.g.
    ``("images", "splits")``) into ``root``; return ``root``.

    * ``root`` already holding one of ``marks``: nothing is downloaded; ``check(root)`` (which raises
      :class:`DataError` on an incomplete copy) and return.
    * ``root`` existing with anything else in it: refused (nothing is overwritten).
    * no ``url`` (the data set has no official archive memscore can download): one line saying where to get
      it (``obtain``) and to pass ``--url``.
    * ``url`` a local path: used in place (verified when a checksum is given, never deleted); an
      ``http(s)://`` or ``file://`` URL: :func:`download` next to ``root`` (resumable, verified), deleted
      after success unless ``keep_archive``.
    * the archive is unpacked (:func:`unpack`: names escaping the destination refused) into a staging folder
      next to ``root``; the data set's folder is found in it (:func:`find_tree`, ≤ ``depth`` levels down),
      ``check``-ed there, and only then moved to ``root``. A failed unpack or check leaves ``root`` as it was.
    """
    root = Path(root).expanduser()
    if any((root / m).exists() or (root / m).is_symlink() for m in marks):
        check(root)
        return root
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise DataError(f"cannot fetch {title} into {root}: it exists and is not an (empty) {title} folder; move it "
                        f"away or choose another --dest")
    if not url:
        raise DataError(f"{title} has no official archive memscore can download: {obtain}, then run `memscore data "
                        f"fetch {name} --url ARCHIVE` (a URL, a local path or a file:// URL)")
    url = str(url)
    expected = _expected(sha256, md5)
    local = None
    if "://" not in url:
        local = Path(url).expanduser()
        if not local.is_file():
            raise DataError(f"cannot fetch {title} from {url}: no such file, and not a URL (http://, https://, "
                            f"file://); give the archive's path or URL")
        bad = _mismatch(local, expected)
        if bad:
            raise DataError(f"checksum mismatch for {local}: expected {bad[0]} {bad[1]}, got {bad[2]}; check the "
                            f"file and the checksum")
    root.parent.mkdir(parents=True, exist_ok=True)
    archive = local or download(url, root.parent / f"{root.name}-{_archive_name(url, name + '.archive')}",
                                sha256=sha256, md5=md5, progress=progress)
    staging = root.parent / f".{root.name}.fetch-tmp"
    if staging.exists() or staging.is_symlink():  # our own leftover from an interrupted fetch
        if staging.is_dir() and not staging.is_symlink():
            shutil.rmtree(staging)
        else:
            staging.unlink()
    try:
        unpack(archive, staging)
        tree = find_tree(staging, marks, depth)
        if tree is None:
            top = ", ".join(sorted(p.name for p in staging.iterdir())[:5]) or "nothing"
            raise DataError(f"{archive} holds no {title} tree (a folder with {', '.join(marks)}; found at the top: "
                            f"{top}); check the URL, or {obtain}")
        check(tree)
        if root.is_dir():
            root.rmdir()  # empty, checked above
        os.replace(tree, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if local is None and not keep_archive:
        archive.unlink(missing_ok=True)
    return root
