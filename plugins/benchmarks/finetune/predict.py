"""``memscore predict``: per-image memorability predictions as CSV (torch-free at import).

Works for any model whose output is one memorability score per image (``meta["output"] ==
"memorability"``): fine-tuned models (``finetuned:<model>@lamem<k>``), a base model given a fine-tuned
checkpoint with ``--weights PATH`` (its one-unit head is detected from the checkpoint), or a model
such as ``resmem``. Images are decoded defensively; an unreadable image is named on stderr, skipped
and counted — it never stops the run.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from memscore.commands.options import no_progress_option

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def collect_images(inputs) -> list[Path]:
    """Files as given (any suffix), folders expanded recursively to their image files (sorted)."""
    out: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out


def load_predictor(model: str, weights: str | None, seed: int = 0, model_args: dict | None = None):
    """Load ``model``; with ``--weights PATH`` a checkpoint whose head has one unit is fitted by replacing
    the base model's head (the base model is built without downloading its own weights)."""
    from memscore import api
    from memscore.errors import MemscoreError

    model_args = dict(model_args or {})
    w = weights or "default"
    if w not in ("default", "none") and Path(w).expanduser().is_file():
        from memscore_plugins.benchmarks.finetune.benchmark import load_memorability_state
        from memscore_plugins.benchmarks.finetune.benchmark import read_finetuned
        from memscore_plugins.benchmarks.finetune.trainer import load_trusted

        path = Path(w).expanduser()
        m = api.load_model(model, weights="none", seed=seed, **model_args)
        ck = load_trusted(path, "--weights")
        if isinstance(ck, dict) and "memscore_finetuned" in ck:
            meta, state = read_finetuned(path)
        else:
            state = ck
            if isinstance(state, dict):
                for key in ("state_dict", "model", "model_state"):
                    if isinstance(state.get(key), dict):
                        state = state[key]
                        break
            if not isinstance(state, dict):
                raise MemscoreError(f"--weights {path}: holds a {type(ck).__name__}, not a state dict")
        from memscore.weights import check_finite

        check_finite(state, f"--weights {path}")
        load_memorability_state(m, state, f"--weights {path}", what=model)
        m.weights = str(path)
        return m
    m = api.load_model(model, weights=w, seed=seed, **model_args)
    if m.weights and str(m.weights) not in ("default", "none") and Path(str(m.weights)).is_file():
        from memscore.weights import check_finite  # a fine-tuned model from the store: its file, as loaded

        check_finite(m.module.state_dict(), f"weights {m.weights} of {model}")
    return m


def check_out(out: Path) -> Path | None:
    """Fail in one line, before anything is computed, when ``--out`` cannot be written: it is a folder,
    its folder is missing or not writable. Returns the temp file to write and ``os.replace`` into ``out``
    (beside it, so the replace is atomic), or None when ``out`` is a FIFO or device (``/dev/stdout``),
    written directly."""
    from memscore.errors import MemscoreError
    from memscore.images import path_kind

    kind = path_kind(out)
    if kind == "a folder":
        raise MemscoreError(f"--out {out} is a folder; give the path of a CSV file (e.g. {out / 'predictions.csv'})")
    if kind not in ("file", "missing", "a broken symlink"):
        if kind.startswith(("a FIFO", "a character device")):
            return None
        raise MemscoreError(f"--out {out} is {kind}; give the path of a CSV file")
    target = Path(os.path.realpath(out)) if os.path.islink(out) else out
    folder = target.parent
    fkind = path_kind(folder)
    if fkind != "a folder":
        raise MemscoreError(f"--out {out}: its folder {folder} "
                            + ("does not exist; create it first or choose another path" if fkind == "missing" else
                               f"is {'a file' if fkind == 'file' else fkind}, not a folder; choose another path"))
    tmp = folder / f".memscore-predict.csv.tmp{os.getpid()}"
    try:  # the one sure test of writability (permissions, read-only file systems, ACLs)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise MemscoreError(f"--out {out}: cannot write in {folder} ({exc.strerror or exc}); choose a writable "
                            f"folder") from None
    return tmp


def _write_csv(rows, out: Path | None, tmp: Path | None) -> None:
    """Write ``rows`` to stdout, or to ``out`` atomically through ``tmp`` (direct for a FIFO/device)."""
    from memscore.errors import MemscoreError
    from memscore.safetext import write_csv

    if out is None:
        write_csv(sys.stdout, rows)
        return
    dest = tmp if tmp is not None else out
    try:
        # surrogateescape: a file name that is not UTF-8 is written as its own bytes (as on stdout), not a crash
        with open(dest, "w", newline="", errors="surrogateescape") as handle:
            write_csv(handle, rows)
            if tmp is not None:
                handle.flush()
                os.fsync(handle.fileno())
        if tmp is not None:
            os.replace(tmp, Path(os.path.realpath(out)) if os.path.islink(out) else out)
    except OSError as exc:
        raise MemscoreError(f"--out {out}: cannot write it ({exc.strerror or exc}); free some space or choose "
                            f"another path") from None
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


