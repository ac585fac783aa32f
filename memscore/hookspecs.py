"""The pluggy hook specifications of memscore (project name and entry-point group ``memscore``).

Every hook receives a ``register`` callable. Plugins register **named, lazy factories**; nothing is
constructed (and no torch is imported) until a name is actually loaded::

    from memscore import hookimpl

    @hookimpl
    def register_models(register):
        register("my-net", "my_pkg.models:build", description="...", tags=["cnn"])
        register.prefix("mylib", "my_pkg.models:build_any")   # serves `mylib:<anything>`
"""
from __future__ import annotations

import pluggy

PROJECT = "memscore"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class MemscoreSpec:
    @hookspec
    def register_models(self, register):
        """Register model factories: ``factory(weights=..., device=..., **model_args) -> Model``."""

    @hookspec
    def register_benchmarks(self, register):
        """Register benchmark factories: ``factory(**benchmark_args) -> Benchmark``."""

    @hookspec
    def register_metrics(self, register):
        """Register metric factories: ``factory(**metric_args) -> metric``."""

    @hookspec
    def register_commands(self, cli):
        """Add click commands or groups to the ``memscore`` command line (``cli.add_command(...)``),
        as llm's ``register_commands``; keep the import of heavy modules inside the command."""

    @hookspec
    def register_datasets(self, register):
        """Register data sets: ``factory(**args) -> Dataset`` (used by ``memscore data``)."""

    @hookspec
    def leaderboard_figures(self):
        """Layer-by-layer figures a leaderboard draws: a list of dicts ``{"id", "title", "x", "y",
        "caption", "published_rho"}`` and optionally ``"relevant"`` (a ``"module:attr"`` predicate over a
        run: which runs the figure may use); ``x`` and ``y`` are benchmark names, each point one layer of one
        model scored on both (drawn only when the board has both benchmarks; the runs chosen by
        :mod:`memscore.selection`, the policy ``memscore analyze`` applies too)."""
