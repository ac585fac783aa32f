"""Registers AMNet, the published attention + LSTM memorability predictor (registration only: imports nothing heavy).

The network is rebuilt from torchvision's ResNet (a core dependency); AMNet's own code is not needed.
"""
from memscore import hookimpl

#: where the authors share the trained weights (zip archives of per-split folders, on Google Drive)
WEIGHTS_URL = "https://drive.google.com/drive/folders/15zWFt8PgrG2Rkzckecpmpvj_CnQJVCIM"
CODE_URL = "https://github.com/ok1zjf/AMNet"
ARCH = "resnet50-layer3 + soft attention + LSTM (3 steps)"
LICENSE = "MIT"


@hookimpl
def register_models(register):
    register("amnet", "memscore_plugins.models.amnet.model:build",
             description="AMNet memorability predictor (Fajtl et al., CVPR 2018): ResNet-50 features, soft attention "
                         "and a 3-step LSTM, one score per image; weights: --weights FILE (a per-split checkpoint "
                         "of the authors), --model-args split=K. Licence: MIT",
             tags=["memorability", "resnet", "attention", "published-predictor"],
             source="amnet", arch=ARCH, output="memorability", license=LICENSE,
             trained_on=["imagenet", "lamem"], weights_url=WEIGHTS_URL, code_url=CODE_URL)
