"""Defensive image decoding: every image becomes a fully loaded 8-bit RGB ``PIL.Image``.

Policy (the same for every caller, so activations never depend on who decoded the file):

* The file's *content* decides the format, not its name: PNG bytes in a ``.jpg`` decode as PNG.
* EXIF orientation is applied (``ImageOps.exif_transpose``), so the image is upright as a viewer shows it.
* Transparency (RGBA, LA, PA, palette or greyscale with a transparent colour) is **composited onto
  white**, the way a web page with a white background shows it; the alpha channel is then gone.
* Greyscale, bilevel, palette, CMYK, YCbCr are converted to RGB with Pillow's conversions.
  CMYK uses Pillow's naive conversion (no ICC colour management).
* 16-bit and 32-bit integer images (``I;16*``, ``I``) are scaled to 8 bits (``v / 257``) instead of
  being clipped at 255; float images (``F``) are taken as 0..1 when their maximum is ≤ 1, else 0..255.
* Multi-frame files (GIF, MPO, TIFF) give their first frame.
* A **truncated** file is an error; it is never silently padded with grey. (Pillow's global
  ``ImageFile.LOAD_TRUNCATED_IMAGES`` is ignored: we check for truncation ourselves.)

A file that cannot be decoded raises :class:`memscore.errors.DataError` with one line naming the file
and the fix (replace the file, or rerun with ``--skip-bad-images`` to drop it). :func:`probe_image`
returns the reason as a string instead, for checks over many files.
"""
from __future__ import annotations

import errno
import os
import stat
import warnings
from pathlib import Path, PurePosixPath, PureWindowsPath

from .errors import DataError

__all__ = ["load_image", "probe_image", "BadImage", "shorten", "path_kind", "unsafe_relpath"]

_WHITE = (255, 255, 255)


class BadImage(Exception):
    """Internal: the reason an image could not be decoded (no file name, short)."""


def _one_line(text: object, limit: int = 200) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def shorten(name: object, limit: int = 200) -> str:
    """``name`` as one line of at most ``limit`` characters for a message: a longer one keeps its start and
    its end (the file extension) around an ellipsis; line breaks and control characters are escaped."""
    s = str(name)
    if not s.isprintable():
        s = "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)
    if len(s) <= limit:
        return s
    tail = min(20, limit // 4)
    return s[: limit - tail - 1] + "…" + s[-tail:]


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def path_kind(path: str | os.PathLike) -> str:
    """What ``path`` is, for messages: ``"file"`` (a regular file, symlinks followed), ``"missing"``, or a
    phrase: ``"a folder"``, ``"a symlink loop"``, ``"a broken symlink"``, ``"a FIFO (named pipe)"``,
    ``"a character device"``, …, ``"unreadable (<reason>)"``. Never raises, never opens the path."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "a broken symlink" if os.path.islink(path) else "missing"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symlink loop"
        if e.errno == errno.ENAMETOOLONG:
            return "unreadable (file name too long)"
        return f"unreadable ({_one_line(e.strerror or e, 80)})"
    except ValueError:  # an embedded NUL
        return "unreadable (invalid file name)"
    if stat.S_ISREG(st.st_mode):
        return "file"
    for test, what in _KINDS:
        if test(st.st_mode):
            return what
    return "not a regular file"


def unsafe_relpath(name: str) -> str | None:
    """Why a relative file name would leave the folder it is relative to, or None (fast for plain names)."""
    if "\0" in name:
        return "a NUL character in the name"
    if "/" not in name and "\\" not in name and ":" not in name:
        return "'..' is not a file name" if name in (".", "..") else None
    for pure in (PurePosixPath(name), PureWindowsPath(name)):
        if pure.is_absolute() or pure.anchor or pure.drive:
            return "absolute path"
        if ".." in pure.parts:
            return "'..' leads out of the folder"
    return None


def _to_rgb(im):
    import numpy as np
    from PIL import Image

    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im)
        if mode == "I" and a.size and a.min() >= 0 and a.max() <= 255:
            a8 = a.astype(np.uint8)  # an 8-bit image stored as 32-bit ints
        else:
            a8 = np.clip(np.rint(a.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(a8, "L").convert("RGB")
    if mode == "F":
        a = np.asarray(im, dtype=np.float64)
        a = np.nan_to_num(a, nan=0.0, posinf=255.0, neginf=0.0)
        if a.size and a.max() <= 1.0:
            a = a * 255.0
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L").convert("RGB")
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def _decode(path: Path):
    """Open, fully load, orient and convert; raise :class:`BadImage` with a short reason."""
    from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

    try:
        st = path.stat()
    except FileNotFoundError:
        raise BadImage("file not found" if not os.path.islink(path) else "broken symlink") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise BadImage("a symlink loop, not a file") from None
        raise BadImage(f"cannot read file ({_one_line(e.strerror or e)})") from None
    if not stat.S_ISREG(st.st_mode):  # a folder, FIFO or device: opening it could block or read forever
        raise BadImage(f"not an image file: it is {path_kind(path)}")
    size = st.st_size
    if size == 0:
        raise BadImage("empty file (0 bytes)")
    fmt = "image"
    try:
        with warnings.catch_warnings():
            # DecompressionBombWarning etc. become errors only when Pillow raises them itself.
            warnings.simplefilter("ignore", UserWarning)
            with Image.open(path) as im:
                fmt = im.format or fmt
                if ImageFile.LOAD_TRUNCATED_IMAGES and isinstance(im, ImageFile.ImageFile):
                    # Someone enabled silent padding globally; decode with it off for this image.
                    _load_strict(im)
                else:
                    im.load()
                try:
                    out = ImageOps.exif_transpose(im)  # a new, loaded image
                except Exception as e:  # a broken EXIF block: the pixels are fine, say so
                    warnings.warn(f"{path}: EXIF orientation ignored (unreadable EXIF: {_one_line(e)})",
                                  RuntimeWarning, stacklevel=3)
                    out = im.copy()
                out = _to_rgb(out)
                out.load()
                return out
    except UnidentifiedImageError:
        raise BadImage("not a recognised image format (corrupt or not an image)") from None
    except Image.DecompressionBombError as e:
        raise BadImage(f"too large to decode safely ({_one_line(e)})") from None
    except OSError as e:
        msg = _one_line(e)
        if "truncated" in msg.lower():
            raise BadImage(f"truncated {fmt} file ({msg})") from None
        raise BadImage(f"cannot decode {fmt} data ({msg})") from None
    except (SyntaxError, ValueError, TypeError, IndexError, KeyError, EOFError, MemoryError) as e:
        raise BadImage(f"cannot decode image ({type(e).__name__}: {_one_line(e)})") from None


def _load_strict(im) -> None:
    from PIL import ImageFile

    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        im.load()
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old


def load_image(path: str | os.PathLike) -> "Image.Image":  # noqa: F821
    """Decode ``path`` into a fully loaded RGB image, upright, alpha composited onto white.

    Raises :class:`DataError` (one line: the file, the reason, the fix) when it cannot be decoded.
    """
    path = Path(path)
    try:
        return _decode(path)
    except BadImage as e:
        raise DataError(
            f"cannot decode image {path}: {e}; replace the file, or rerun with --skip-bad-images "
            f"to drop it (it will be counted and reported)"
        ) from None


def probe_image(path: str | os.PathLike) -> str | None:
    """``None`` if ``path`` decodes as :func:`load_image` would, else the reason (short, one line)."""
    try:
        _decode(Path(path))
    except BadImage as e:
        return str(e)
    return None
