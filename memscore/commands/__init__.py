"""CLI command groups contributed by subsystems (imported lazily by `memscore.cli`; no torch at import)."""
