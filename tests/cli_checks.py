"""What a user-caused error on the command line must look like: one ``error:`` line on stderr, handled (no
traceback), naming the thing. Shared by the fault tests."""
from __future__ import annotations

from click.testing import CliRunner

from memscore.cli import main


def one_error_line(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


def cli_fails(args: list[str], *names: str, code: int | None = None) -> str:
    """``memscore ARGS`` must fail (with exit ``code`` when given) with one ``error:`` line on stderr naming
    every one of ``names``."""
    r = CliRunner().invoke(main, args)
    assert r.exit_code != 0, r.output
    if code is not None:
        assert r.exit_code == code, (r.exit_code, r.output)
    assert isinstance(r.exception, SystemExit), repr(r.exception)  # handled, not an escaped exception
    assert "Traceback" not in r.output
    line = one_error_line(r.stderr)
    for n in names:
        assert str(n) in line, (n, line)
    return line
