"""Per-item outputs of a run's reported layer: for each split or fold, each test item's id, prediction and
target, kept with the run so that confidence intervals and paired comparisons between models need no rerun.

Stored in the run file as ``items``: ``{"layer", "statistic", "groups": [{"group", "n", "ids", "prediction",
"target"}]}`` where ``ids`` is the newline-joined ids and ``prediction``/``target`` the float64 values, each
zlib-compressed and base64-encoded (a full LaMem run's 50,000 test items take ~1 MB instead of ~3 MB of JSON
numbers). ``statistic`` says how a score is made of them: ``mean-spearman`` (each group's Spearman rho,
averaged over groups: LaMem's splits) or ``mean-pearson``.
"""
from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .errors import DataError

STATISTICS = ("mean-spearman", "mean-pearson")
MAX_ITEMS = 10_000_000  # per group: a run file that claims more is refused, not decompressed


@dataclass(frozen=True)
class ItemGroup:
    """One split's (or fold's) test items, in the order the run scored them."""

    group: int | str
    ids: tuple[str, ...]
    prediction: np.ndarray
    target: np.ndarray

    def __post_init__(self):
        n = len(self.ids)
        if self.prediction.shape != (n,) or self.target.shape != (n,):
            raise ValueError(f"item group {self.group}: {n} ids but prediction {self.prediction.shape} and "
                             f"target {self.target.shape}")


@dataclass(frozen=True)
class Items:
    """The per-item outputs of one run (see the module docstring)."""

    layer: str | None
    statistic: str
    groups: tuple[ItemGroup, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "statistic": self.statistic,
                "groups": [{"group": g.group, "n": len(g.ids), "ids": _pack("\n".join(g.ids).encode("utf-8")),
                            "prediction": _pack(np.asarray(g.prediction, dtype="<f8").tobytes()),
                            "target": _pack(np.asarray(g.target, dtype="<f8").tobytes())} for g in self.groups]}

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
                ids = _unpack(g["ids"], n * 4096).decode("utf-8").split("\n")
                pred = np.frombuffer(_unpack(g["prediction"], n * 8), dtype="<f8")
                target = np.frombuffer(_unpack(g["target"], n * 8), dtype="<f8")
                if len(ids) != n or pred.shape != (n,) or target.shape != (n,):
                    raise ValueError(f"group {g.get('group')!r} holds other than its {n} items")
                groups.append(ItemGroup(g["group"], tuple(ids), pred.astype(np.float64), target.astype(np.float64)))
            return cls(d.get("layer"), d["statistic"], tuple(groups))
        except (KeyError, TypeError, ValueError, UnicodeDecodeError, zlib.error, base64.binascii.Error) as exc:
            raise DataError(f"{where}: its per-item outputs are damaged ({type(exc).__name__}: {exc}); "
                            f"rescore it with --force") from None

    def point(self) -> float:
        """The score these items give (what the run reports for its layer)."""
        from .stats import correlation

        kind = self.statistic.split("-", 1)[1]
        return float(np.mean([correlation(g.prediction, g.target, kind) for g in self.groups]))

    def aligned(self, other: "Items") -> bool:
        """Whether ``other`` scored the same items in the same groups and order (a paired comparison's premise)."""
        return self.statistic == other.statistic and len(self.groups) == len(other.groups) and all(
            a.group == b.group and a.ids == b.ids and np.array_equal(a.target, b.target)
            for a, b in zip(self.groups, other.groups))


def items_of(groups: Sequence[tuple[Any, Sequence[str], np.ndarray, np.ndarray]], *, layer: str | None,
             statistic: str = "mean-spearman") -> Items:
    """Build :class:`Items` from ``(group, ids, prediction, target)`` tuples."""
    return Items(layer, statistic, tuple(ItemGroup(g, ids if isinstance(ids, tuple) else tuple(map(str, ids)),
                                                   np.asarray(p, dtype=np.float64),
                                                   np.asarray(t, dtype=np.float64)) for g, ids, p, t in groups))


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
