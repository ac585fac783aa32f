"""Per-item outputs of a run's reported layer: for each split or fold, each test item's id, prediction and
target, kept with the run so that confidence intervals and paired comparisons between models need no rerun.

Stored in the run file as ``items``: ``{"layer", "statistic", "groups": [{"group", "n", "ids", "prediction",
"target"}]}`` where ``ids`` is the newline-joined ids and ``prediction``/``target`` the float64 values, each
zlib-compressed and base64-encoded (a full LaMem run's 50,000 test items take ~1 MB instead of ~3 MB of JSON
numbers). ``statistic`` says how a score is made of them: ``mean-spearman`` (each group's Spearman rho,
averaged over groups: LaMem's splits) or ``mean-pearson``; ``median-pearson`` for many targets per item (a
neural run: per stimulus and site, each group a fold): Pearson r per column (site, or unit for reverse
predictivity), the median over columns, the mean over groups, then ``r² / ceiling`` when the items carry the
run's ``ceiling`` (Brain-Score's explained variance). Such groups are packed as float32 (``columns``: their
width; ~4 MB for a MajajHong2015 IT run), and a store keeps them out of its index (:mod:`memscore.store`).
"""
from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .errors import DataError

STATISTICS = ("mean-spearman", "mean-pearson", "median-pearson")
MAX_ITEMS = 10_000_000  # per group: a run file that claims more is refused, not decompressed
MAX_COLUMNS = 1_000_000  # targets per item (sites, units)


@dataclass(frozen=True)
class ItemGroup:
    """One split's (or fold's) test items, in the order the run scored them."""

    group: int | str
    ids: tuple[str, ...]
    prediction: np.ndarray
    target: np.ndarray

    def __post_init__(self):
        n = len(self.ids)
        if self.prediction.shape[:1] != (n,) or self.prediction.shape != self.target.shape \
                or self.prediction.ndim > 2:
            raise ValueError(f"item group {self.group}: {n} ids but prediction {self.prediction.shape} and "
                             f"target {self.target.shape}")

    @property
    def columns(self) -> int | None:
        """Targets per item (sites) for a 2-D group; None for one target per item."""
        return self.prediction.shape[1] if self.prediction.ndim == 2 else None


