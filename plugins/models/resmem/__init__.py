"""Registers ResMem (optional: needs the ``resmem`` package; imports nothing heavy)."""
import importlib.util

from memscore import hookimpl


@hookimpl
def register_models(register):
    ok = importlib.util.find_spec("resmem") is not None
    register("resmem", "memscore_plugins.models.resmem.model:build",
             description="ResMem memorability predictor (Needell & Bainbridge 2022; outputs one score per "
                         "image). Licence: ResMem Non-commercial License, non-commercial use only",
             tags=["memorability", "resmem"], available=ok,
             reason="" if ok else "pip install memscore[resmem]",
             source="resmem", output="memorability", license="non-commercial")
