"""What a benchmark plugin implements, and the run options every benchmark receives."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .model import Model
from .scores import Score


@dataclass
class RunOptions:
    """Options of one scoring run (the CLI's common flags). Only ``result_keys`` key the store."""

    device: str = "auto"
    batch_size: int = 64
    seed: int = 0
    limit: int | None = None
    data_root: Path | None = None
    num_workers: int = 0
    bf16: bool = False
    skip_bad_images: bool = False
    #: PCA bases: "disk" (fitted once, cached), "refit" (fitted per run, never written: for models whose
    #: bases the disk cannot hold), "auto" (refit only then); the numbers are the same
    pca_bases: str = "auto"
    progress: bool = True
    cache_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    #: options that change a result (device/batch size/workers only change speed; bf16 changes numbers)
    result_keys = ("seed", "limit", "skip_bad_images", "bf16")

    def keyed(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.result_keys}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


class Benchmark:
    """Base class: subclasses set ``identifier``/``version`` and implement ``run``.

    ``config()`` returns the benchmark's own arguments; with the keyed run options it forms the
    store key, so changing any of them never returns a stale stored score.
    """

    identifier: str = ""
    version: str = "1"
    description: str = ""

    def config(self) -> dict[str, Any]:
        return {}

    def run(self, model: Model, options: RunOptions) -> Score:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, model: Model, options: RunOptions | None = None) -> Score:
        return self.run(model, options or RunOptions())