@dataclass(frozen=True)
class Items:
    """The per-item outputs of one run (see the module docstring)."""

    layer: str | None
    statistic: str
    groups: tuple[ItemGroup, ...]
    ceiling: float | None = None  # median-pearson: the score is r² / ceiling

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"layer": self.layer, "statistic": self.statistic, "groups": [
            {"group": g.group, "n": len(g.ids), "ids": _pack("\n".join(g.ids).encode("utf-8")),
             **({"columns": g.columns} if g.columns else {}),
             "prediction": _pack(np.asarray(g.prediction, dtype=_dtype(g)).tobytes()),
             "target": _pack(np.asarray(g.target, dtype=_dtype(g)).tobytes())} for g in self.groups]}
        if self.ceiling is not None:
            out["ceiling"] = float(self.ceiling)
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "run") -> "Items":
        """The items of a run file, checked: a damaged or inconsistent record is one :class:`DataError` line."""
        try:
            if not isinstance(d, dict) or d.get("statistic") not in STATISTICS or not isinstance(d.get("groups"), list):
                raise ValueError(f"statistic must be one of {', '.join(STATISTICS)} and groups a list")
            groups = []
            for g in d["groups"]:
                n = g["n"]
                if not isinstance(n, int) or not 0 < n <= MAX_ITEMS:
                    raise ValueError(f"group size {n!r}")
                m = g.get("columns")
                if m is not None and (not isinstance(m, int) or isinstance(m, bool) or not 0 < m <= MAX_COLUMNS
                                      or n * m > MAX_ITEMS * 8):
                    raise ValueError(f"group width {m!r}")
                size, dtype, shape = (n * m * 4, "<f4", (n, m)) if m else (n * 8, "<f8", (n,))
                ids = _unpack(g["ids"], n * 4096).decode("utf-8").split("\n")
                pred = np.frombuffer(_unpack(g["prediction"], size), dtype=dtype)
                target = np.frombuffer(_unpack(g["target"], size), dtype=dtype)
                if len(ids) != n or pred.size != target.size or pred.size != int(np.prod(shape)):
                    raise ValueError(f"group {g.get('group')!r} holds other than its {n} items")
                groups.append(ItemGroup(g["group"], tuple(ids), pred.reshape(shape).astype(np.float64),
                                        target.reshape(shape).astype(np.float64)))
            ceiling = d.get("ceiling")
            if ceiling is not None and (not isinstance(ceiling, (int, float)) or isinstance(ceiling, bool)
                                        or not np.isfinite(ceiling) or ceiling <= 0):
                raise ValueError(f"ceiling {ceiling!r}")
            return cls(d.get("layer"), d["statistic"], tuple(groups), ceiling)
        except (KeyError, TypeError, ValueError, UnicodeDecodeError, zlib.error, base64.binascii.Error) as exc:
            raise DataError(f"{where}: its per-item outputs are damaged ({type(exc).__name__}: {exc}); "
                            f"rescore it with --force") from None

    def point(self) -> float:
        """The score these items give (what the run reports for its layer)."""
        from .stats import _replicates

        return float(_replicates(self, [np.arange(len(g.ids))[None] for g in self.groups])[0])

    def aligned(self, other: "Items") -> bool:
        """Whether ``other`` scored the same items in the same groups and order (a paired comparison's premise)."""
        return self.statistic == other.statistic and len(self.groups) == len(other.groups) and all(
            a.group == b.group and a.ids == b.ids and np.array_equal(a.target, b.target)
            for a, b in zip(self.groups, other.groups))


def items_of(groups: Sequence[tuple[Any, Sequence[str], np.ndarray, np.ndarray]], *, layer: str | None,
             statistic: str = "mean-spearman", ceiling: float | None = None) -> Items:
    """Build :class:`Items` from ``(group, ids, prediction, target)`` tuples; 2-D groups (items x columns) are
    held at the float32 precision they are stored in, so what a run computes from them is what its file gives."""
    def values(a):
        a = np.asarray(a, dtype=np.float64)
        return a.astype(np.float32).astype(np.float64) if a.ndim == 2 else a

    return Items(layer, statistic, tuple(ItemGroup(g, ids if isinstance(ids, tuple) else tuple(map(str, ids)),
                                                   values(p), values(t)) for g, ids, p, t in groups),
                 None if ceiling is None else float(ceiling))


def _dtype(g: ItemGroup) -> str:
    return "<f4" if g.columns else "<f8"


def _pack(raw: bytes) -> str:
    return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def _unpack(text: Any, limit: int) -> bytes:
    """Decode one packed field, never inflating more than ``limit`` bytes (a zip bomb stops there)."""
    if not isinstance(text, str):
        raise TypeError("a packed field is not text")
    d = zlib.decompressobj()
    out = d.decompress(base64.b64decode(text.encode("ascii"), validate=True), limit + 1)
    if len(out) > limit or d.unconsumed_tail:
        raise ValueError("a packed field inflates beyond its stated size")
    if not d.eof:  # a cut or altered stream: zlib's checksum at its end was never reached or did not match
        raise ValueError("a packed field is truncated")
    return out


def index_form(d: dict[str, Any] | None) -> dict[str, Any] | None:
    """Per-item outputs as a store's index (SQLite) keeps them: whole where they are small (one target per item);
    a neural run's (items x sites, megabytes) as a stub that says they are in the run file."""
    if not isinstance(d, dict) or not any(isinstance(g, dict) and g.get("columns") for g in d.get("groups") or ()):
        return d
    return {"in_run_file": True, "layer": d.get("layer"), "statistic": d.get("statistic")}


def is_stub(d: Any) -> bool:
    return isinstance(d, dict) and d.get("in_run_file") is True
