"""`figrim-pls`, `sun-memorability-pls`, `things-memorability-pls`: the `lamem-pls` protocol unchanged (PCA from the
same reference rule, PLS-25 fitted on train_k, Spearman on test_k, mean ± sd over splits, ``select=test|val``), as
`memcat-pls` runs it, on FIGRIM's and THINGS memorability's seeded splits and SUN memorability's 25 official ones;
and `lamem-to-figrim`, `lamem-to-things`: `lamem-to-memcat`'s transfer (readout on LaMem train_k, layer on LaMem
val_k) scored on every scored image of the target set. (SUN has no one score per image outside its splits'
files, so no transfer to it here.)
The readers are :mod:`.figrim`, :mod:`.sun` and :mod:`.things`; their options are declared arguments here. A run's
data fingerprint is its parts' names and scores and its images' bytes (as every `lamem-pls` run's); targets a
reader leaves out for want of a score are counted in ``meta.unscored``.
"""
from __future__ import annotations

from typing import Any

from memscore.arguments import Arg
from memscore.benchmark import RunOptions
from memscore.errors import OptionError
from memscore.layerwise import Context
from memscore.stimuli import Stimuli
from memscore_plugins.benchmarks.lamem.benchmark import LamemPLS, splits_arg

from .benchmark import LamemTransfer

from .figrim import COUNTS, FIGRIM_ARGS  # the options are declared with the data sets
from .sun import SUN_SPLITS
from .things import THINGS_ARGS


def _pls_arguments(name: str, n: int) -> tuple[Arg, ...]:
    """`lamem-pls`'s arguments, with ``splits`` numbered as data set ``name`` numbers them (1..n)."""
    return (splits_arg(f"{name} splits to average over", name=name, n=n),
            *(a for a in LamemPLS.arguments if a.name != "splits"))


class _Unscored(LamemPLS):
    """Reports how many targets the reader left out for want of a score (``meta.unscored``)."""

    human_consistency = None  # not given here: a published figure is to be added with its source

    def prepare(self, loaded, stimuli: Stimuli, context: Context, options: RunOptions) -> Context:
        context = super().prepare(loaded, stimuli, context, options)
        context.extra["unscored"] = len(getattr(loaded[0], "unscored", ()))
        return context

    def summary(self, best: dict[str, Any], context: Context) -> dict[str, Any]:
        out = super().summary(best, context)
        out["meta"]["unscored"] = context.unscored
        return out


def _figrim(b, root):
    from .figrim import Figrim

    return Figrim(root, b.score, b.experiment, scores_file=b.scores_file, variable=b.variable, images=b.images,
                  filename_field=b.filename_field, category_field=b.category_field, count_fields=COUNTS)


def _things(b, root):
    from .things import ThingsMemorability

    return ThingsMemorability(root, b.score, table=b.table, images=b.images, prefix=b.prefix)


class FigrimPLS(_Unscored):
    identifier = "figrim-pls"
    data_sets = ("figrim",)
    version = "1"
    arguments = (*_pls_arguments("FIGRIM", 5), *FIGRIM_ARGS)

    def open_data(self, options: RunOptions):
        return _figrim(self, options.data_root)


class ThingsPLS(_Unscored):
    identifier = "things-memorability-pls"
    data_sets = ("things-memorability",)
    version = "1"
    arguments = (*_pls_arguments("THINGS memorability", 5), *THINGS_ARGS)

    def open_data(self, options: RunOptions):
        return _things(self, options.data_root)


class LamemToFigrim(LamemTransfer):
    """`lamem-to-memcat`'s protocol with FIGRIM's targets (every scored target image) as the other set."""

    identifier = "lamem-to-figrim"
    target = "figrim"
    data_sets = ("lamem", "figrim")
    arguments = (*LamemTransfer.arguments, *FIGRIM_ARGS)

    def open_target(self, options: RunOptions):
        return _figrim(self, options.root_for("figrim"))


class LamemToThings(LamemTransfer):
    """`lamem-to-memcat`'s protocol with THINGS memorability (every scored image) as the other set."""

    identifier = "lamem-to-things"
    target = "things-memorability"
    data_sets = ("lamem", "things-memorability")
    arguments = (*LamemTransfer.arguments, *THINGS_ARGS)

    def open_target(self, options: RunOptions):
        return _things(self, options.root_for("things-memorability"))


class SunPLS(LamemPLS):
    human_consistency = (0.75, "Isola et al. 2011 (CVPR), SUN memorability: average rank correlation between two "
                               "halves of the participants over 25 random splits")
    identifier = "sun-memorability-pls"
    data_sets = ("sun-memorability",)
    version = "1"
    arguments = _pls_arguments("SUN memorability", SUN_SPLITS)

    def open_data(self, options: RunOptions):
        from .sun import SunMemorability

        return SunMemorability(options.data_root)

    def load(self, options: RunOptions):
        if self.select == "val":  # AMNet's copy has no val_k.txt: say so, not "val_1.txt is missing"
            data = self.open_data(options)
            data._require_root()
            lacking = [k for k in self.splits if not data.has_val([k])]
            if lacking:
                raise OptionError(f"{self.identifier} select=val: this copy of SUN memorability has no val_k.txt for "
                                  f"{len(lacking)} of the {len(self.splits)} splits (first: "
                                  f"{data.split_path('val', lacking[0])}; "
                                  f"AMNet's copy has train and test only); use select=test")
        return super().load(options)
