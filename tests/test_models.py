"""Every registered model meets the model contract (memscore.testing.check_model), as timm's
tests/test_models.py: a fast subset by default, every available registered model under ``-m slow``."""
from __future__ import annotations

import pytest

from memscore.testing import check_model

#: one per source and family: the default run
FAST = ["resnet18", "mobilenet-v2", "squeezenet1.1", "efficientnet-b0", "cornet-z", "cornet-s",
        "torchvision:resnet18", "timm:resnet18", "timm:vit_tiny_patch16_224", "cornet:rt"]


def _all_models() -> list[str]:
    from memscore.pluginmanager import registry

    return [e.name for e in registry().entries("model") if not e.prefix and e.available
            and "finetuned" not in e.tags and e.name not in FAST]


@pytest.mark.parametrize("name", FAST)
def test_model_contract(name):
    check_model(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", _all_models())
def test_model_contract_every_registered_model(name, request):
    if "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("every registered model: run with -m slow")
    check_model(name)
