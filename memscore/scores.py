"""The Score: a benchmark's verdict on a model, with its per-layer and per-split tables and provenance."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any


OPTIONAL = ("ci", "items")


@dataclass
class Score:
    model: str
    benchmark: str
    benchmark_version: str
    value: float
    error: float | None = None
    ceiling: float | None = None
    raw: float | None = None
    #: one row per scored layer: {"layer", "value", "error", ...extra columns}
    layers: list[dict[str, Any]] = field(default_factory=list)
    #: one row per split/fold (of the committed/best layer, or of the whole model)
    splits: list[dict[str, Any]] = field(default_factory=list)
    #: provenance: versions, weights, seed, device, config, skipped items, timings, run id
    meta: dict[str, Any] = field(default_factory=dict)
    #: seeded bootstrap interval [low, high] of ``value`` over the test items (:mod:`memscore.stats`)
    ci: list[float] | None = None
    #: per-item outputs of the reported layer (:class:`memscore.items.Items` as a dict)
    items: dict[str, Any] | None = None

    @property
    def best_layer(self) -> str | None:
        rows = [r for r in self.layers if r.get("value") is not None and not _nan(r["value"])]
        return max(rows, key=lambda r: r["value"])["layer"] if rows else None

    def to_dict(self) -> dict[str, Any]:
        d = _clean(asdict(self))
        for k in OPTIONAL:  # absent, not null, when a run has none: a run file written before them reads back equal
            if d.get(k) is None:
                d.pop(k, None)
        return d

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Score":
        fields = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**fields)

    @classmethod
    def from_json(cls, text: str) -> "Score":
        return cls.from_dict(json.loads(text))

    def summary(self) -> str:
        from .safetext import printable

        err = f" ± {self.error:.4f}" if self.error is not None else ""
        layer = f" (layer {self.meta.get('layer') or self.best_layer})" if self.layers else ""
        return printable(f"{self.model} on {self.benchmark}: {self.value:.4f}{err}{layer}")


def _nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _clean(obj: Any) -> Any:
    """Make numpy scalars/arrays JSON-native; NaN becomes None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return _clean(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
