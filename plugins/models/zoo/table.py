"""The 64 ImageNet CNNs of Harada & Sakai (2023, Table S1) as one table, and the builder behind it.

Each model has a plain, stable memscore name and comes from the best maintained source that has it:
torchvision first, then timm, then the project's own CORnet code, and Cadene's ``pretrainedmodels``
(optional extra ``memscore[cadene]``) only for the five models nothing maintained provides. A model
no source can provide is listed as unavailable with the reason; nothing is substituted silently.

Weights are pinned to the ones the paper used where a maintained source carries them: torchvision's
``IMAGENET1K_V1`` (what ``pretrained=True`` gave), timm's ports of the Cadene / original weights
(``*.mx_in1k`` DPNs, ``legacy_*`` SENets, ``*.tf_in1k`` Inception/NASNet/PNASNet/Xception, and
``tf_efficientnet_b*.in1k``, the same TF checkpoints EfficientNet-PyTorch ported). Where no maintained
source carries the paper's weights the note says which weights are used instead.

Top-1 sources (``top1_from``):

* ``torchvision``: ``weights.meta["_metrics"]["ImageNet-1K"]["acc@1"]`` of the pinned weights
  (tests check the table against the installed torchvision);
* ``timm``: ``results/results-imagenet.csv`` of huggingface/pytorch-image-models (commit aa4b585,
  2026-08), the row of the pinned tag at its pretrained_cfg input size and crop_pct;
* ``cadene``: the "Our porting" Acc@1 column of the pretrained-models.pytorch README;
* CORnet: the CORnet repository states no number (``None``).

This module imports nothing heavy: the plugin reads the table to register names without torch.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

TAG = "harada2023"
TV, TIMM, CORNET, CADENE, NONE = "torchvision", "timm", "cornet", "cadene", "none"
TOP1_FROM = {
    TV: "torchvision weights meta _metrics['ImageNet-1K']['acc@1']",
    TIMM: "timm results/results-imagenet.csv (pytorch-image-models@aa4b585)",
    CADENE: "pretrained-models.pytorch README (Acc@1, 'Our porting')",
    CORNET: "",
    NONE: "",
}


@dataclass(frozen=True)
class ZooModel:
    name: str  # plain stable memscore name
    paper: str  # the name in Harada & Sakai (2023), Table S1
    source: str  # torchvision | timm | cornet | cadene | none
    arch: str  # architecture id in that source (timm: arch.tag, pinning the weights)
    top1: float | None  # published ImageNet top-1 (%) of those weights
    family: str
    weights: str = ""  # torchvision: the pinned weights enum member
    note: str = ""
    slow: bool = False  # heavy on CPU: tests mark it @pytest.mark.slow
    test_size: int = 64  # smallest input size the architecture accepts, for fast tests
    harada2023: bool = True
    head: str | None = None  # classifier module when the generic search would miss it
    none_args: dict = field(default_factory=dict, compare=False, hash=False)  # torchvision kwargs when not pretrained

    @property
    def top1_from(self) -> str:
        return TOP1_FROM[self.source] if self.top1 is not None else ""

    @property
    def tags(self) -> list[str]:
        out = [TAG] if self.harada2023 else []
        out += [self.source] if self.source != NONE else []
        return list(dict.fromkeys(out + ["imagenet", self.family]))  # cornet: source and family are one tag

    def availability(self) -> tuple[bool, str]:
        if self.source == NONE:
            return False, self.note
        if self.source == CADENE:
            missing = [m for m in ("pretrainedmodels", "six", "munch") if importlib.util.find_spec(m) is None]
            if missing:
                return False, f"needs Cadene's pretrainedmodels ({', '.join(missing)} not installed): " \
                              f"pip install memscore[cadene]"
        return True, ""

    def description(self) -> str:
        src = {TV: f"torchvision {self.arch} ({self.weights})", TIMM: f"timm {self.arch}",
               CORNET: f"CORnet ({self.arch}, published weights)", CADENE: f"pretrainedmodels {self.arch}",
               NONE: "no public source"}[self.source]
        top1 = f", ImageNet top-1 {self.top1:.2f}%" if self.top1 is not None else ""
        return f"{self.paper}: {src}{top1}"


def _tv(name, paper, arch, top1, family, **kw):
    return ZooModel(name, paper, TV, arch, top1, family, weights="IMAGENET1K_V1", **kw)


def _timm(name, paper, arch, top1, family, **kw):
    return ZooModel(name, paper, TIMM, arch, top1, family, **kw)


_GOOGLENET_NONE = {"aux_logits": False, "transform_input": True, "init_weights": True}
_INCEPTION3_NONE = {"aux_logits": True, "transform_input": True, "init_weights": True}

#: Harada & Sakai (2023) Table S1, in its order, plus extras (``harada2023=False``)
ZOO: list[ZooModel] = [
    _tv("alexnet", "AlexNet", "alexnet", 56.522, "alexnet"),
    ZooModel("bninception", "BNInception", CADENE, "bninception", 73.522, "inception",
             note="only in Cadene's pretrainedmodels (Caffe weights, BGR 0-255 input)"),
    ZooModel("cafferesnet101", "CaffeResNet101", CADENE, "cafferesnet101", 76.200, "resnet",
             note="only in Cadene's pretrainedmodels (He et al.'s Caffe weights, BGR 0-255 input)"),
    ZooModel("cornet-r", "CORnet-R", CORNET, "r", None, "cornet", test_size=64,
             note="legacy non-biological unrolling; 5 time steps"),
    ZooModel("cornet-s", "CORnet-S", CORNET, "s", None, "cornet"),
    ZooModel("cornet-rt", "CORnet-RT", CORNET, "rt", None, "cornet", note="5 time steps"),
    ZooModel("cornet-z", "CORnet-Z", CORNET, "z", None, "cornet"),
    _tv("densenet121", "DenseNet121", "densenet121", 74.434, "densenet"),
    _tv("densenet161", "DenseNet161", "densenet161", 77.138, "densenet", slow=True),
    _tv("densenet169", "DenseNet169", "densenet169", 75.6, "densenet"),
    _tv("densenet201", "DenseNet201", "densenet201", 76.896, "densenet", slow=True),
    _timm("dpn68", "DualPathNet68", "dpn68.mx_in1k", 76.304, "dpn"),
    _timm("dpn68b", "DualPathNet68b", "dpn68b.mx_in1k", 77.494, "dpn",
          note="ImageNet-5k pretrained, ImageNet-1k fine-tuned (the DPN authors' DPN-68*)"),
    _timm("dpn92", "DualPathNet92", "dpn92.mx_in1k", 80.032, "dpn",
          note="ImageNet-5k pretrained, ImageNet-1k fine-tuned (Cadene's dpn92 'imagenet+5k')"),
    _timm("dpn98", "DualPathNet98", "dpn98.mx_in1k", 79.664, "dpn", slow=True),
    _timm("dpn107", "DualPathNet107", "dpn107.mx_in1k", 80.166, "dpn", slow=True,
          note="ImageNet-5k pretrained, ImageNet-1k fine-tuned"),
    ZooModel("dpn113", "DualPathNet113", NONE, "", None, "dpn",
             note="no DPN-113 was ever published: the DPN authors (cypw/DPNs), Cadene's pretrainedmodels "
                  "and timm have DPN-68, 68b, 92, 98, 107 and 131 only; the paper's 'DualPathNet113' is "
                  "probably DPN-131 (use `dpn131`)"),
    _timm("efficientnet-b0", "EfficientNet B0", "tf_efficientnet_b0.in1k", 76.542, "efficientnet",
          note="the TF checkpoints EfficientNet-PyTorch ported (TF 'same' padding)"),
    _timm("efficientnet-b1", "EfficientNet B1", "tf_efficientnet_b1.in1k", 78.546, "efficientnet"),
    _timm("efficientnet-b2", "EfficientNet B2", "tf_efficientnet_b2.in1k", 79.612, "efficientnet"),
    _timm("efficientnet-b3", "EfficientNet B3", "tf_efficientnet_b3.in1k", 80.878, "efficientnet"),
    _timm("efficientnet-b4", "EfficientNet B4", "tf_efficientnet_b4.in1k", 82.598, "efficientnet", slow=True),
    ZooModel("fbresnet152", "FBResNet152", CADENE, "fbresnet152", 77.386, "resnet", slow=True,
             note="only in Cadene's pretrainedmodels (Facebook's Torch7 ResNet-152)"),
    _tv("googlenet", "GoogLeNet", "googlenet", 69.778, "inception", none_args=_GOOGLENET_NONE),
    _timm("inception-resnet-v2", "InceptionResNetV2", "inception_resnet_v2.tf_in1k", 80.434, "inception",
          slow=True, test_size=75),
    _tv("inception-v3", "InceptionV3", "inception_v3", 77.294, "inception", none_args=_INCEPTION3_NONE,
        test_size=75),
    _timm("inception-v4", "InceptionV4", "inception_v4.tf_in1k", 80.144, "inception", slow=True, test_size=75),
    _tv("mobilenet-v2", "MobileNet v2", "mobilenet_v2", 71.878, "mobilenet"),
    ZooModel("nasnet-a-mobile", "NASNet-A-Mobile", CADENE, "nasnetamobile", 74.080, "nasnet",
             note="only in Cadene's pretrainedmodels (TF-slim port)"),
    _timm("nasnet-a-large", "NASNet-A-Large", "nasnetalarge.tf_in1k", 82.638, "nasnet", slow=True),
    _tv("mnasnet-0.5", "MNASNet 0.5", "mnasnet0_5", 67.734, "mnasnet"),
    _tv("mnasnet-1.0", "MNASNet 1.0", "mnasnet1_0", 73.456, "mnasnet"),
    _timm("pnasnet-5-large", "PNASNet-5-Large", "pnasnet5large.tf_in1k", 82.814, "nasnet", slow=True),
    ZooModel("polynet", "PolyNet", CADENE, "polynet", 81.002, "polynet", slow=True, test_size=128,
             note="only in Cadene's pretrainedmodels (CUHK's Caffe weights)"),
    _tv("resnet18", "ResNet18", "resnet18", 69.758, "resnet"),
    _tv("resnet34", "ResNet34", "resnet34", 73.314, "resnet"),
    _tv("resnet50", "ResNet50", "resnet50", 76.13, "resnet"),
    _tv("resnet101", "ResNet101", "resnet101", 77.374, "resnet"),
    _tv("resnet152", "ResNet152", "resnet152", 78.312, "resnet", slow=True),
    _tv("resnext50-32x4d", "ResNeXt50 32x4d", "resnext50_32x4d", 77.618, "resnext"),
    _timm("resnext101-32x4d", "ResNeXt101 32x4d", "resnext101_32x4d.gluon_in1k", 80.336, "resnext",
          note="same architecture, GluonCV weights: the paper's Facebook Torch7 weights (78.19%) are "
               "only in Cadene's pretrainedmodels"),
    _tv("resnext101-32x8d", "ResNeXt101 32x8d", "resnext101_32x8d", 79.312, "resnext", slow=True),
    _tv("resnext101-64x4d", "ResNeXt101 64x4d", "resnext101_64x4d", 83.246, "resnext", slow=True,
        note="same architecture, torchvision's 2022 weights: the paper's Facebook Torch7 weights (78.96%) "
             "are only in Cadene's pretrainedmodels"),
    _timm("senet154", "SENet154", "legacy_senet154.in1k", 81.320, "senet", slow=True),
    _timm("se-resnet50", "SE-ResNet50", "legacy_seresnet50.in1k", 77.650, "senet"),
    _timm("se-resnet101", "SE-ResNet101", "legacy_seresnet101.in1k", 78.370, "senet"),
    _timm("se-resnet152", "SE-ResNet152", "legacy_seresnet152.in1k", 78.662, "senet", slow=True),
    _timm("se-resnext50-32x4d", "SE-ResNeXt50 32x4d", "legacy_seresnext50_32x4d.in1k", 79.080, "senet"),
    _timm("se-resnext101-32x4d", "SE-ResNeXt101 32x4d", "legacy_seresnext101_32x4d.in1k", 80.274, "senet",
          slow=True),
    _tv("shufflenet-v2-0.5x", "ShuffleNet v2 0.5x", "shufflenet_v2_x0_5", 60.552, "shufflenet"),
    _tv("shufflenet-v2-1.0x", "ShuffleNet v2 1.0x", "shufflenet_v2_x1_0", 69.362, "shufflenet"),
    _tv("squeezenet1.0", "SqueezeNet1_0", "squeezenet1_0", 58.092, "squeezenet", head="classifier.1"),
    _tv("squeezenet1.1", "SqueezeNet1_1", "squeezenet1_1", 58.178, "squeezenet", head="classifier.1"),
    _tv("vgg11", "VGG11", "vgg11", 69.02, "vgg"),
    _tv("vgg13", "VGG13", "vgg13", 69.928, "vgg"),
    _tv("vgg16", "VGG16", "vgg16", 71.592, "vgg", slow=True),
    _tv("vgg19", "VGG19", "vgg19", 72.376, "vgg", slow=True),
    _tv("vgg11-bn", "VGG11_BN", "vgg11_bn", 70.37, "vgg"),
    _tv("vgg13-bn", "VGG13_BN", "vgg13_bn", 71.586, "vgg"),
    _tv("vgg16-bn", "VGG16_BN", "vgg16_bn", 73.36, "vgg", slow=True),
    _tv("vgg19-bn", "VGG19_BN", "vgg19_bn", 74.218, "vgg", slow=True),
    _tv("wide-resnet50-2", "Wide ResNet-50-2", "wide_resnet50_2", 78.468, "resnet", slow=True),
    _tv("wide-resnet101-2", "Wide ResNet-101-2", "wide_resnet101_2", 78.848, "resnet", slow=True),
    _timm("xception", "Xception", "legacy_xception.tf_in1k", 79.058, "xception"),
    # -- extras, not in the paper's set --
    _timm("dpn131", "DualPathNet131", "dpn131.mx_in1k", 79.836, "dpn", slow=True, harada2023=False,
          note="not in Table S1; the likely intended model behind the paper's 'DualPathNet113'"),
]

BY_NAME: dict[str, ZooModel] = {m.name: m for m in ZOO}


def get(name: str) -> ZooModel:
    from memscore.errors import UnknownNameError

    if name not in BY_NAME:
        raise UnknownNameError("model", name, list(BY_NAME))
    return BY_NAME[name]


def paper_models() -> list[ZooModel]:
    return [m for m in ZOO if m.harada2023]


def _is_none(weights) -> bool:
    from memscore.weights import resolve_weights

    return resolve_weights(weights) == "none"


def preprocessing(name: str):
    """The preprocessing ``build(name)`` gives, without building the model."""
    rec = get(name)
    if rec.source == TV:
        import torchvision

        from memscore_plugins.models.torchvision.models import preprocessing_of

        return preprocessing_of(torchvision.models.get_weight(_tv_enum_name(rec)))
    if rec.source == TIMM:
        import memscore_plugins.models.timm.models as timm_models

        return timm_models.preprocessing_of(timm_models.data_config(rec.arch))
    if rec.source == CORNET:
        from memscore.model import Preprocessing

        from memscore_plugins.models.cornet.model import PREPROCESSING

        return Preprocessing(**PREPROCESSING)
    if rec.source == CADENE:
        import memscore_plugins.models.cadene.model as cadene_models

        return cadene_models.preprocessing_of(cadene_models.settings(rec.arch))
    raise _unavailable(rec)


def _tv_enum_name(rec: ZooModel) -> str:
    import torchvision

    return f"{type(torchvision.models.get_model_weights(rec.arch).DEFAULT).__name__}.{rec.weights}"


def _unavailable(rec: ZooModel):
    from memscore.errors import MemscoreError

    return MemscoreError(f"model {rec.name!r} is unavailable: {rec.availability()[1]}")


def build(name: str, weights: str | None = "default", **model_args):
    """Build zoo model ``name``. ``weights``: "default" (the pinned weights above), "none" (random
    init), a weights name of the source (torchvision enum member, timm pretrained tag) or a local path."""
    rec = get(name)
    ok, _ = rec.availability()
    if not ok:
        raise _unavailable(rec)
    pinned = weights == "default"
    if rec.source == TV:
        from pathlib import Path

        from memscore_plugins.models.torchvision.models import build as tv_build

        w = rec.weights if pinned else weights
        if _is_none(w) or Path(str(w)).expanduser().exists():
            model_args = {**rec.none_args, **model_args}
        model = tv_build(rec.arch, weights=w, **model_args)
        model.preprocessing = preprocessing(name)
    elif rec.source == TIMM:
        import memscore_plugins.models.timm.models as timm_models

        model = timm_models.build(rec.arch, weights=weights, identifier=name, **model_args)
    elif rec.source == CORNET:
        import memscore_plugins.models.cornet.model as cornet

        model = cornet.build(rec.arch, weights=weights, **model_args)
    else:
        import memscore_plugins.models.cadene.model as cadene_models

        if model_args:
            from memscore.errors import OptionError

            raise OptionError(f"--model-args: {name} takes none (got {', '.join(model_args)})")
        model = cadene_models.build(rec.arch, weights=weights)
    model.identifier = name
    if rec.head:
        model.head = rec.head
    model.meta.update(source=rec.source, arch=rec.arch, paper_name=rec.paper)
    if pinned and rec.top1 is not None:
        model.meta.update(imagenet_top1=rec.top1, top1_from=rec.top1_from)
    else:
        model.meta.pop("imagenet_top1", None)
    return model
