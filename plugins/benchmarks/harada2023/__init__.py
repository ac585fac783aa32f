"""The analysis of Harada & Sakai (2023): ``memscore analyze`` relates memorability to brain similarity
across layers and models (the paper's figures). Registration only: the command's module imports the
analysis when it runs."""
from memscore import hookimpl


@hookimpl
def register_commands(cli):
    from .commands import analyze

    cli.add_command(analyze)
