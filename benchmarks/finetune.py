"""Time memscore's fine-tuning trainer against a plain PyTorch loop, and the image pipeline against the step.

On LaMem-like fixture images (``--images`` JPEGs of 256 x 256, the LaMem size) with resnet18 (random
init, one-unit head) at ``--size`` px, batch 32, SGD Nesterov, MSE, in one process:

* ``epoch``: one training epoch through ``Finetuner.train_epoch`` (+ the checkpoint it writes after
  every epoch) against a plain loop (``for x, y in loader: step``) over the *same* loader, model and
  batch; and against a plain loop over a torchvision ``ImageFolder``-style pipeline (Resize, RandomCrop,
  RandomHorizontalFlip, ToTensor, Normalize). Runs are interleaved (order rotated), ``--repeats`` each.
  Ratios are given on this process's CPU time (robust on a shared machine when ``--workers 0``: all work
  is in-process), on the minimum wall time, and as the median of per-repeat wall-time ratios.
* ``loader_only``: images/s of each loader alone (decode + augment + collate, no model), including
  memscore's decoded-image cache when warm (``cache=true``).
* ``step_only``: images/s of the training step alone on a batch already in memory.
* ``decode_bound``: whether the loader is slower than the step (then decoding bounds an epoch).

Prints one JSON object. ``python benchmarks/finetune.py [--images 96] [--size 224] [--repeats 2]
[--workers 0] [--threads 0] [--model resnet18]``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fixture builder


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def timed2(fn) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds): on a shared machine CPU time is far less noisy."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--size", type=int, default=224, help="crop size (resize = size * 256/224)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers (both loops)")
    ap.add_argument("--model", default="resnet18", help="a torchvision architecture")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA)")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch CPU threads (0: torch's default). On a shared machine 1 avoids OpenMP contention")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from lamem_fixture import build_lamem
    from torchvision import transforms as T

    from memscore.activations import resolve_device
    from memscore.images import load_image
    from memscore_plugins.benchmarks.finetune.trainer import (BaseImages, EpochSampler, Finetuner, ImageCache,
                                                             Recipe, atomic_save, cpu_state, make_optimizer)
    from memscore_plugins.models.torchvision.models import build

    tmp = Path(tempfile.mkdtemp(prefix="memscore-ftbench-"))
    load0 = os.getloadavg()
    root = build_lamem(tmp / "lamem", args.images, image_size=256, n_splits=1)
    paths = sorted((root / "images").glob("*.jpg"))
    scores = np.random.default_rng(0).uniform(0.3, 0.9, len(paths)).astype(np.float32)
    targets = torch.from_numpy(scores)

    torch.manual_seed(0)
    model = build(args.model, weights="none")
    model.replace_head(1)
    recipe = Recipe(image_size=args.size, batch_size=args.batch_size)
    device = resolve_device(args.device)
    trainer = Finetuner(model, recipe, seed=0, split=1, device=device, bf16=args.bf16, num_workers=args.workers)
    geom = trainer.geom
    opt = make_optimizer(trainer.module, recipe)

    # --- loaders -------------------------------------------------------------------------------
    sampler = EpochSampler(len(paths), recipe.batch_size, geom, recipe.augment, 0, 1)
    ms_loader = trainer._loader(paths, batch_sampler=sampler)
    cache = ImageCache(root / "images", geom.resize, geom.interpolation, tmp / "cache")
    trainer_cached = Finetuner(model, recipe, seed=0, split=1, device=device, bf16=args.bf16,
                               num_workers=args.workers, cache=cache)
    cached_loader = trainer_cached._loader(paths, batch_sampler=sampler)

    tv_tf = T.Compose([T.Resize(geom.resize, interpolation=T.InterpolationMode(geom.interpolation)),
                       T.RandomCrop(geom.crop), T.RandomHorizontalFlip(), T.ToTensor(),
                       T.Normalize(geom.mean, geom.std)])

    class TV(torch.utils.data.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            return tv_tf(load_image(paths[i])), targets[i]

    tv_loader = torch.utils.data.DataLoader(TV(), batch_size=recipe.batch_size, shuffle=True,
                                            num_workers=args.workers, pin_memory=device.type == "cuda",
                                            generator=torch.Generator().manual_seed(0),
                                            persistent_workers=args.workers > 0)

    def drain(loader) -> float:
        t, n = timed(lambda: sum(len(b[0]) for b in loader))
        return n / t

    # warm the cache (its one-time fill is timed and reported)
    fill_s, _ = timed(lambda: [cache.get(p) for p in paths])
    loader_only = {"memscore": [], "memscore_cached": [], "torchvision": []}
    for _ in range(args.repeats):
        loader_only["memscore"].append(drain(ms_loader))
        loader_only["memscore_cached"].append(drain(cached_loader))
        loader_only["torchvision"].append(drain(tv_loader))

    # --- the step alone ---------------------------------------------------------------------------
    xb = torch.from_numpy(np.stack([BaseImages(paths[:recipe.batch_size], geom)[i][0]
                                    for i in range(recipe.batch_size)]))
    yb = targets[:recipe.batch_size]

    def step(x_input, y):
        out = trainer._forward(x_input)
        loss = torch.nn.functional.mse_loss(out, y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    trainer.module.train()
    step(trainer._to_input(xb), yb)  # warm-up
    step_rates = []
    for _ in range(args.repeats):
        n_steps = max(2, len(paths) // recipe.batch_size)
        x_in = trainer._to_input(xb)
        t, _ = timed(lambda: [step(x_in, yb) for _ in range(n_steps)] and _sync(device))
        step_rates.append(n_steps * recipe.batch_size / t)

    # --- whole epochs -------------------------------------------------------------------------------
    def memscore_epoch(tr, loader):
        def run():
            tr.train_epoch(1, loader, sampler, targets, paths, opt)
            atomic_save({"model": cpu_state(tr.module), "optimizer": opt.state_dict()}, tmp / "checkpoint.pt")
            _sync(device)
        return timed2(run)

    def plain_epoch(loader, same: bool):
        def run():
            trainer.module.train()
            for batch in loader:
                if same:
                    x, idx = batch[0], batch[1]
                    x, y = trainer._to_input(x), targets[idx]
                else:
                    x, y = batch[0].to(device, non_blocking=True), batch[1]
                    if device.type == "cuda":
                        x = x.contiguous(memory_format=torch.channels_last)
                step(x, y)
            _sync(device)
        return timed2(run)

    ckpt_s = timed(lambda: atomic_save({"model": cpu_state(trainer.module), "optimizer": opt.state_dict()},
                                       tmp / "checkpoint.pt"))[0]
    runs = {"memscore": lambda: memscore_epoch(trainer, ms_loader),
            "plain_same_loader": lambda: plain_epoch(ms_loader, True),
            "plain_torchvision_loader": lambda: plain_epoch(tv_loader, False),
            "memscore_cached": lambda: memscore_epoch(trainer_cached, cached_loader)}
    epochs = {k: [] for k in runs}  # wall seconds
    cpu = {k: [] for k in runs}  # process CPU seconds
    order = list(runs)
    for r in range(args.repeats):
        for k in order[r % len(order):] + order[:r % len(order)]:  # rotate the order between repeats
            w, c = runs[k]()
            epochs[k].append(w)
            cpu[k].append(c)

    def paired(a, b, table):  # per-repeat ratios (adjacent in time), median
        return round(float(np.median([x / y for x, y in zip(table[a], table[b])])), 3)

    best = {k: min(v) for k, v in epochs.items()}
    best_cpu = {k: min(v) for k, v in cpu.items()}
    n = len(paths)
    loader_best = {k: max(v) for k, v in loader_only.items()}
    step_best = max(step_rates)
    result = {
        "what": f"one training epoch of {args.model} on {n} fixture JPEGs (256 px) at {args.size} px, "
                f"batch {recipe.batch_size}",
        "device": str(device), "bf16": bool(args.bf16 and device.type == "cuda"), "workers": args.workers,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "loadavg_before": [round(x, 2) for x in load0],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "epoch_s": {k: [round(x, 3) for x in v] for k, v in epochs.items()},
        "epoch_cpu_s": {k: [round(x, 3) for x in v] for k, v in cpu.items()},
        "epoch_images_per_s": {k: round(n / v, 2) for k, v in best.items()},
        "ratio_trainer_vs_plain_same_loader": {
            "cpu_time_min": round(best_cpu["memscore"] / best_cpu["plain_same_loader"], 3),
            "wall_min": round(best["memscore"] / best["plain_same_loader"], 3),
            "wall_paired_median": paired("memscore", "plain_same_loader", epochs)},
        "ratio_trainer_vs_plain_torchvision_loader": {
            "cpu_time_min": round(best_cpu["memscore"] / best_cpu["plain_torchvision_loader"], 3),
            "wall_min": round(best["memscore"] / best["plain_torchvision_loader"], 3),
            "wall_paired_median": paired("memscore", "plain_torchvision_loader", epochs)},
        "checkpoint_write_s": round(ckpt_s, 3),
        "loader_only_images_per_s": {k: round(v, 1) for k, v in loader_best.items()},
        "step_only_images_per_s": round(step_best, 2),
        "decode_bound": loader_best["memscore"] < step_best,
        "loader_share_of_epoch": round(step_best / loader_best["memscore"], 3),
        "cache": {"fill_s": round(fill_s, 3), "fill_images_per_s": round(n / fill_s, 1),
                  "epoch_gain_cpu_time": round(best_cpu["memscore"] / best_cpu["memscore_cached"], 3),
                  "epoch_gain_wall": round(best["memscore"] / best["memscore_cached"], 3),
                  "loader_gain": round(loader_best["memscore_cached"] / loader_best["memscore"], 2),
                  "bytes_per_image": geom.resize * geom.resize * 3},
    }
    print(json.dumps(result, indent=1))


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    return True


if __name__ == "__main__":
    main()
