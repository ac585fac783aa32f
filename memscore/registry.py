"""Named, lazy factories for models, benchmarks, metrics and data sets.

An :class:`Entry` holds a factory (a callable or a ``"module:attr"`` string, imported only when the
entry is loaded) plus metadata. A *prefix* entry serves a whole family, e.g. ``timm:<any timm name>``:
its factory is called with the part after the colon as first argument.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .errors import DuplicateNameError, UnknownNameError

KINDS = ("model", "benchmark", "metric", "dataset")


@dataclass
class Entry:
    kind: str
    name: str
    factory: Callable[..., Any] | str
    plugin: str
    description: str = ""
    tags: tuple[str, ...] = ()
    version: str = ""  # the entry's own version (``register(..., version=)``), else the plugin's
    plugin_version: str = ""  # always the version of the distribution that provides ``plugin``
    available: bool = True
    reason: str = ""  # why it is unavailable
    params: dict[str, Any] = field(default_factory=dict)  # fixed kwargs passed to the factory
    meta: dict[str, Any] = field(default_factory=dict)  # free metadata (source, top1, ...)
    prefix: bool = False

    def resolve(self) -> Callable[..., Any]:
        """Import (if needed) and return the factory callable."""
        if callable(self.factory):
            return self.factory
        from .errors import MemscoreError

        where = f"plugin {self.plugin!r} registers {self.kind} {self.name!r} with factory {self.factory!r}"
        module, _, attr = self.factory.partition(":") if isinstance(self.factory, str) else ("", "", "")
        if not module.strip() or not attr.strip():
            raise MemscoreError(f"{where}, which is not 'module:attr'; fix the plugin's registration "
                                f"(or uninstall the plugin)")
        try:
            obj: Any = importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - a missing module, or one that fails as it imports
            why = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}"
            raise MemscoreError(f"{where}, whose module {module!r} cannot be imported ({why}); install what it "
                                f"needs or reinstall the plugin") from None
        for part in attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise MemscoreError(f"{where}, but {module!r} has no {part!r}; fix the plugin's registration "
                                    f"or reinstall the plugin") from None
        return obj

    def create(self, *args, **kwargs):
        if not self.available:
            from .errors import MemscoreError

            raise MemscoreError(f"{self.kind} {self.name!r} is unavailable: {self.reason}")
        return self.resolve()(*args, **{**self.params, **kwargs})

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name + (":<name>" if self.prefix else ""),
            "kind": self.kind,
            "description": self.description,
            "plugin": self.plugin,
            "tags": list(self.tags),
            "version": self.version,
            "plugin_version": self.plugin_version,
            "available": self.available,
            "reason": self.reason,
            **({"meta": self.meta} if self.meta else {}),
        }


class Registrar:
    """The ``register`` callable handed to one plugin's hook for one kind."""

    def __init__(self, registry: "Registry", kind: str, plugin: str, version: str = ""):
        self._registry, self._kind, self._plugin, self._version = registry, kind, plugin, version

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any] | str,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        version: str | None = None,
        available: bool = True,
        reason: str = "",
        params: dict[str, Any] | None = None,
        _prefix: bool = False,
        **meta: Any,
    ) -> Entry:
        entry = Entry(
            kind=self._kind, name=name, factory=factory, plugin=self._plugin,
            description=description, tags=tuple(dict.fromkeys(tags)), version=version or self._version,
            plugin_version=self._version, available=available, reason=reason, params=dict(params or {}), meta=meta,
            prefix=_prefix,
        )
        self._registry.add(entry)
        return entry

    def prefix(self, prefix: str, factory: Callable[..., Any] | str, **kwargs: Any) -> Entry:
        """Register ``factory(<rest>, **kw)`` for every name ``<prefix>:<rest>``."""
        return self(prefix.rstrip(":"), factory, _prefix=True, **kwargs)


