"""A model: build the module, declare its preprocessing, let memscore apply --weights (none | file)."""
from torch import nn

from memscore.model import Model, Preprocessing
from memscore.weights import apply_weights


def build(weights="default", width: int = 32) -> Model:
    net = nn.Sequential(
        nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(2 * width * 16, 1000))
    model = Model("my-net", net, Preprocessing(crop_size=64, resize_size=72), head="6")
    return apply_weights(model, "none" if weights == "default" else weights)  # no pretrained weights here
