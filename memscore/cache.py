"""The engine's disk cache: file names, and each file checked against the record written beside it
(size, a sampled checksum, shape and dtype), so a damaged file is recomputed, never used."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .notice import notice


def fname(layer: str) -> str:
    return layer.replace("/", "_") or "_root"


def read_json(path: Path, what: str | None) -> dict:
    """A small JSON record, or {} when it is missing or damaged (said in one notice when ``what``)."""
    try:
        d = json.loads(path.read_text())
        if isinstance(d, dict):
            return d
        raise ValueError("not an object")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        if what:
            notice(f"{what} {path} is damaged ({type(exc).__name__}); recomputing what it described")
        return {}


_SAMPLES, _CHUNK = 16, 1 << 16


def _sample_crc(path: Path, size: int) -> int:
    """CRC-32 of 16 spread 64 KiB chunks and the tail: a cheap checksum that catches truncation,
    garbage and swapped files without reading gigabytes."""
    import zlib

    crc = 0
    with open(path, "rb") as f:
        offsets = sorted({int(i * max(size - _CHUNK, 0) / max(_SAMPLES - 1, 1)) for i in range(_SAMPLES)})
        for off in offsets:
            f.seek(off)
            crc = zlib.crc32(f.read(_CHUNK), crc)
    return crc


def file_record(path: Path) -> dict:
    """What a cache file is when written: size, sampled checksum, and for arrays shape and dtype."""
    size = path.stat().st_size
    rec = {"size": size, "crc": _sample_crc(path, size)}
    if path.suffix == ".npy":
        arr = np.load(path, mmap_mode="r")
        rec.update(shape=list(arr.shape), dtype=arr.dtype.str)
        del arr
    return rec


def check_file(path: Path, rec: dict | None, *, rows: int | None = None, units: int | None = None) -> str | None:
    """Why the cache file does not match its record (None: it does)."""
    if not isinstance(rec, dict):
        return "not recorded"
    try:
        size = path.stat().st_size
        if size != rec.get("size"):
            return f"{size} bytes, {rec.get('size')} expected"
        if units is not None and rec.get("units") != units:
            return f"recorded for {rec.get('units')} units, the layer has {units}"
        if rows is not None and (not rec.get("shape") or rec["shape"][0] != rows):
            return f"shape {rec.get('shape')}, {rows} rows expected"
        if path.suffix == ".npy":
            arr = np.load(path, mmap_mode="r")
            if list(arr.shape) != rec.get("shape") or arr.dtype.str != rec.get("dtype"):
                return f"shape {list(arr.shape)} {arr.dtype}, {rec.get('shape')} {rec.get('dtype')} recorded"
            del arr
        if _sample_crc(path, size) != rec.get("crc"):
            return "checksum differs"
    except (OSError, ValueError) as exc:
        return f"unreadable: {type(exc).__name__}"
    return None


class CacheRecord:
    """A cache folder's record (a small JSON file beside its files): what each file was when written, and what
    the folder holds besides (``header``: the activation cache's stimuli count and undecodable rows). The one
    protocol of every cache folder: a file is used only when it matches its record (:func:`check_file`); a
    record is written atomically, merged with what a concurrent run recorded meanwhile (when ``compatible``)."""

    def __init__(self, path: Path, what: str):
        self.path, self.what = Path(path), what
        data = read_json(self.path, what)
        files = data.get("files")
        self.files: dict = files if isinstance(files, dict) else {}
        self.header = {k: v for k, v in data.items() if k != "files"}

    def check(self, key: str, file: Path, **expect) -> str | None:
        """Why ``file`` (recorded under ``key``) does not match its record (None: it does)."""
        return check_file(file, self.files.get(key), **expect)

    def add(self, key: str, file: Path, **extra) -> None:
        self.files[key] = {**file_record(file), **extra}

    def save(self, header: dict | None = None, compatible=lambda current: True) -> None:
        """Write the record (``header`` replacing the old one), keeping files a concurrent run recorded
        meanwhile when ``compatible(current record)`` says theirs still hold."""
        from . import atomic

        current = read_json(self.path, None)
        theirs = current.get("files") if isinstance(current.get("files"), dict) else {}
        if theirs and compatible(current):
            self.files = {**theirs, **self.files}
        if header is not None:
            self.header = header
        atomic.write_text(self.path, json.dumps({**self.header, "files": self.files}))