class Registry:
    """All entries of all kinds, with duplicate detection and prefix resolution."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        self._prefixes: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        self.conflicts: dict[str, dict[str, str]] = {k: {} for k in KINDS}

    def registrar(self, kind: str, plugin: str, version: str = "") -> Registrar:
        return Registrar(self, kind, plugin, version)

    def add(self, entry: Entry) -> None:
        """Store ``entry``; raise :class:`DuplicateNameError` if another plugin claims the same name.

        Conflicts are: the same exact name (or the same prefix) from two plugins, and an exact name
        ``fam:x`` from one plugin falling inside the prefix family ``fam`` of another, in either
        order. The conflicting exact name becomes unusable (listed as unavailable, :meth:`get`
        raises); a prefix family stays usable for its other names. One plugin may register both a
        prefix and exact names inside it (the exact entry wins there).
        """
        if entry.kind not in KINDS:
            raise ValueError(f"unknown kind {entry.kind!r}")
        table = self._prefixes if entry.prefix else self._entries
        old = table[entry.kind].get(entry.name)
        if old is not None:
            # Neither wins silently: the name becomes unusable until one plugin goes away.
            msg = _both(entry.kind, entry.name, repr(old.plugin), repr(entry.plugin))
            self.conflicts[entry.kind][entry.name] = msg
            old.available, old.reason = False, msg
            raise DuplicateNameError(msg)
        msgs = []
        if entry.prefix:
            # exact names already registered by other plugins inside this new family
            for name, exact in self._entries[entry.kind].items():
                if _family(name) == entry.name and exact.plugin != entry.plugin:
                    msg = _both(entry.kind, name, repr(exact.plugin),
                                f"{entry.plugin!r} (its prefix '{entry.name}:')")
                    self.conflicts[entry.kind][name] = msg
                    exact.available, exact.reason = False, msg
                    msgs.append(msg)
        else:
            fam = self._prefixes[entry.kind].get(_family(entry.name) or "")
            if fam is not None and fam.plugin != entry.plugin:
                msg = _both(entry.kind, entry.name, f"{fam.plugin!r} (its prefix '{fam.name}:')",
                            repr(entry.plugin))
                self.conflicts[entry.kind][entry.name] = msg
                entry.available, entry.reason = False, msg
                msgs.append(msg)
        # stored even on a family conflict: a prefix keeps serving its other names, and the exact
        # name shows up in listings as unavailable with the reason
        table[entry.kind][entry.name] = entry
        if msgs:
            raise DuplicateNameError("; ".join(msgs))

    def entries(self, kind: str, tag: str | None = None) -> list[Entry]:
        out = sorted(self._entries[kind].values(), key=lambda e: e.name)
        out += sorted(self._prefixes[kind].values(), key=lambda e: e.name)
        if tag:
            out = [e for e in out if tag in e.tags]
        return out

    def get(self, kind: str, name: str) -> tuple[Entry, tuple[str, ...]]:
        """Return the entry for ``name`` and the positional args for its factory."""
        if name in self.conflicts[kind]:
            raise DuplicateNameError(self.conflicts[kind][name])
        if name in self._entries[kind]:
            return self._entries[kind][name], ()
        head, sep, rest = name.partition(":")
        if sep and head in self._prefixes[kind] and rest:
            return self._prefixes[kind][head], (rest,)
        known = list(self._entries[kind]) + [p + ":" for p in self._prefixes[kind]]
        raise UnknownNameError(kind, name, known)

    def names(self, kind: str) -> list[str]:
        return [e.name for e in self.entries(kind)]


def _family(name: str) -> str | None:
    """The prefix family an exact name would resolve through in :meth:`Registry.get` (``fam:x`` -> ``fam``)."""
    head, sep, rest = name.partition(":")
    return head if sep and rest else None


def _both(kind: str, name: str, first: str, second: str) -> str:
    return (f"{kind} {name!r} is registered by both plugin {first} and plugin {second}; "
            f"uninstall one or restrict with MEMSCORE_PLUGINS")
