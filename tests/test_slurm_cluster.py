"""The session's real SLURM cluster (tests/slurm_cluster.py) runs jobs: plain `sbatch`, submitit job arrays, and a
cancelled job that submitit reports as cancelled.  Functions sent through submitit are defined inside the tests so
cloudpickle ships them by value (the test module itself is not importable inside the job)."""
from __future__ import annotations

import os
import time

import pytest
import submitit
from submitit.core.utils import UncompletedJobError

TIMEOUT_S = 45


def _wait(predicate, timeout: float = TIMEOUT_S, what: str = "condition", cluster=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    logs = f"\n{cluster.logs()}" if cluster is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{logs}")


def _job_field(cluster, job_id: str, field: str) -> str:
    out = cluster.run("scontrol", "show", "job", "-o", job_id, check=False).stdout
    for tok in out.split():
        if tok.startswith(field + "="):
            return tok.split("=", 1)[1]
    return ""


def _finished(job: submitit.Job) -> bool:
    return job.done(force_check=True)


def _state(job: submitit.Job) -> str:
    """The state submitit reads from `sacct`, fetched now (job.state may answer from a cache up to ~2 s old)."""
    return job.get_info(mode="force").get("State", "UNKNOWN")


def _executor(tmp_path, cluster) -> submitit.AutoExecutor:
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    executor.update_parameters(slurm_partition=cluster.partition, timeout_min=5, cpus_per_task=1,
                               tasks_per_node=1, nodes=1)
    return executor


def test_sbatch_wrap_job_runs_to_completion(slurm_cluster, tmp_path):
    out_file = tmp_path / "job-%j.out"
    sub = slurm_cluster.run("sbatch", "--parsable", f"--output={out_file}", "--job-name=memscore-wrap",
                            "--wrap", 'echo "hello from $SLURM_JOB_ID on $SLURM_JOB_PARTITION"')
    job_id = sub.stdout.strip().split(";")[0]
    assert job_id.isdigit(), sub
    _wait(lambda: job_id not in slurm_cluster.job_ids(), what=f"job {job_id} to leave the queue",
          cluster=slurm_cluster)
    assert _job_field(slurm_cluster, job_id, "JobState") == "COMPLETED"
    assert _job_field(slurm_cluster, job_id, "ExitCode") == "0:0"
    out = tmp_path / f"job-{job_id}.out"
    assert out.read_text().strip() == f"hello from {job_id} on {slurm_cluster.partition}"


def test_submitit_job_array_returns_results(slurm_cluster, tmp_path):
    def square(x):
        return x * x, os.environ["SLURM_ARRAY_JOB_ID"], os.environ["SLURM_ARRAY_TASK_ID"], os.getpid()

    executor = _executor(tmp_path, slurm_cluster)
    jobs = executor.map_array(square, [3, 4])
    assert len(jobs) == 2 and all(isinstance(j, submitit.SlurmJob) for j in jobs)
    array_id = jobs[0].job_id.split("_")[0]
    assert [j.job_id for j in jobs] == [f"{array_id}_0", f"{array_id}_1"]
    _wait(lambda: all(j.done() for j in jobs), what="the job array", cluster=slurm_cluster)
    results = [j.result() for j in jobs]
    assert [r[0] for r in results] == [9, 16]
    assert [r[1:3] for r in results] == [(array_id, "0"), (array_id, "1")]
    assert all(r[3] != os.getpid() for r in results)  # ran in the job, not here
    # the state submitit polls (`sacct`) catches up once the tasks' steps have ended
    _wait(lambda: [_state(j) for j in jobs] == ["COMPLETED", "COMPLETED"], what="COMPLETED states",
          cluster=slurm_cluster)


def test_scancelled_job_is_reported_cancelled_and_resubmission_completes(slurm_cluster, tmp_path):
    executor = _executor(tmp_path, slurm_cluster)
    long_job = executor.submit(time.sleep, 300)
    _wait(lambda: _state(long_job) == "RUNNING", what="the long job to start",
          cluster=slurm_cluster)
    slurm_cluster.run("scancel", long_job.job_id)
    _wait(lambda: _finished(long_job), what="submitit to see the cancelled job finish", cluster=slurm_cluster)
    assert _state(long_job).startswith("CANCELLED")
    # no result file will come; submitit would wait 15 s for one per call (for slow shared filesystems)
    long_job._results_timeout_s = 1  # as submitit's own tests do
    error = long_job.exception()
    assert isinstance(error, UncompletedJobError) and "CANCELLED" in str(error), error
    with pytest.raises(UncompletedJobError, match="has not produced any output"):
        long_job.result()

    def answer():
        return 42

    again = executor.submit(answer)
    _wait(lambda: again.done(), what="the resubmitted job", cluster=slurm_cluster)
    assert again.result() == 42
    _wait(lambda: _state(again) == "COMPLETED", what="the COMPLETED state", cluster=slurm_cluster)
