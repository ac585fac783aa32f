"""What an extraction will compute and write, said before the heavy work starts, and refused in one line
when this machine's disk or memory cannot hold it (instead of failing an hour in)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import atomic, memory
from .errors import MemscoreError


class ResourceError(MemscoreError):
    """A run needs more disk or memory than this machine has."""


@dataclass(frozen=True)
class Cost:
    """The plan of one extraction: how many layers (and stimuli) it computes, in how many forward passes,
    how the PCA is had ("gram": from the stimuli' own Gram, nothing stored; "disk": bases fitted once and
    kept; "refit": bases fitted per pass, never written; "none": no PCA), what it writes and holds."""

    model: str
    stimuli: int
    layers: int
    cached: int
    passes: int
    pca: str
    bases_bytes: int
    activations_bytes: int
    peak_bytes: int  # the most one pass holds (its layer group)
    layer_bytes: int = 0  # the most one layer holds: a pass cannot hold less
    peak_layer: str = ""
    peak_on_cpu: bool = True  # the memory check reads this machine's memory; a GPU's is the budget's business

    def line(self) -> str:
        cached = f" ({self.cached} cached)" if self.cached else ""
        how = {"gram": "PCA from the stimuli' own Gram (no bases written)",
               "disk": f"PCA bases {size(self.bases_bytes)} written" if self.bases_bytes else "PCA bases cached",
               "refit": "PCA bases refitted per pass (none written)", "none": "no PCA",
               "norm": "each layer reduced to its L2 norm"}[self.pca]
        held = f"; holds up to {size(self.peak_bytes)} in memory" if self.peak_bytes else ""
        return (f"{self.model}: {self.stimuli} stimuli x {_n(self.layers, 'layer')} to compute{cached}; "
                f"{_n(self.passes, 'pass', 'passes')}; {how}; activations {size(self.activations_bytes)}{held}")

    def announce(self, folder: Path) -> "Cost":
        """Say this plan (one notice on stderr) and :meth:`check` it."""
        from .notice import notice

        notice(self.line())
        return self.check(folder)

    def check(self, folder: Path, available_memory: int | None = None) -> "Cost":
        """Refuse, in one line, what the disk under ``folder`` or the memory cannot hold."""
        atomic.ensure_space(folder, self.bases_bytes + self.activations_bytes)
        avail = (memory.available_memory() if self.peak_on_cpu else 0) if available_memory is None \
            else available_memory
        if avail and self.layer_bytes > avail:
            raise ResourceError(
                f"{self.model}: layer {self.peak_layer} needs {size(self.layer_bytes)} of memory at once, more "
                f"than the {size(avail)} available; score fewer stimuli (--limit), a smaller reference set "
                f"(--benchmark-args reference_size=N) or a smaller --image-size, or free memory")
        return self


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def size(n: int) -> str:
    """Bytes as people read them: 0 B, 812 kB, 31 MB, 6.1 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            v = n / scale
            return f"{v:.1f} {unit}" if v < 10 else f"{v:.0f} {unit}"
    return f"{n} B"


