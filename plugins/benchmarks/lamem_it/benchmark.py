"""`lamem-it`: LaMem memorability (exactly as `lamem-pls`) at the one layer the model commits to IT.

The commitment is the `neural-it` score of the same model, weights, model arguments, neural data (by its
content fingerprint) and benchmark version, from the store or scored first (and stored): see
:mod:`memscore_plugins.benchmarks.neural.commitments`. The LaMem activations of that layer come from the engine's cache when
`lamem-pls` already ran with the same settings.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from memscore.arguments import Arg
from memscore.benchmark import RunOptions
from memscore.fingerprint import DataInfo, digest
from memscore.model import Model
from memscore.scores import Score

from memscore_plugins.benchmarks.lamem.benchmark import LamemPLS
from memscore_plugins.benchmarks.neural.benchmark import NeuralBenchmark


def _folder(value: Any) -> str:
    p = Path(str(value)).expanduser()
    if not p.is_dir():
        raise ValueError(f"{p} is not a folder")
    return str(p)


class LamemIT(LamemPLS):
    identifier = "lamem-it"
    version = "1"
    data_sets = ("lamem",)  # and the neural data set, asked for by name (neural_options)
    region = "IT"
    run_after = ("neural-it", "lamem-pls")  # in a sweep: the commitment first, then every LaMem layer at once
    forwards = {"neural_": "neural-it"}  # neural_<key> is neural-it's <key>
    arguments = (
        *(a for a in LamemPLS.arguments if a.name != "layers"),
        Arg("neural_data_root", _folder, None, "folder of the neural data set, forwarded from neural-it in a "
            "sweep (or give --data-root majajhong2015=PATH)", expect="a folder", keyed=False),
        *(dataclasses.replace(a, name=f"neural_{a.name}", help=f"neural-it's {a.name}: {a.help}", keyed=False)
          for a in NeuralBenchmark.arguments if a.name != "region"),
    )  # the neural_* arguments are keyed as neural-it's config (neural_args), where they take effect

    def __init__(self, **args: Any):
        """``neural_<key>=value`` passes ``<key>=value`` to `neural-it` (e.g. ``neural_dataset=PATH.json``)."""
        self._neural = {k[len("neural_"):]: v for k, v in args.items()
                        if k.startswith("neural_") and k != "neural_data_root"}
        self._neural_bench: NeuralBenchmark | None = None
        super().__init__(**args)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "region": self.region, "neural_args": self.neural_bench().config()}

    def neural_args(self) -> dict[str, Any]:
        return dict(self._neural)

    def neural_bench(self) -> NeuralBenchmark:
        """The `neural-it` benchmark whose commitment this one uses (loaded by name, validated)."""
        if self._neural_bench is None:
            from memscore.api import load_benchmark

            self._neural_bench = load_benchmark(f"neural-{self.region.lower()}", **self._neural)
        return self._neural_bench

    def neural_options(self, options: RunOptions) -> RunOptions:
        """The run's options, but the whole neural data set at its own root: ``--data-root NAME=PATH`` named
        after `neural-it` or its data set (``majajhong2015``, a manifest's identifier), else the forwarded
        ``neural_data_root`` argument, else the data set's default place — never the unnamed LaMem root."""
        base = dataclasses.replace(
            options, limit=None, extra={},
            data_root=Path(self.neural_data_root).expanduser() if self.neural_data_root else None)
        return base.for_benchmark(self.neural_bench())

    def data(self, options: RunOptions) -> DataInfo:
        lamem = super().data(options)
        neural = self.neural_bench().data(self.neural_options(options))
        return DataInfo(name=f"lamem+{neural.name}", fingerprint=digest(lamem.fingerprint, neural.fingerprint),
                        root=lamem.root, counts={**lamem.counts, "neural_stimuli": neural.counts.get("stimuli")},
                        parts={"lamem": lamem.fingerprint, "neural": neural.fingerprint})

    def run(self, model: Model, options: RunOptions) -> Score:
        from memscore_plugins.benchmarks.neural.commitments import commit

        c = commit(model.identifier, self.region, weights=model.weights, model_args=model.meta.get("model_args"),
                   benchmark_args=self.neural_args(), options=self.neural_options(options))
        self.layer_names = [c.layer]
        score = super().run(model, options)
        score.meta.update({"layer": c.layer, "region": self.region, "commitment": c.to_dict()})
        return score
