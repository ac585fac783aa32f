"""Registers `lamem-finetune` and the fine-tuned models (imports nothing heavy: no torch).

Every fine-tuned model found under ``$MEMSCORE_HOME/finetuned`` is registered as a plain model name
``finetuned:<model>@lamem<k>[-<hash8>]`` when plugins load (one directory listing and a small JSON
file per model), so `memscore list models` shows them; the ``finetuned`` prefix resolver also serves
models fine-tuned after the plugins were loaded.
"""
from memscore import hookimpl

FACTORY = "memscore_plugins.benchmarks.finetune.benchmark:build_finetuned"


@hookimpl
def register_benchmarks(register):
    register("lamem-finetune", "memscore_plugins.benchmarks.finetune.benchmark:LamemFinetune",
             description="the paper's fine-tuning recipe on each LaMem split (1-unit head, SGD+Nesterov, "
                         "early stopping on val rho); Spearman rho on test_k, mean over splits",
             tags=["memorability", "finetune", "harada2023"], version="1")


@hookimpl
def register_commands(cli):
    from .predict import predict

    cli.add_command(predict)


@hookimpl
def register_models(register):
    from memscore_plugins.benchmarks.finetune.store import available_finetuned

    register.prefix("finetuned", FACTORY,
                    description="a model fine-tuned by lamem-finetune: finetuned:<model>@lamem<k>[-<hash8>]",
                    tags=["finetuned", "memorability"], source="finetuned")
    for name, meta in available_finetuned().items():
        rho = meta.get("test_rho")
        desc = (f"{meta.get('base_model')} fine-tuned on LaMem split {meta.get('split')} "
                f"(best epoch {meta.get('best_epoch')}, test rho "
                f"{'n/a' if rho is None else format(rho, '.3f')})")
        register(f"finetuned:{name}", FACTORY, params={"name": name}, description=desc,
                 tags=["finetuned", "memorability"], source="finetuned", output="memorability",
                 path=meta.get("path", ""), sha256=meta.get("sha256", ""))
