"""The core's commands, a module each, registered the way a plugin's are: each module has
``register_commands(cli)`` (the ``register_commands`` hook's signature), called by :mod:`memscore.cli`."""
from __future__ import annotations

from importlib import import_module

#: in the order ``memscore --help`` lists them after the commands of memscore.cli itself
CORE = ("results", "compare", "data", "plugin", "sweep", "board", "bundle")


def register_core_commands(cli) -> None:
    for name in CORE:
        import_module(f"{__name__}.{name}").register_commands(cli)
