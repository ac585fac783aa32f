"""`memscore demo`: the whole pipeline on synthetic data with planted signal, no download (registration only;
the command imports its work when it runs). The data builders live in :mod:`.synthetic` (the tests use them too)."""
from memscore import hookimpl


@hookimpl
def register_commands(cli):
    from .command import demo

    cli.add_command(demo)