def extraction_cost(engine, stimuli, todo, units: dict[str, int], mode: str, cached: int = 0) -> Cost:
    """What the extractor ``engine`` computes, writes and holds for the layers ``todo`` of ``stimuli``, with
    its own layer grouping (:mod:`memscore.memory`) and PCA ``mode``."""
    from .cache import fname

    n, need = len(stimuli), engine._reduced(todo, units)
    n_ref = len(engine.reference) if engine.reference is not None else n
    dim = {name: min(engine.k, n_ref - 1, units[name]) if name in need else 1 if mode == "norm" else units[name]
           for name in todo}
    per_layer = {name: 0 for name in todo}
    bases = 0
    groups: list[list[str]] = [list(todo)]
    if mode == "gram":
        per_layer.update({name: engine._gram_cost(units[name], n) for name in need})
        groups = memory.groups(todo, per_layer.__getitem__, engine.memory)
        passes = len(groups)
    elif mode in ("none", "norm") or not need:
        passes = 1
    else:
        per_layer.update({name: engine._fit_cost(units[name]) for name in need})
        if mode == "refit":  # per group: its reference passes (fits) and its own pass
            plan = engine._refit_plan(todo, units)
            fits = [fit for _, group_fits in plan for fit in group_fits]
            groups, passes = fits or [[]], len(plan) + len(fits)
        else:
            stored = engine.cache / "pca" / engine._key(**engine._reducer_key())
            unfitted = [name for name in need if not (stored / f"{fname(name)}.pt").exists()]
            bases = sum(units[name] * (dim[name] + 1) * 4 for name in unfitted)
            fit = memory.groups(unfitted, per_layer.__getitem__, engine.memory)
            groups = fit or [[]]
            mmap = engine.device.type == "cpu"
            passes = len(fit) + len(memory.groups(
                todo, lambda name: units[name] * dim[name] * 4 if name in need else 0, engine._bases_budget(mmap)))
    peak = max(todo, key=per_layer.__getitem__)
    return Cost(model=engine.model.identifier, stimuli=n, layers=len(todo), cached=cached, passes=passes, pca=mode,
                bases_bytes=bases, activations_bytes=sum(n * d * 4 for d in dim.values()),
                peak_bytes=max(sum(per_layer[name] for name in group) for group in groups),
                layer_bytes=per_layer[peak], peak_layer=peak, peak_on_cpu=engine.device.type == "cpu")


def estimate_seconds(engine, cost: Cost, layers: list[str], *, n_ref: int | None = None) -> dict:
    """Seconds this extraction would take here, from a cost model calibrated on this machine now: one timed
    forward of a small batch (per image, times stimuli and passes) and one timed matrix product (the PCA's
    Gram, basis and projection flops at that rate). An estimate: it says so, and how it was measured."""
    import time

    import torch

    if not cost.layers:
        return {"total_s": 0.0, "forward_s": 0.0, "pca_s": 0.0, "how": "everything is cached"}
    units = {li.name: li.units for li in engine.model.layer_info(engine.image_size)}
    size = engine.image_size or engine.model.preprocessing.crop_size
    b = 8
    x = torch.randn(b, 3, size, size, device=engine.device)
    with torch.inference_mode():
        engine.model.module(x)  # warm-up
        t0 = time.perf_counter()
        engine.model.module(x)
        if engine.device.type == "cuda":
            torch.cuda.synchronize(engine.device)
        per_image = (time.perf_counter() - t0) / b
        a = torch.randn(1024, 2048, device=engine.device)
        t0 = time.perf_counter()
        a @ a.T
        if engine.device.type == "cuda":
            torch.cuda.synchronize(engine.device)
        flops = 2 * 1024 * 1024 * 2048 / max(time.perf_counter() - t0, 1e-9)
    n, k = cost.stimuli, engine.k or 0
    n_ref = n_ref or (len(engine.reference) if engine.reference is not None else n)
    reduced = [units[name] for name in layers if k and units[name] > k]
    keep = min(k, n_ref - 1) if k else 0
    if cost.pca == "gram":  # float64 Gram (half the float32 rate) and the float32 sign pass
        work = sum(2 * n * n * u * 2 + 2 * n * keep * u for u in reduced)
    elif cost.pca in ("disk", "refit"):
        fit = sum(2 * n_ref * n_ref * u * 2 + 2 * n_ref * keep * u * 2 for u in reduced) if cost.bases_bytes or \
            cost.pca == "refit" else 0
        work = fit + sum(2 * n * keep * u for u in reduced)
    else:
        work = 0
    forward = per_image * n * max(cost.passes, 1)
    pca = work / flops
    return {"total_s": forward + pca, "forward_s": forward, "pca_s": pca, "per_image_s": per_image,
            "flops_per_s": flops, "how": f"one timed forward of {b} images ({per_image * 1e3:.1f} ms per image) and "
                                         f"one timed matrix product ({flops / 1e9:.0f} GFLOP/s) on {engine.device}"}