@click.command()
@click.option("--model", "-m", required=True, help="a memorability model: finetuned:<model>@lamem<k>, resmem, ...")
@click.option("--weights", default="default", show_default=True,
              help="default | PATH to a fine-tuned checkpoint of MODEL")
@click.option("--model-args", default="", help="k=v,k=v passed to the model factory")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), help="CSV file, written atomically (default: stdout)")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1))
@click.option("--num-workers", default=0, show_default=True, type=click.IntRange(0), help="DataLoader workers")
@click.option("--bf16", is_flag=True, help="bf16 autocast (CUDA)")
@click.option("--seed", default=0, show_default=True, type=int)
@no_progress_option
def predict(model, weights, model_args, images, out, device, batch_size, num_workers, bf16, seed, no_progress):
    """Predict the memorability of IMAGES (files or folders) with MODEL; CSV rows: file,score."""
    from memscore.errors import MemscoreError
    from memscore.options import parse_kv

    tmp = check_out(out) if out else None  # before anything is computed
    files = collect_images(images)
    if not files:
        raise MemscoreError(f"no image files found in {', '.join(map(str, images))} "
                            f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    m = load_predictor(model, weights, seed, parse_kv(model_args, "--model-args"))
    if m.meta.get("output") != "memorability":
        raise MemscoreError(f"model {model!r} does not predict memorability (it is a "
                            f"{m.meta.get('output', 'classification')} model); use finetuned:<model>@lamem<k> "
                            f"(`memscore list models --tag finetuned`), a fine-tuned checkpoint with --weights, "
                            f"or resmem")
    scores, bad = run_predictions(m, files, device=device, batch_size=batch_size, num_workers=num_workers,
                                  bf16=bf16, progress=not no_progress)
    for f, why in bad:
        click.echo(f"skipped {f}: {why}", err=True)
    n_ok = sum(s is not None for s in scores)
    if n_ok == 0:  # nothing to write: an existing --out file is left as it was
        raise MemscoreError(f"no readable image among the inputs ({len(bad)} unreadable, named above)")
    _write_csv([["file", "score"]] + [[str(f), repr(float(s))] for f, s in zip(files, scores) if s is not None],
               out, tmp)
    click.echo(f"{n_ok} image(s) scored, {len(bad)} unreadable image(s) skipped"
               + (f"; wrote {out}" if out else ""), err=True)


def run_predictions(model, files, *, device="auto", batch_size=64, num_workers=0, bf16=False, progress=True):
    """Scores (None for unreadable images) and the ``(file, reason)`` of each unreadable one."""
    import torch
    from tqdm.auto import tqdm

    from memscore.activations import resolve_device

    dev = resolve_device(device)
    module = model.module.to(dev).eval()
    if dev.type == "cuda":
        module = module.to(memory_format=torch.channels_last)
    ds = _Files(files, model.transform())
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=num_workers, collate_fn=_collate,
                                         pin_memory=dev.type == "cuda")
    scores: list[float | None] = [None] * len(files)
    bad: list[tuple[Path, str]] = []
    with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16 and dev.type == "cuda"):
        for x, idx, reasons in tqdm(loader, desc=f"{model.identifier}: predict", unit="batch",
                                    disable=not progress, leave=False):
            bad.extend((files[i], r) for i, r in reasons)
            if x is None:
                continue
            x = x.to(dev, non_blocking=True)
            if dev.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            y = module(x)
            if isinstance(y, (tuple, list)):
                y = y[0]
            y = y.float().reshape(len(idx), -1)
            if y.shape[1] != 1:
                from memscore.errors import MemscoreError

                raise MemscoreError(f"model {model.identifier!r} returns {y.shape[1]} values per image, "
                                    f"not one memorability score")
            for i, v in zip(idx, y[:, 0].cpu().tolist()):
                scores[i] = v
    return scores, bad


class _Files:
    def __init__(self, files, transform):
        self.files, self.transform = files, transform

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        from memscore.errors import DataError
        from memscore.images import BadImage, _decode

        try:
            return self.transform(_decode(Path(self.files[i]))), i, None
        except BadImage as exc:
            return None, i, str(exc)
        except DataError as exc:  # pragma: no cover - _decode raises BadImage
            return None, i, str(exc)


def _collate(batch):
    import torch

    good = [(x, i) for x, i, r in batch if r is None]
    reasons = [(i, r) for _, i, r in batch if r is not None]
    if not good:
        return None, [], reasons
    return torch.stack([x for x, _ in good]), [i for _, i in good], reasons
