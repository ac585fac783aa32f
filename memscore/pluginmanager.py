"""Discover plugins through the ``memscore`` entry-point group and fill the registry.

Built-in plugins are found exactly like third-party ones (they are entry points of the ``memscore``
distribution). A plugin that fails to import or whose hook raises is recorded in
:attr:`PluginInfo.error` and skipped; other plugins and commands carry on. That includes a plugin that
calls ``sys.exit`` (argparse on import, say) or raises ``KeyboardInterrupt``/``GeneratorExit`` itself;
a real Ctrl-C while plugins load still interrupts. What a plugin prints while it loads or while its
hooks run goes to stderr, so JSON on stdout stays JSON. ``MEMSCORE_PLUGINS`` (comma-separated
entry-point names) restricts which plugins load; names that match no entry point are warned about on
stderr. A plugin whose import and registration take longer than ``MEMSCORE_SLOW_PLUGIN_S`` seconds
(default 1) is flagged as slow.
"""
from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import time
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
    load_s: float = 0.0  # seconds to import the entry point and run its registration hooks
    slow: bool = False  # load_s above the threshold (MEMSCORE_SLOW_PLUGIN_S, default 1 s)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "module": self.module, "version": self.version,
            "distribution": self.distribution, "error": self.error, "registered": self.registered,
            "load_s": round(self.load_s, 3), "slow": self.slow,
        }


class Plugins:
    """The pluggy manager, the registry it filled and what each plugin did."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(MemscoreSpec)
        self.registry = Registry()
        self.info: dict[str, PluginInfo] = {}
        self.warnings: list[str] = []  # one line each, also printed on stderr when they arise

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
        _guard_hookimpls(self.pm, name)
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
        eps = sorted(entry_points(group=PROJECT), key=lambda e: e.name)
        if allowed is not None:
            missing = sorted(allowed - {ep.name for ep in eps})
            if missing:
                existing = ", ".join(sorted({ep.name for ep in eps})) or "none"
                self.warnings.append(f"MEMSCORE_PLUGINS names no installed plugin "
                                     f"{', '.join(map(repr, missing))}; installed: {existing}")
                print(f"memscore: warning: {self.warnings[-1]}", file=sys.stderr)
        slow_s = _slow_threshold()
        for ep in eps:
            if allowed is not None and ep.name not in allowed:
                continue
            if ep.name in self.info:
                continue  # the same distribution seen twice on sys.path
            dist = getattr(ep, "dist", None)
            version = getattr(dist, "version", "") if dist else ""
            dname = getattr(dist, "name", "") if dist else ""
            t0 = time.perf_counter()
            try:
                with _WATCH, contextlib.redirect_stdout(sys.stderr):
                    obj = ep.load()
            except Exception as exc:
                error = f"import failed: {_one_line(exc)}"
            except _PLUGIN_ABORTS as exc:
                if _WATCH.is_user_interrupt(exc):
                    raise
                error = f"import failed: {_one_line(exc)}"
            else:
                error = ""
            if error:
                info = self.info[ep.name] = PluginInfo(
                    name=ep.name, module=ep.value, version=version, distribution=dname, error=error)
            else:
                info = self.add(ep.name, obj, module=ep.value, version=version, distribution=dname)
            info.load_s = time.perf_counter() - t0
            info.slow = info.load_s > slow_s


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
    if isinstance(exc, PluginAbort) and exc.__cause__ is not None:
        return _one_line(exc.__cause__)
    if isinstance(exc, SystemExit):  # sys.exit(2) from argparse, sys.exit("message"), ...
        code = "" if exc.code is None else repr(exc.code) if isinstance(exc.code, str) else str(exc.code)
        return f"SystemExit: the plugin called sys.exit({code.splitlines()[0] if code else ''})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


#: what plugin code may raise that is no ``Exception`` but must not end memscore
_PLUGIN_ABORTS = (SystemExit, KeyboardInterrupt, GeneratorExit)


class PluginAbort(RuntimeError):
    """A plugin's hook raised SystemExit, KeyboardInterrupt or GeneratorExit (the ``__cause__``)."""


class _InterruptWatch:
    """Tells a real Ctrl-C from a ``KeyboardInterrupt`` that plugin code raised itself.

    While active (re-entrant, main thread), SIGINT goes through a handler that notes it and then
    raises ``KeyboardInterrupt`` as Python's default handler does. Where the handler cannot be
    installed (someone else's SIGINT handler) every ``KeyboardInterrupt`` counts as the user's.
    """

    def __init__(self) -> None:
        self._depth = 0
        self._old: Any = None
        self.user = False  # SIGINT arrived while active
        self.known = False  # whether a KeyboardInterrupt without SIGINT can be blamed on the plugin

    def __enter__(self) -> "_InterruptWatch":
        if self._depth == 0:
            self.user, self.known, self._old = False, False, None
            if threading.current_thread() is not threading.main_thread():
                self.known = True  # SIGINT only ever interrupts the main thread
            else:
                try:
                    current = signal.getsignal(signal.SIGINT)
                    if current is signal.default_int_handler:
                        signal.signal(signal.SIGINT, self._handler)
                        self._old, self.known = current, True
                    elif current == signal.SIG_IGN:
                        self.known = True
                except (ValueError, OSError, TypeError):
                    pass
        self._depth += 1
        return self

    def __exit__(self, *exc_info) -> None:
        self._depth -= 1
        if self._depth == 0 and self._old is not None:
            try:
                if signal.getsignal(signal.SIGINT) == self._handler:  # a plugin may have set its own
                    signal.signal(signal.SIGINT, self._old)
            except (ValueError, OSError, TypeError):
                pass
            self._old = None

    def _handler(self, signum, frame):
        self.user = True
        raise KeyboardInterrupt

    def is_user_interrupt(self, exc: BaseException) -> bool:
        return isinstance(exc, KeyboardInterrupt) and (self.user or not self.known)


_WATCH = _InterruptWatch()


def _guarded(fn):
    """Run a plugin's hook with its stdout on stderr; its SystemExit & co. become :class:`PluginAbort`."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            with _WATCH, contextlib.redirect_stdout(sys.stderr):
                return fn(*args, **kwargs)
        except _PLUGIN_ABORTS as exc:
            if _WATCH.is_user_interrupt(exc):
                raise
            raise PluginAbort(_one_line(exc)) from exc

    call.__memscore_guarded__ = True
    return call


def _guard_hookimpls(pm: pluggy.PluginManager, name: str) -> None:
    """Wrap every hook implementation of plugin ``name`` (also ``register_commands``, which cli.py
    calls and guards with ``except Exception``) in :func:`_guarded`."""
    for caller in vars(pm.hook).values():
        if not isinstance(caller, pluggy.HookCaller):
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin_name != name or impl.wrapper or impl.hookwrapper:
                continue  # new-style/old-style wrappers are generators: leave them alone
            if not getattr(impl.function, "__memscore_guarded__", False):
                impl.function = _guarded(impl.function)


def _slow_threshold() -> float:
    try:
        return float(os.environ.get("MEMSCORE_SLOW_PLUGIN_S", "") or 1.0)
    except ValueError:
        return 1.0


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
