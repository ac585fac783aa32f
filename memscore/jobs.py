"""A sweep's jobs and the executors that run them: one job per model runs that model's pairs and stores run
files only; ``inline`` runs jobs in this process, ``local`` in worker processes (``python -m memscore.jobs
job FOLDER MODEL``), ``slurm`` as a submitit job array. Each says when a job ends (:class:`Finished`)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from . import atomic
from .safetext import one_line
from .cache import read_json
from .errors import OptionError
from .sweep import Sweep, SweepError


def run_job(folder: str, model: str, log: str = "", progress: bool = False) -> dict[str, Any]:
    """Run ``model``'s pairs of the sweep in ``folder`` in order, storing run files only. A failing pair
    is recorded (error, traceback, log) and the next one runs. Returns the run files written."""
    from .store import STORE_ENV

    saved = {k: os.environ.get(k) for k in ("MEMSCORE_HOME", STORE_ENV)}
    try:
        return _run_job(folder, model, log, progress)
    finally:  # an inline job runs in the driver's process: leave its environment as it was
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_job(folder: str, model: str, log: str, progress: bool) -> dict[str, Any]:
    sweep = Sweep.load(folder)
    if sweep.home:
        os.environ["MEMSCORE_HOME"] = sweep.home  # a job on another node stores where its sweep lives
    from .store import STORE_ENV, RunFileStore, open_store

    os.environ[STORE_ENV] = "files"  # every store this job opens (commitments included) is run files only
    store = open_store()
    assert isinstance(store, RunFileStore)
    first = len(store.written)
    slurm_id = os.environ.get("SLURM_JOB_ID")
    if slurm_id and os.environ.get("SLURM_ARRAY_JOB_ID"):
        slurm_id = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    state = {"model": model, "pid": os.getpid(), "host": socket.gethostname(), "slurm_job_id": slurm_id,
             "started": time.time(), "log": log, "finished": False}
    job_file = sweep.job_file(model)
    job_file.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(job_file, json.dumps(state, indent=1))
    failed: list[str] = []
    try:
        from . import api

        for pair in (p for p in sweep.pairs if p.model == model):
            ff = sweep.failure_file(pair)
            try:
                result = api.score(model, pair.benchmark, store=store,
                                   **sweep.spec.score_kwargs(pair.benchmark, progress=progress))
                if result.meta.get("key") not in (None, pair.key):
                    raise SweepError(f"{model} on {pair.benchmark}: the run key changed since the sweep was "
                                     f"planned (data or plugins changed); run the sweep again to re-plan it")
                ff.unlink(missing_ok=True)
            except Exception as exc:  # noqa: BLE001 - one failing pair never stops the others
                failed.append(pair.benchmark)
                ff.parent.mkdir(parents=True, exist_ok=True)
                atomic.write_text(ff, json.dumps({
                    "model": model, "benchmark": pair.benchmark, "key": pair.key, "time": time.time(),
                    "error": one_line(f"{type(exc).__name__}: {exc}".splitlines()[0], 500), "log": log,
                    "traceback": traceback.format_exc()}, indent=1))
                print(f"memscore sweep: {model} on {pair.benchmark} failed: {exc}", file=sys.stderr, flush=True)
    finally:
        files = [str(p) for p in store.written[first:]]
        atomic.write_text(job_file, json.dumps({**state, "finished": time.time(), "files": files,
                                                "failed": failed}, indent=1))
    return {"model": model, "files": files, "failed": failed}


# ---------------------------------------------------------------------------------------------
# executors: they start jobs and say when each ends
# ---------------------------------------------------------------------------------------------
@dataclass
class Finished:
    model: str
    files: list[str] = field(default_factory=list)
    error: str = ""  # the job itself died (killed, cancelled, crashed)
    log: str = ""


class InlineExecutor:
    """Every job in this process, one after the other."""

    name = "inline"
    rerun_running = True  # a job still running here holds its locks: a rerun of its model waits for it

    def __init__(self, progress: bool = True):
        self.progress = progress

    def run(self, sweep: Sweep, models: list[str]) -> Iterator[Finished]:
        for m in models:
            out = run_job(str(sweep.folder), m, progress=self.progress)
            yield Finished(m, out["files"])


class LocalExecutor:
    """``jobs`` worker processes on this machine (``python -m memscore.jobs job``), each with its log;
    on a machine with GPUs each worker sees one GPU (round robin)."""

    name = "local"
    rerun_running = True

    def __init__(self, jobs: int = 1, gpus: int | None = None):
        self.jobs = max(1, jobs)
        self.gpus = _cuda_count() if gpus is None else gpus

    def run(self, sweep: Sweep, models: list[str]) -> Iterator[Finished]:
        todo = list(models)
        running: dict[subprocess.Popen, tuple[str, int, Path]] = {}
        free = list(range(self.jobs))
        try:
            while todo or running:
                while todo and free:
                    model, slot = todo.pop(0), free.pop(0)
                    log = sweep.log_file(model)
                    log.parent.mkdir(parents=True, exist_ok=True)
                    env = dict(os.environ)
                    if self.gpus:
                        env["CUDA_VISIBLE_DEVICES"] = str(slot % self.gpus)
                    with open(log, "ab") as fh:
                        proc = subprocess.Popen([sys.executable, "-m", "memscore.jobs", "job", str(sweep.folder),
                                                 model, str(log)], stdout=fh, stderr=subprocess.STDOUT, env=env)
                    running[proc] = (model, slot, log)
                time.sleep(0.2)
                for proc in [p for p in running if p.poll() is not None]:
                    model, slot, log = running.pop(proc)
                    free.append(slot)
                    info = read_json(sweep.job_file(model), None) or {}
                    err = "" if proc.returncode == 0 else f"worker exited with code {proc.returncode}"
                    yield Finished(model, info.get("files", []) if info.get("finished") else [], err, str(log))
        finally:
            for proc in running:  # the driver stops (Ctrl-C): its workers stop too; finished runs are kept
                proc.terminate()


class SlurmExecutor:
    """One SLURM job array through submitit: one array task per model."""

    name = "slurm"
    rerun_running = False  # a queued or running SLURM job is left to finish (`sweep status` shows it)

    def __init__(self, *, partition: str | None = None, time_limit: str = "24:00:00", mem: str | None = None,
                 gpus_per_job: int = 0, array_parallelism: int = 64, account: str | None = None,
                 extra: dict[str, Any] | None = None, wait: bool = True):
        self.params: dict[str, Any] = {"time": slurm_minutes(time_limit), "array_parallelism": array_parallelism}
        if partition:
            self.params["partition"] = partition
        if mem:
            self.params["mem"] = mem
        if gpus_per_job:
            self.params["gpus_per_node"] = gpus_per_job
        if account:
            self.params["account"] = account
        if extra:
            self.params["additional_parameters"] = dict(extra)
        self.wait = wait
        self.jobs: list = []

    @staticmethod
    def require() -> None:
        """Fail in one line when this machine cannot submit to SLURM: submitit or SLURM's own commands
        (``sbatch``, and ``srun``, which submitit looks for) missing. The CLI calls it before planning."""
        import importlib.util
        import shutil

        if importlib.util.find_spec("submitit") is None:
            raise SweepError("--executor slurm needs submitit, which is not installed: pip install 'memscore[slurm]' "
                             "(or use --executor local)")
        missing = [c for c in ("sbatch", "srun") if shutil.which(c) is None]
        if missing:
            raise SweepError(f"--executor slurm: SLURM is not installed here ({' and '.join(missing)} not on PATH); "
                             f"run the sweep on a SLURM login node (or install slurm-wlm), or use --executor local")

    def run(self, sweep: Sweep, models: list[str]) -> Iterator[Finished]:
        self.require()
        import submitit

        ex = submitit.SlurmExecutor(folder=str(sweep.folder / "slurm" / "%j"))
        ex.update_parameters(job_name=f"memscore-{sweep.ident}", **self.params)
        try:
            self.jobs = ex.map_array(run_job, [str(sweep.folder)] * len(models), models)
        except Exception as exc:  # noqa: BLE001 - sbatch refusing is the user's to fix
            raise SweepError(f"sbatch refused the sweep's job array: {one_line((str(exc).strip().splitlines() or [''])[-1], 300)}") from None
        for m, job in zip(models, self.jobs):
            _write_submitted(sweep, m, job)
        if not self.wait:
            return
        pending = dict(zip(models, self.jobs))
        while pending:
            time.sleep(1.0)
            for m, job in list(pending.items()):
                if not job.done():
                    continue
                del pending[m]
                log = str(job.paths.stdout)
                try:
                    out = job.result()
                    yield Finished(m, out["files"], "", log)
                except Exception as exc:  # noqa: BLE001 - cancelled, timed out, node failure
                    yield Finished(m, [], f"SLURM job {job.job_id}: {one_line(exc, 300)}", log)


def _write_submitted(sweep: Sweep, model: str, job) -> None:
    """Record a submitted SLURM job before it starts, so `sweep status` shows it as running (queued)."""
    path = sweep.job_file(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps({"model": model, "slurm_job_id": str(job.job_id), "host": "(queued)",
                                        "submitted": time.time(), "log": str(job.paths.stdout),
                                        "finished": False}, indent=1))


def slurm_minutes(text: str) -> int:
    """SLURM's time formats (``MM``, ``HH:MM:SS``, ``D-HH:MM``, ...) as whole minutes."""
    t = str(text).strip()
    try:
        days, _, rest = t.rpartition("-")
        parts = [int(x) for x in rest.split(":")]
        if days == "" and len(parts) == 1:
            h, m, s = 0, parts[0], 0
        elif days == "" and len(parts) == 2:
            h, m, s = 0, parts[0], parts[1]
        else:
            h, m, s = (parts + [0, 0, 0])[:3]
        minutes = int(days or 0) * 1440 + h * 60 + m + (1 if s else 0)
    except ValueError:
        minutes = -1
    if minutes <= 0:
        raise OptionError(f"--slurm-time {text}: use MINUTES, HH:MM:SS or D-HH:MM:SS (e.g. 12:00:00)")
    return minutes


def _cuda_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001
        return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m memscore.jobs job FOLDER MODEL [LOG]``: one job of a local sweep."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 3 or argv[0] != "job":
        print("usage: python -m memscore.jobs job SWEEP_FOLDER MODEL [LOG]", file=sys.stderr)
        return 2
    out = run_job(argv[1], argv[2], argv[3] if len(argv) > 3 else "")
    return 0 if not out["failed"] else 3


if __name__ == "__main__":
    sys.exit(main())
