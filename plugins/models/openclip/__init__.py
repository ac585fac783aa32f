"""Registers the ``openclip:<arch>/<pretrained>`` family: CLIP image towers from open_clip (optional extra
``memscore[openclip]``; registration only, imports nothing heavy)."""
import importlib.util

from memscore import hookimpl


@hookimpl
def register_models(register):
    ok = importlib.util.find_spec("open_clip") is not None
    register.prefix("openclip", "memscore_plugins.models.openclip.model:build_any",
                    description="the image tower of an open_clip CLIP model, e.g. openclip:ViT-B-32/openai "
                                "(preprocessing from open_clip's config; weights via the Hugging Face cache; "
                                "--model-args image_size=N builds it for N-pixel input)",
                    tags=["openclip", "clip"], source="openclip", packages=["open_clip_torch"],
                    available=ok, reason="" if ok else "pip install memscore[openclip]")
