"""A tiny CNN model plugin for the fine-tuning tests, installed as a throwaway *distribution*.

``tiny-cnn``: two stride-2 convolutions (8 and 16 channels) with BatchNorm and ReLU, global average
pooling and a 10-way ``fc`` head; 32 px input (resize 36). It trains in well under a second per
epoch on a few hundred fixture images on one CPU core and picks up the fixture's planted signal
(brightness and contrast) within a few epochs. It is registered through a real ``memscore`` entry
point (dist-info on ``sys.path``/``PYTHONPATH``), so subprocesses and the ``finetuned:`` resolver (which
rebuilds the base model by name) find it exactly as they would a third-party plugin.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

IMPL = '''
import torch
from torch import nn

from memscore.model import Model, Preprocessing


class TinyNet(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(2 * width, 10)

    def forward(self, x):
        return self.fc(self.features(x))


def build(weights="default", width=8):
    from pathlib import Path

    from memscore.weights import load_checkpoint

    module = TinyNet(int(width))
    if weights not in (None, "none", "default"):
        load_checkpoint(module, Path(weights), what="tiny-cnn")
    return Model("tiny-cnn", module, Preprocessing(crop_size=32, resize_size=36),
                 weights="none" if weights in (None, "none") else str(weights), head="fc")


def build_wide(weights="default"):
    m = build(weights, width=4)
    m.identifier = "tiny-cnn-narrow"
    return m
'''

PLUGIN = '''
from memscore import hookimpl


@hookimpl
def register_models(register):
    register("tiny-cnn", "memscore_ftoy_impl:build", description="a tiny CNN for fine-tuning tests", tags=["toy"])
    register("tiny-cnn-narrow", "memscore_ftoy_impl:build_wide", description="narrower tiny CNN", tags=["toy"])
'''


def write_toy(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "memscore_ftoy.py").write_text(PLUGIN)
    (root / "memscore_ftoy_impl.py").write_text(IMPL)
    info = root / "memscore_ftoy-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: memscore_ftoy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[memscore]\nftoy = memscore_ftoy\n")
    return root


def subprocess_env(toy_root: Path, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    tests = str(Path(__file__).parent)
    env["PYTHONPATH"] = os.pathsep.join([str(toy_root), tests] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["MEMSCORE_HOME"] = str(home)
    env.pop("MEMSCORE_PLUGINS", None)
    return env


def activate(toy_root: Path) -> None:
    """Put the toy distribution on ``sys.path`` and reload the plugins (in this process)."""
    import importlib

    from memscore.pluginmanager import get_plugins

    if str(toy_root) not in sys.path:
        sys.path.insert(0, str(toy_root))
    importlib.invalidate_caches()
    get_plugins(reload=True)


def deactivate(toy_root: Path) -> None:
    import importlib

    from memscore.pluginmanager import get_plugins

    while str(toy_root) in sys.path:
        sys.path.remove(str(toy_root))
    importlib.invalidate_caches()
    get_plugins(reload=True)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy plugin distribution, importable in this process and in subprocesses."""
    root = write_toy(tmp_path_factory.mktemp("ftoy"))
    activate(root)
    yield root
    deactivate(root)
