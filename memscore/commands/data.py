"""``memscore data check`` and ``memscore data fetch``: a local copy of a data set validated, the official
archive downloaded."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .common import _known
from .options import data_root_option, no_progress_option

@click.group()
def data():
    """Data sets: check a local copy, fetch the official archive."""


def dataset_args_option(fn):
    """``--dataset-args k=v,k=v`` (repeatable; ``--dataset-arg`` too): a data set's options, in the form of
    ``--model-args`` / ``--benchmark-args`` (e.g. ``score=memorability_wo_fa_correction``)."""
    return click.option("--dataset-args", "--dataset-arg", "dataset_args", multiple=True, metavar="K=V[,K=V]",
                        help="k=v,k=v passed to the data set (its options: `memscore list datasets --details`), "
                             "e.g. score=memorability_wo_fa_correction; repeatable")(fn)


def parse_dataset_args(texts) -> dict:
    """The ``--dataset-args`` given (each ``k=v,k=v``; a later key wins), parsed as ``--benchmark-args`` are."""
    from ..errors import OptionError
    from ..options import parse_kv

    out: dict = {}
    for text in texts or ():
        out.update(parse_kv(text, "--dataset-args"))
    if "root" in out:
        raise OptionError("--dataset-args root: the data folder is not an option; give it with --data-root "
                          "NAME=PATH")
    return out


@data.command("check")
@click.argument("name")
@data_root_option
@dataset_args_option
@click.option("--decode", is_flag=True, help="also decode every image (slow)")
@click.option("--json", "as_json", is_flag=True)
def data_check(name, data_roots, dataset_args, decode, as_json):
    """Validate data set NAME (or a data set manifest NAME.json) and report its counts; exits 1 when an image
    fails to decode (--decode). ``--data-root PATH`` or ``--data-root NAME=PATH`` (a folder, or the JSON manifest
    of a data set that has one, e.g. a neural one); ``--dataset-args k=v`` the data set's options (MemCat's
    ``score``, FIGRIM's ``score`` and ``experiment``, THINGS's ``score``, …)."""
    from ..api import load_dataset
    from ..dataroots import parse_data_roots
    from ..errors import DataError, OptionError
    from ..images import shorten

    args = parse_dataset_args(dataset_args)
    default, named = parse_data_roots(data_roots)
    hit = named.get(name)
    data_root = hit[1] if hit else default
    named.strict = True
    named.check_all_used(f"data check {name}")
    ds = _manifest_dataset(name, data_root)
    if ds is not None and args:
        raise OptionError(f"--dataset-args: a data set manifest ({shorten(str(data_root or name))}) takes no options; "
                          f"its file names them")
    if ds is None:
        ds = load_dataset(name, root=data_root, **args)
    report = ds.check(decode=decode, progress=decode and sys.stderr.isatty())
    bad = (report.get("bad_images") or []) if isinstance(report, dict) else []
    if as_json:
        click.echo(json.dumps(report, indent=1, default=str))
    elif bad:  # one line per undecodable image, not one long list
        _print_report(name, {**report, "bad_images": len(bad)})
        for b in bad:
            click.echo(f"    undecodable {b.get('path') or b.get('name')}: {b.get('reason', '')}")
    else:
        _print_report(name, report)
    if bad:
        first = bad[0]
        where = shorten(first.get("path") or first.get("name"))
        raise DataError(f"{len(bad)} image(s) cannot be decoded (first: {where}: "
                        f"{shorten(first.get('reason', ''), 120)}); replace them, or score with --skip-bad-images "
                        f"to drop them (counted and reported)")


def _manifest_dataset(name: str, data_root: Path | None):
    """The data set a JSON manifest describes, read by the data set class that reads manifests (a class with
    ``from_manifest``: the neural plugin's): ``data check PATH.json`` or ``data check NAME --data-root PATH.json``.
    None when neither names a manifest file."""
    from ..errors import DataError, OptionError
    from ..pluginmanager import registry

    def is_manifest(p) -> bool:
        return str(p).endswith(".json") or Path(p).expanduser().is_file()

    if is_manifest(name) and not _known(registry(), "dataset", name):
        if data_root is not None:
            raise OptionError(f"data check {name}: a manifest names its own files; drop --data-root {data_root}")
        readers = []
        for entry in registry().entries("dataset"):
            try:
                cls = entry.resolve() if entry.available else None
            except Exception:  # noqa: BLE001 - a broken plugin does not stop the check
                cls = None
            reader = getattr(cls, "from_manifest", None)
            if callable(reader) and getattr(reader, "__func__", reader) not in [getattr(r, "__func__", r)
                                                                                for r in readers]:
                readers.append(reader)
        if not readers:
            raise DataError(f"data check {name}: no installed plugin reads data set manifests; give a data set "
                            f"name (`memscore list datasets`)")
        return readers[0](Path(name).expanduser())
    if data_root is not None and Path(data_root).expanduser().is_file() and is_manifest(data_root):
        entry, _ = registry().get("dataset", name)
        reader = getattr(entry.resolve(), "from_manifest", None) if entry.available else None
        if callable(reader):
            return reader(Path(data_root).expanduser())
    return None


@data.command("fetch")
@click.argument("name")
@click.option("--url", help="the archive: an http(s):// or file:// URL, or a local path (default: the official one, "
                             "where there is one)")
@click.option("--dest", type=click.Path(path_type=Path), help="where to unpack (default: $MEMSCORE_HOME/data/NAME)")
@click.option("--sha256", help="expected checksum of the archive")
@no_progress_option
def data_fetch(name, url, dest, sha256, no_progress):
    """Download (resumable), verify and unpack data set NAME, then check it and print its report. ``--url``: an
    http(s):// or file:// URL or a local path of the archive (needed for a data set without an official one)."""
    from ..api import load_dataset
    from ..errors import DataError
    from ..pluginmanager import registry

    entry, _ = registry().get("dataset", name)
    cls = entry.resolve()
    fetch = getattr(cls, "fetch", None)
    if not callable(fetch):
        raise DataError(f"data set {name} has no fetch; put a copy in a folder and run `memscore data check {name} "
                        f"--data-root {name}=PATH`")
    import inspect

    params = inspect.signature(fetch).parameters
    takes_progress = "progress" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    report = fetch(url=url, dest=dest, sha256=sha256, **({"progress": not no_progress} if takes_progress else {}))
    if not isinstance(report, dict):  # the folder it unpacked into (and checked): its report, as `data check` gives
        report = load_dataset(name, root=report).check()
    _print_report(name, report)


def _print_report(name, report: dict) -> None:
    click.echo(f"{name}: {report.get('root', '')}")
    for key, value in report.items():
        if key == "root":
            continue
        if isinstance(value, dict):
            click.echo(f"  {key.replace('_', ' ')}:")
            for k, v in value.items():
                click.echo(f"    {k}: {_plain(v)}")
        else:
            click.echo(f"  {key.replace('_', ' ')}: {_plain(value)}")


def _plain(value) -> str:
    """A report value as people read it: ``train 184, val 15, test 41``, ``1, 2, 3``, ``yes``/``no``, ``none``;
    never a Python repr."""
    from ..safetext import printable

    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple, set)):
        return ", ".join(_plain(v) for v in value) or "none"
    return "none" if value is None else printable(str(value))


def register_commands(cli):
    cli.add_command(data)
