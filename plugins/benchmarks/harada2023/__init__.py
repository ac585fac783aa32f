"""The analysis of Harada & Sakai (2023): ``memscore analyze`` relates memorability to brain similarity
across layers and models (the paper's figures). Registration only: the command's module imports the
analysis when it runs."""
from memscore import hookimpl


@hookimpl
def register_commands(cli):
    from .commands import analyze

    cli.add_command(analyze)


@hookimpl
def leaderboard_figures():
    """Fig. 2 of the paper, one panel per region: every layer's memorability accuracy against its
    similarity to the region (Spearman rho over layers; the paper's rho beside it)."""
    published = {"v1": 0.37, "v2": 0.76, "v4": 0.21, "it": 0.82}
    return [{"id": f"fig2-{r}", "title": f"Fig. 2 ({r.upper()}): layer memorability vs {r.upper()} similarity",
             "x": f"neural-{r}", "y": "lamem-pls", "published_rho": rho,
             # the runs `memscore analyze` counts in Fig. 2 (fine-tuned models are Fig. 3's): one rho on both
             "relevant": "memscore_plugins.benchmarks.harada2023.analysis:is_imagenet_run",
             "caption": f"Each point is one layer of one model: its {r.upper()} predictivity (neural-{r}) against its "
                        f"memorability accuracy (lamem-pls). Harada & Sakai (2023) report Spearman rho = {rho} "
                        f"over 16,860 layers of 64 ImageNet CNNs."} for r, rho in published.items()]
