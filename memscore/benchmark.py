"""What a benchmark plugin implements, and the run options every benchmark receives."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .arguments import Arg
from .fingerprint import DataInfo
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

    def check(self) -> "RunOptions":
        """Reject bad options before any work, each in one line (the device, the data folder, ...)."""
        from .activations import resolve_device
        from .errors import OptionError

        resolve_device(self.device)
        if self.data_root is not None:
            root = Path(self.data_root).expanduser()
            if root.exists() and not root.is_dir():
                raise OptionError(f"--data-root {root}: is a file, not a folder; pass the data set's folder")
        if self.pca_bases not in ("auto", "disk", "refit"):
            raise OptionError(f"--pca-bases {self.pca_bases!r}: use auto, disk or refit")
        for name in ("batch_size", "num_workers", "seed", "limit"):
            v = getattr(self, name)
            low = 1 if name in ("batch_size", "limit") else 0
            if v is None and name == "limit":
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise OptionError(f"--{name.replace('_', '-')} {v!r}: expected an integer >= {low}")
        return self

    def keyed(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.result_keys}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


class Benchmark:
    """Base class: subclasses set ``identifier``/``version`` and implement ``run``.

    ``arguments`` declares the benchmark's arguments (:class:`memscore.arguments.Arg`); the core
    validates user values against it before anything runs. ``config()`` returns the benchmark's own
    arguments and ``data(options)`` the content fingerprint of the data a run would read; with the keyed
    run options they form the store key, so changing any of them — or one line of the data — never
    returns a stale stored score.
    """

    identifier: str = ""
    version: str = "1"
    description: str = ""
    arguments: tuple[Arg, ...] = ()
    #: benchmarks that, when a sweep runs them too, run before this one on each model: this one reuses
    #: their stored results or cached activations (``lamem-it`` after ``neural-it`` and ``lamem-pls``)
    run_after: tuple[str, ...] = ()
    #: argument prefixes this benchmark hands on to another benchmark it runs (``lamem-it``'s ``neural_*`` go
    #: to ``neural-it``): a sweep with both fills them from the other's arguments, so both share one run
    forwards: dict[str, str] = {}

    def config(self) -> dict[str, Any]:
        return {}

    def data(self, options: "RunOptions") -> DataInfo | None:
        """The data a run with ``options`` reads, with its content fingerprint (None: reads no data).

        Called before the store is asked, so it must be cheap enough to run on every call; a benchmark
        may keep what it loaded here for its ``run``.
        """
        return None

    def run(self, model: Model, options: RunOptions) -> Score:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, model: Model, options: RunOptions | None = None) -> Score:
        return self.run(model, options or RunOptions())
