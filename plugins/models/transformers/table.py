"""About ten well-known transformers (and ConvNeXt, the modernised CNN they are usually compared with)
under plain names, tag ``transformers``: a second zoo beside the paper's 64 CNNs (tag ``harada2023``), to
ask the paper's question — does the layer that best predicts memorability also best match IT? — of
attention-based networks. ImageNet classifiers come from timm (``timm:<arch.tag>``, weights pinned by the
tag), CLIP image towers from open_clip (``openclip:<arch>/<pretrained>``, optional extra
``memscore[openclip]``). No top-1 numbers are listed: none were checked against a source here.

This module imports nothing heavy: the plugin reads the table to register names without torch.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass

TAG = "transformers"
TIMM, OPENCLIP = "timm", "openclip"


@dataclass(frozen=True)
class Transformer:
    name: str  # plain stable memscore name
    source: str  # timm | openclip
    arch: str  # timm: arch.tag; openclip: arch/pretrained
    family: str
    trained_on: str
    note: str = ""

    @property
    def tags(self) -> list[str]:
        return list(dict.fromkeys([TAG, self.source, self.family, "imagenet" if self.source == TIMM else "clip"]))

    @property
    def target(self) -> str:
        """The family name it maps to (``timm:…`` / ``openclip:…``)."""
        return f"{self.source}:{self.arch}"

    @property
    def factory(self) -> str:
        return {TIMM: "memscore_plugins.models.timm.models:build",
                OPENCLIP: "memscore_plugins.models.openclip.model:build"}[self.source]

    @property
    def packages(self) -> list[str]:
        return ["open_clip_torch"] if self.source == OPENCLIP else []

    def availability(self) -> tuple[bool, str]:
        if self.source == OPENCLIP and importlib.util.find_spec("open_clip") is None:
            return False, "pip install memscore[openclip]"
        return True, ""

    def description(self) -> str:
        return f"{self.target} ({self.trained_on})" + (f"; {self.note}" if self.note else "")


TRANSFORMERS: list[Transformer] = [
    Transformer("vit-b16", TIMM, "vit_base_patch16_224.augreg2_in21k_ft_in1k", "vit",
                "ImageNet-21k, fine-tuned on ImageNet-1k (AugReg2)"),
    Transformer("vit-s16", TIMM, "vit_small_patch16_224.augreg_in21k_ft_in1k", "vit",
                "ImageNet-21k, fine-tuned on ImageNet-1k (AugReg)"),
    Transformer("deit-s", TIMM, "deit_small_patch16_224.fb_in1k", "deit", "ImageNet-1k (DeiT recipe)"),
    Transformer("swin-t", TIMM, "swin_tiny_patch4_window7_224.ms_in1k", "swin", "ImageNet-1k"),
    Transformer("convnext-t", TIMM, "convnext_tiny.fb_in1k", "convnext", "ImageNet-1k",
                note="a CNN: the modernised-ResNet control for the transformers"),
    Transformer("eva02-s", TIMM, "eva02_small_patch14_336.mim_in22k_ft_in1k", "eva",
                "MIM on ImageNet-22k, fine-tuned on ImageNet-1k",
                note="336-pixel input (the 224-pixel EVA-02-S is MIM-only, without a classifier)"),
    Transformer("beit-b16", TIMM, "beit_base_patch16_224.in22k_ft_in22k_in1k", "beit",
                "BEiT MIM on ImageNet-22k, fine-tuned on 22k then 1k"),
    Transformer("clip-vit-b32", OPENCLIP, "ViT-B-32/openai", "clip", "OpenAI CLIP, WIT-400M image-text pairs",
                note="image tower only; penultimate = the joint embedding"),
    Transformer("clip-vit-b16-laion2b", OPENCLIP, "ViT-B-16/laion2b_s34b_b88k", "clip",
                "OpenCLIP, LAION-2B image-text pairs", note="image tower only; penultimate = the joint embedding"),
    Transformer("clip-vit-l14", OPENCLIP, "ViT-L-14/openai", "clip", "OpenAI CLIP, WIT-400M image-text pairs",
                note="image tower only; penultimate = the joint embedding; large (304M parameters)"),
]

BY_NAME = {t.name: t for t in TRANSFORMERS}
