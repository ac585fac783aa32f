"""What a benchmark plugin implements, and the run options every benchmark receives."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .arguments import Arg
from .dataroots import DataRoots
from .fingerprint import DataInfo
from .model import Model
from .scores import Score


@dataclass
class RunOptions:
    """Options of one scoring run (the CLI's common flags). Only ``result_keys`` key the store."""

    device: str = "auto"
    batch_size: int | str = 64  # or "auto": the largest that fits (memscore.batching)
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
    #: the data set's name on boards (``--data-name``); default its folder's name. Never keyed
    data_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: the ``--data-root NAME=PATH`` roots (``data_root`` is the unnamed PATH, or the benchmark's own root
    #: once :meth:`for_benchmark` resolved it); shared by every copy of these options
    data_roots: DataRoots = field(default_factory=DataRoots)

    #: options that change a result (device/batch size/workers only change speed; bf16 changes numbers)
    result_keys = ("seed", "limit", "skip_bad_images", "bf16")

    def check(self) -> "RunOptions":
        """Reject bad options before any work, each in one line (the device, the data folder, ...)."""
        from .activations import resolve_device
        from .errors import OptionError

        resolve_device(self.device)
        for name, root in [("", self.data_root), *self.data_roots.items()]:
            if root is None:
                continue
            root = Path(root).expanduser()
            if root.exists() and not root.is_dir() and root.suffix.lower() != ".json":
                flag = f"--data-root {name + '=' if name else ''}{root}"
                raise OptionError(f"{flag}: is a file, not a folder; pass the data set's folder (or a data set's "
                                  f"JSON manifest)")
        if self.pca_bases not in ("auto", "disk", "refit"):
            raise OptionError(f"--pca-bases {self.pca_bases!r}: use auto, disk or refit")
        for name in ("batch_size", "num_workers", "seed", "limit"):
            v = getattr(self, name)
            low = 1 if name in ("batch_size", "limit") else 0
            if (v is None and name == "limit") or (v == "auto" and name == "batch_size"):
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise OptionError(f"--{name.replace('_', '-')} {v!r}: expected an integer >= {low}"
                                  + (" or auto" if name == "batch_size" else ""))
        return self

    def keyed(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.result_keys}

    def root_for(self, *names: str, primary: bool = False) -> Path | None:
        """The root given as ``--data-root NAME=PATH`` for the first of ``names``; else, for a benchmark's
        ``primary`` data set, the unnamed ``--data-root PATH``; else None (the data set's default place)."""
        hit = self.data_roots.get(*names)
        if hit is not None:
            return hit[1]
        return Path(self.data_root).expanduser() if primary and self.data_root is not None else None

    def for_benchmark(self, bench: "Benchmark") -> "RunOptions":
        """These options with ``data_root`` resolved to ``bench``'s own data: the root named after the benchmark
        or its first data set, else the unnamed one. The benchmark then reads ``options.data_root``."""
        from dataclasses import replace

        return replace(self, data_root=self.root_for(bench.identifier, *bench.data_sets, primary=True))

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "data_roots"}
        d = {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}
        if self.data_roots.named:
            d["data_roots"] = self.data_roots.to_dict()
        return d


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
    #: the data sets a run reads, its own first (``--data-root NAME=PATH`` takes these names besides the
    #: benchmark's): ``("lamem",)``; a second data set is asked for by name (``options.root_for(name)``)
    data_sets: tuple[str, ...] = ()
    #: benchmarks that, when a sweep runs them too, run before this one on each model: this one reuses
    #: their stored results or cached activations (``lamem-it`` after ``neural-it`` and ``lamem-pls``)
    run_after: tuple[str, ...] = ()
    #: argument prefixes this benchmark hands on to another benchmark it runs (``lamem-it``'s ``neural_*`` go
    #: to ``neural-it``): a sweep with both fills them from the other's arguments, so both share one run
    forwards: dict[str, str] = {}
    #: an argument whose comma-separated value (``metric=pls,rsa,cka``) means one run per value: each is keyed
    #: and stored as its own run, and they share the activations (the first computes them, the others read them)
    fans_out: str | None = None

    def __init__(self, **args: Any):
        """Every declared argument becomes an attribute: its value validated as the core does (types,
        ranges, choices; one line for a bad one), or its default. A plugin with plain arguments writes no
        ``__init__`` of its own."""
        from .arguments import validate

        given = validate(self.arguments, args, f"{self.identifier or type(self).__name__} arguments")
        for a in self.arguments:
            setattr(self, a.name, given[a.name] if a.name in given else a.converted_default())

    def config(self) -> dict[str, Any]:
        """The arguments as keyed (each :class:`~memscore.arguments.Arg` says how: ``keyed``)."""
        out = {}
        for a in self.arguments:
            keep, value = a.keyed_value(getattr(self, a.name, a.converted_default()))
            if keep:
                out[a.name] = value
        return out

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
