"""Discover plugins through the ``memscore`` entry-point group and fill the registry.

Built-in plugins are found exactly like third-party ones (they are entry points of the ``memscore``
distribution). A plugin that fails to import or whose hook raises is recorded in
:attr:`PluginInfo.error` and skipped; other plugins and commands carry on. ``MEMSCORE_PLUGINS``
(comma-separated entry-point names) restricts which plugins load.
"""
from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from .errors import DuplicateNameError
from .hookspecs import PROJECT, MemscoreSpec
from .registry import Registry

HOOKS = {
    "model": "register_models",
    "benchmark": "register_benchmarks",
    "metric": "register_metrics",
    "dataset": "register_datasets",
}


@dataclass
class PluginInfo:
    name: str
    module: str
    version: str = ""
    distribution: str = ""
    error: str = ""  # one line; empty when the plugin loaded
    registered: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "module": self.module, "version": self.version,
            "distribution": self.distribution, "error": self.error, "registered": self.registered,
        }


class Plugins:
    """The pluggy manager, the registry it filled and what each plugin did."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(MemscoreSpec)
        self.registry = Registry()
        self.info: dict[str, PluginInfo] = {}

    def add(self, name: str, obj: Any, *, module: str = "", version: str = "", distribution: str = "") -> PluginInfo:
        """Register an already-imported plugin object (module or instance) and run its hooks."""
        info = PluginInfo(name=name, module=module or getattr(obj, "__name__", repr(obj)),
                          version=version, distribution=distribution)
        self.info[name] = info
        try:
            self.pm.register(obj, name=name)
        except Exception as exc:  # bad hookimpl signature, duplicate plugin name, ...
            info.error = _one_line(exc)
            return info
        for kind, hook in HOOKS.items():
            for impl in getattr(self.pm.hook, hook).get_hookimpls():
                if impl.plugin_name != name:
                    continue
                registrar = self.registry.registrar(kind, name, version)
                before = set(self.registry.names(kind))
                try:
                    impl.function(register=_Tolerant(registrar, info))
                except Exception as exc:
                    info.error = _one_line(exc)
                    continue
                new = [n for n in self.registry.names(kind) if n not in before]
                if new:
                    info.registered.setdefault(kind + "s", []).extend(new)
        return info

    def load_entry_points(self, allowed: set[str] | None = None) -> None:
        for ep in sorted(entry_points(group=PROJECT), key=lambda e: e.name):
            if allowed is not None and ep.name not in allowed:
                continue
            if ep.name in self.info:
                continue  # the same distribution seen twice on sys.path
            dist = getattr(ep, "dist", None)
            version = getattr(dist, "version", "") if dist else ""
            dname = getattr(dist, "name", "") if dist else ""
            try:
                obj = ep.load()
            except Exception as exc:
                self.info[ep.name] = PluginInfo(
                    name=ep.name, module=ep.value, version=version, distribution=dname,
                    error=f"import failed: {_one_line(exc)}",
                )
                continue
            self.add(ep.name, obj, module=ep.value, version=version, distribution=dname)


class _Tolerant:
    """Wraps a Registrar so a duplicate name is recorded on the plugin, not fatal to its hook."""

    def __init__(self, registrar, info: PluginInfo):
        self._r, self._info = registrar, info

    def _guard(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DuplicateNameError as exc:
            self._info.error = "; ".join(filter(None, [self._info.error, str(exc)]))
            return None

    def __call__(self, *args, **kwargs):
        return self._guard(self._r, *args, **kwargs)

    def prefix(self, *args, **kwargs):
        return self._guard(self._r.prefix, *args, **kwargs)


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0] if text else type(exc).__name__


_PLUGINS: Plugins | None = None


def get_plugins(reload: bool = False) -> Plugins:
    """The process-wide plugin set, discovered on first use."""
    global _PLUGINS
    if _PLUGINS is None or reload:
        plugins = Plugins()
        env = os.environ.get("MEMSCORE_PLUGINS", "").strip()
        allowed = {p.strip() for p in env.split(",") if p.strip()} if env else None
        plugins.load_entry_points(allowed)
        _PLUGINS = plugins
    return _PLUGINS


def registry() -> Registry:
    return get_plugins().registry
