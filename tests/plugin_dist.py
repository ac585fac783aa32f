"""Writes a throwaway third-party plugin *distribution* (module + dist-info with entry_points.txt)."""
from __future__ import annotations

import textwrap
from pathlib import Path

IMPL_SOURCE = '''
import torch
from memscore.benchmark import Benchmark
from memscore.model import Model, Preprocessing
from memscore.scores import Score


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, stride=4)
        self.pool = torch.nn.AdaptiveAvgPool2d(4)
        self.fc = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).flatten(1))


def build(weights="default", width=4):
    return Model("tiny", Tiny(), Preprocessing(crop_size=32, resize_size=32), weights=str(weights))


class ParamCount(Benchmark):
    identifier = "param-count"
    version = "7"

    def __init__(self, scale=1.0):
        self.scale = float(scale)

    def config(self):
        return {"scale": self.scale}

    def run(self, model, options):
        n = sum(p.numel() for p in model.module.parameters())
        rows = [{"layer": name, "value": float(i), "error": None} for i, name in enumerate(model.layers())]
        return Score(model.identifier, self.identifier, self.version, value=n * self.scale, layers=rows)
'''

#: the registering module stays light (string factories), so listing imports no torch
PLUGIN_SOURCE = '''
from memscore import hookimpl


@hookimpl
def register_models(register):
    register("tiny-net", "memscore_toy_impl:build", description="a throwaway model", tags=["toy"])


@hookimpl
def register_benchmarks(register):
    register("param-count", "memscore_toy_impl:ParamCount", description="counts parameters", tags=["toy"],
             version="7")
'''


def write_distribution(root: Path, name: str = "memscore_toy", source: str = PLUGIN_SOURCE,
                       entry: str | None = None) -> Path:
    """A distribution on ``root`` (to put on sys.path/PYTHONPATH) exposing one `memscore` entry point."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{name}.py").write_text(textwrap.dedent(source))
    (root / "memscore_toy_impl.py").write_text(textwrap.dedent(IMPL_SOURCE))
    info = root / f"{name}-0.3.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[memscore]\n{entry or name} = {name}\n")
    return root
