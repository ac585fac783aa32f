"""Names are data: text that came from elsewhere (a model name, a file name, a bundle's field) made safe for
where it is shown — a terminal, a Markdown table, a spreadsheet, a one-line error.

* :func:`printable` escapes control characters (a newline, an ANSI escape, a bidi override) as ``\\xNN``,
  so a name can neither break a line or table nor drive the terminal;
* :func:`cut` shortens a long name for an error line (a 1 MB "model name" is echoed as its first 80 characters);
* :func:`csv_cell` neutralises a cell that a spreadsheet would run as a formula (OWASP "CSV injection": a
  text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return is prefixed with ``'``);
  numbers, and text that is a plain number, are left as they are;
* :func:`write_csv` is the one CSV writer every memscore CSV goes through.
"""
from __future__ import annotations

import csv
import re
import unicodedata
from typing import Any, Iterable, TextIO

__all__ = ["printable", "cut", "one_line", "name", "csv_cell", "csv_row", "write_csv", "md_cell"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?%?")


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: Any) -> str:
    """``text`` with every control or format character (C0, DEL, C1, bidi overrides, zero-width marks)
    escaped as ``\\xNN``/``\\uNNNN``; everything else, non-ASCII letters included, is kept."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else _escape(ch)
                   if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)


def cut(text: Any, limit: int = 80) -> str:
    """``text`` made printable and cut to ``limit`` characters (an ellipsis and the full length said)."""
    raw = str(text)
    text = printable(raw)
    if len(text) <= limit:
        return text
    return f"{text[: max(limit - 1, 1)]}… ({len(raw)} characters)"


def one_line(text: Any, limit: int = 160) -> str:
    """``text`` (an exception's message, say) on one line: whitespace runs made one space, then :func:`cut`."""
    return cut(" ".join(str(text).split()), limit)


def name(text: Any, limit: int = 80) -> str:
    """A name for an error line: printable, cut, quoted."""
    return f"'{cut(text, limit)}'"


def csv_cell(value: Any) -> Any:
    """``value`` safe for a spreadsheet: a text cell that would start a formula gets a leading ``'``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    value = value.replace("\x00", "")
    head = value.lstrip(" ")
    if head.startswith(_FORMULA_START) and not _NUMBER.fullmatch(head.strip()):
        return "'" + value
    return value


def csv_row(row: Iterable[Any]) -> list[Any]:
    return [csv_cell(v) for v in row]


def write_csv(handle: TextIO, rows: Iterable[Iterable[Any]], *, lineterminator: str = "\r\n") -> None:
    """Write ``rows`` as CSV (RFC 4180) with every cell through :func:`csv_cell` (None as an empty cell). The
    CRLF line end is what makes the csv module quote a cell holding a lone CR or LF, which a name may."""
    w = csv.writer(handle, lineterminator=lineterminator)
    for row in rows:
        w.writerow(csv_row(row))


def md_cell(text: Any) -> str:
    """A Markdown table cell: printable (a newline cannot end the row), ``|`` escaped, HTML neutralised."""
    return printable(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
