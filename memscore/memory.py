"""Memory budgets: how many bytes of activations and PCA bases one pass may hold, following the limit of
a SLURM job's or container's cgroup (which /proc/meminfo does not show)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

import torch


def groups(names: Iterable[str], cost: Callable[[str], int], budget: int) -> list[list[str]]:
    """Consecutive groups of layers whose summed cost stays within budget (one layer at least)."""
    groups: list[list[str]] = [[]]
    used = 0
    for n in names:
        c = cost(n)
        if groups[-1] and used + c > budget:
            groups.append([])
            used = 0
        groups[-1].append(n)
        used += c
    return [g for g in groups if g]


def default_memory_gb(device: torch.device) -> float:
    env = os.environ.get("MEMSCORE_MEMORY_GB")
    if env:
        return float(env)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return 0.6 * free / 2**30
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 * 2**30
    limit = cgroup_memory_limit()
    return 0.45 * min(total, limit or total) / 2**30


def available_memory() -> int:
    """MemAvailable (free memory plus reclaimable page cache) in bytes, at most the cgroup's limit;
    0 where unknown."""
    avail = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    limit = cgroup_memory_limit()
    return min(avail, limit) if avail and limit else avail


def cgroup_memory_limit(proc_cgroup: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> int | None:
    """The memory limit of this process's cgroup or of any cgroup above it (a SLURM job, a container),
    in bytes; None where there is none. /proc/meminfo shows the whole machine, not the job's share."""
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        hid, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hid == "0" and controllers == "":  # cgroup v2: <root>/<path>/memory.max
            base, fname = Path(root), "memory.max"
        elif "memory" in controllers.split(","):  # cgroup v1: <root>/memory/<path>/memory.limit_in_bytes
            base, fname = Path(root) / "memory", "memory.limit_in_bytes"
        else:
            continue
        parts = [p for p in path.split("/") if p]
        for depth in range(len(parts), -1, -1):  # the cgroup and each one above it
            try:
                value = (base.joinpath(*parts[:depth]) / fname).read_text().strip()
            except OSError:
                continue
            if value.isdigit() and int(value) < 2**60:  # "max" / ~2^63: no limit
                limits.append(int(value))
    return min(limits) if limits else None
