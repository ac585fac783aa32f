"""The model factory: builds the torch module and says how to preprocess images for it."""
from pathlib import Path

import torch
from torch import nn

from memscore.model import Model, Preprocessing
from memscore.weights import load_checkpoint


def build(weights="default", width: int = 32) -> Model:
    net = nn.Sequential(
        nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        nn.Linear(2 * width * 16, 1000),
    )
    if weights not in (None, "none", "default"):
        load_checkpoint(net, Path(weights), what="my-net")  # safe (weights_only) loading, one-line errors
    return Model("my-net", net, Preprocessing(crop_size=224, resize_size=256),
                 weights=str(weights), head="6")
