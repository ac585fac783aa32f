"""A real single-node SLURM cluster for the tests: munged + slurmctld + slurmd on this host, configured by a
slurm.conf written into a work folder and found through $SLURM_CONF, so that `sbatch`/`squeue`/`scancel` and
submitit (which shells out to them) talk to it.

    with start_cluster(tmp_path) as cluster:   # or the session fixture `slurm_cluster`
        subprocess.run(["sbatch", "--wrap", "true"], env={**os.environ, **cluster.env})

Built for a container without systemd or usable cgroups (the daemons run as root, proctrack/linuxproc,
task/none), with Debian's slurm-wlm 22.05.  There is no accounting database (no slurmdbd), so the real `sacct`
has nothing to report; submitit polls `sacct` for job states, so the cluster puts a small `sacct` stand-in first
on $PATH (see SACCT_SHIM) that answers from slurmctld's own job records (`scontrol show job`), which slurmctld
keeps for MinJobAge seconds after a job ends."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

DAEMONS = ("slurmctld", "slurmd", "munged")
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol", "scancel", "munge")
SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_SOCKET_DIR = Path("/run/munge")
START_TIMEOUT_S = 60.0
MIN_JOB_AGE_S = 3600  # finished jobs stay in slurmctld (and so in the sacct stand-in) this long


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in SBIN:
        p = Path(d) / name
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


def slurm_available() -> str | None:
    """None when the SLURM and munge programs this module needs are installed (and we may run them as root),
    else why not -- a reason for pytest.skip."""
    missing = [n for n in DAEMONS + CLIENTS if _which(n) is None]
    if missing:
        return (f"SLURM is not installed (missing: {', '.join(missing)}); "
                "apt-get install slurm-wlm munge")
    if sys.platform != "linux":
        return f"a local SLURM cluster needs Linux, not {sys.platform}"
    if os.geteuid() != 0:
        return "starting a local SLURM cluster (munged, slurmd) needs root"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        p = _free_port()
        if p not in ports:
            ports.append(p)
    return ports


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as e:
        return f"  ({path}: {e})"
    return "\n".join("  " + line for line in text[-lines:]) or "  (empty)"


def _real_memory_mb() -> int:
    """What slurmd may advertise: it refuses to register a node whose RealMemory exceeds what it sees."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total_mb = int(line.split()[1]) // 1024
                return max(256, min(total_mb // 2, total_mb - 1024))
    except (OSError, ValueError, IndexError):
        pass
    return 1024


def _munge_works(env: dict | None = None) -> bool:
    munge, unmunge = _which("munge"), _which("unmunge")
    if not munge or not unmunge:
        return False
    try:
        cred = subprocess.run([munge, "-n"], capture_output=True, timeout=10, env=env)
        if cred.returncode != 0:
            return False
        back = subprocess.run([unmunge], input=cred.stdout, capture_output=True, timeout=10, env=env)
        return back.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _ensure_munge_key() -> None:
    if MUNGE_KEY.exists() and MUNGE_KEY.stat().st_size >= 32:
        return
    MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
    made = False
    mungekey = _which("mungekey")
    if mungekey:
        made = subprocess.run([mungekey, "--create", "--force", f"--keyfile={MUNGE_KEY}"],
                              capture_output=True).returncode == 0
    if not made and _which("create-munge-key"):
        made = subprocess.run([_which("create-munge-key"), "-f"], capture_output=True).returncode == 0
    if not made or not MUNGE_KEY.exists():
        MUNGE_KEY.write_bytes(os.urandom(1024))
    _chown_munge(MUNGE_KEY)
    os.chmod(MUNGE_KEY, 0o400)
    os.chmod(MUNGE_KEY.parent, 0o700)


def _chown_munge(path: Path) -> None:
    try:
        import pwd

        pw = pwd.getpwnam("munge")
        os.chown(path, pw.pw_uid, pw.pw_gid)
    except (KeyError, OSError):
        pass


# submitit asks `sacct -o JobID,State,NodeList --parsable2 -j ID [-j ID ...]` for job states.  Without slurmdbd
# the real sacct only says "accounting storage is disabled", so this stand-in answers the same question from
# slurmctld's live job table (`scontrol show job -o`), in sacct's --parsable2 format, and defers to the real sacct
# for anything else.
SACCT_SHIM = r'''#!{python}
"""sacct stand-in for a SLURM cluster without accounting storage (written by tests/slurm_cluster.py)."""
import os, subprocess, sys

REAL = {real!r}
argv = sys.argv[1:]
fields, jobs, ok = None, [], "--parsable2" in argv or "-P" in argv
i = 0
while i < len(argv):
    a = argv[i]
    if a in ("-o", "--format") and i + 1 < len(argv):
        fields = argv[i + 1].split(","); i += 2; continue
    if a.startswith("--format="):
        fields = a.split("=", 1)[1].split(","); i += 1; continue
    if a in ("-j", "--jobs") and i + 1 < len(argv):
        jobs += argv[i + 1].split(","); i += 2; continue
    if a.startswith("--jobs="):
        jobs += a.split("=", 1)[1].split(","); i += 1; continue
    if a in ("--parsable2", "-P", "-X", "--allocations", "-n", "--noheader"):
        i += 1; continue
    ok = False; break
if not ok or not fields or not jobs:
    os.execv(REAL, [REAL] + argv)
KEYS = {{"jobid": "JobId", "state": "JobState", "nodelist": "NodeList", "jobname": "JobName",
        "exitcode": "ExitCode", "partition": "Partition", "user": "UserId", "elapsed": "RunTime"}}
rows = []
for jid in jobs:
    out = subprocess.run(["scontrol", "show", "job", "-o", jid], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        rec = {{}}
        for tok in line.split():
            if "=" in tok:
                k, v = tok.split("=", 1)
                rec.setdefault(k, v)
        if "JobId" not in rec:
            continue
        aid, tid = rec.get("ArrayJobId"), rec.get("ArrayTaskId")
        if aid and tid:  # a pending range of array tasks is "12_[1-3]" in sacct, "ArrayTaskId=1-3" here
            shown = f"{{aid}}_{{tid}}" if tid.isdigit() else f"{{aid}}_[{{tid.split('%')[0]}}]"
        else:
            shown = rec["JobId"]
        vals = []
        for f in fields:
            key = KEYS.get(f.lower())
            if f.lower() == "jobid":
                vals.append(shown)
            elif key == "NodeList" and rec.get(key) in (None, "(null)"):
                vals.append("None assigned")
            elif key == "UserId":
                vals.append(rec.get(key, "").split("(")[0])
            else:
                vals.append(rec.get(key, "") if key else "")
        rows.append("|".join(vals))
if "-n" not in argv and "--noheader" not in argv:
    print("|".join(fields))
for r in rows:
    print(r)
'''


class SlurmCluster:
    """A running single-node cluster.  .env: the variables a subprocess needs to reach it (SLURM_CONF, PATH with
    the sacct stand-in); .partition: its one partition; .stop() or `with` ends it."""

    def __init__(self, workdir: Path, conf: Path, partition: str, node: str, env: dict,
                 procs: dict[str, subprocess.Popen], started_munged: bool, saved_environ: dict):
        self.workdir = workdir
        self.conf = conf
        self.partition = partition
        self.node = node
        self.env = env
        self._procs = procs
        self._started_munged = started_munged
        self._saved_environ = saved_environ
        self._stopped = False

    def logs(self, lines: int = 30) -> str:
        parts = []
        for name in ("slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out", "munged.log"):
            p = self.workdir / name
            if p.exists():
                parts.append(f"--- {p} (last {lines} lines) ---\n{_tail(p, lines)}")
        return "\n".join(parts)

    def run(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Runs a SLURM client command (sbatch, squeue, ...) against this cluster."""
        return subprocess.run(list(args), env={**os.environ, **self.env}, capture_output=True, text=True,
                              check=check, timeout=timeout)

    def job_ids(self) -> list[str]:
        out = self.run("squeue", "-h", "-o", "%i", check=False)
        return out.stdout.split()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._procs.get("slurmctld") and self._procs["slurmctld"].poll() is None:
                self.run("scancel", "--full", "--quiet", "--partition", self.partition, check=False, timeout=10)
                deadline = time.monotonic() + 10
                while self.job_ids() and time.monotonic() < deadline:
                    time.sleep(0.3)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self._procs.get(name)
            if proc is None or (name == "munged" and not self._started_munged):
                continue
            _terminate(proc)
        for k, v in self._saved_environ.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def __enter__(self) -> "SlurmCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _terminate(proc: subprocess.Popen, grace: float = 10) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        proc.wait(5)


def _start_munged(workdir: Path) -> subprocess.Popen | None:
    """Starts munged (as root, --force) unless one already answers; returns the process we started, if any."""
    if _munge_works():
        return None
    _ensure_munge_key()
    MUNGE_SOCKET_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(MUNGE_SOCKET_DIR, 0o755)
    for d in (Path("/var/lib/munge"), Path("/var/log/munge")):
        d.mkdir(parents=True, exist_ok=True)
    log = workdir / "munged.log"
    proc = subprocess.Popen([_which("munged"), "--force", "--foreground", f"--log-file={log}"],
                            stdin=subprocess.DEVNULL, stdout=open(workdir / "munged.out", "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if _munge_works():
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    _terminate(proc)
    raise RuntimeError(f"munged did not come up (exit {proc.returncode}):\n{_tail(workdir / 'munged.out')}\n"
                       f"{_tail(log)}")


def write_config(workdir: Path, partition: str = "debug") -> tuple[Path, str]:
    """Writes slurm.conf (+ cgroup.conf) into workdir; returns (slurm.conf path, node name)."""
    node = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    ctld_port, slurmd_port = _free_ports(2)
    for d in ("state", "spool"):
        (workdir / d).mkdir(parents=True, exist_ok=True)
    conf = workdir / "slurm.conf"
    conf.write_text(f"""\
# written by tests/slurm_cluster.py: a single-node cluster for the tests
ClusterName=memscore-test
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
StateSaveLocation={workdir / 'state'}
SlurmdSpoolDir={workdir / 'spool'}
SlurmctldPidFile={workdir / 'slurmctld.pid'}
SlurmdPidFile={workdir / 'slurmd.pid'}
SlurmctldLogFile={workdir / 'slurmctld.log'}
SlurmdLogFile={workdir / 'slurmd.log'}
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
InactiveLimit=0
KillWait=2
MinJobAge={MIN_JOB_AGE_S}
Waittime=0
SchedulerParameters=sched_interval=2
PrologFlags=NoHold
MaxArraySize=1001
NodeName={node} NodeAddr=127.0.0.1 NodeHostname={node} CPUs={cpus} RealMemory={_real_memory_mb()} State=UNKNOWN
PartitionName={partition} Nodes={node} Default=YES MaxTime=INFINITE State=UP
""")
    (workdir / "cgroup.conf").write_text("# written by tests/slurm_cluster.py; no cgroup plugin is used\n"
                                         "CgroupAutomount=no\nConstrainCores=no\nConstrainRAMSpace=no\n")
    return conf, node


def _write_sacct_shim(workdir: Path) -> Path:
    bindir = workdir / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    real = _which("sacct") or "/usr/bin/sacct"
    shim = bindir / "sacct"
    shim.write_text(SACCT_SHIM.format(python=sys.executable, real=real))
    shim.chmod(0o755)
    return bindir


def start_cluster(workdir: Path, partition: str = "debug", timeout: float = START_TIMEOUT_S) -> SlurmCluster:
    """Starts munged (if none runs), slurmctld and slurmd with a config in workdir; waits until the node is idle.
    Sets os.environ['SLURM_CONF'] (and puts the sacct stand-in on os.environ['PATH']) so this process and its
    children, submitit included, use this cluster; stop() restores them."""
    reason = slurm_available()
    if reason:
        raise RuntimeError(reason)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    conf, node = write_config(workdir, partition)
    bindir = _write_sacct_shim(workdir)
    env = {"SLURM_CONF": str(conf), "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    procs: dict[str, subprocess.Popen] = {}
    munged = _start_munged(workdir)
    if munged is not None:
        procs["munged"] = munged
    cluster = SlurmCluster(workdir, conf, partition, node, env, procs, munged is not None, saved)
    try:
        daemon_env = {**os.environ, **env}
        for name, args in (("slurmctld", ["-D", "-i"]), ("slurmd", ["-D"])):
            procs[name] = subprocess.Popen([_which(name), *args, "-f", str(conf)], env=daemon_env,
                                           stdin=subprocess.DEVNULL, stdout=open(workdir / f"{name}.out", "wb"),
                                           stderr=subprocess.STDOUT, start_new_session=True)
        _wait_idle(cluster, timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait_idle(cluster: SlurmCluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    state, err = "", ""
    while time.monotonic() < deadline:
        for name, proc in cluster._procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} while starting the SLURM cluster\n"
                                   f"{cluster.logs()}")
        try:
            out = cluster.run("sinfo", "-h", "-o", "%T", "-p", cluster.partition, check=False, timeout=15)
            state, err = out.stdout.strip(), out.stderr.strip()
        except subprocess.TimeoutExpired:
            state, err = "", "sinfo timed out"
        if state.rstrip("*") == "idle":
            return
        time.sleep(0.5)
    raise RuntimeError(f"the SLURM node did not become idle within {timeout:.0f}s "
                       f"(sinfo: {state!r} {err!r})\n{cluster.logs()}")


def _require_slurm() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("MEMSCORE_REQUIRE_SLURM"))


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """One real SLURM cluster for the whole test session.  Skips where SLURM is not installed, except under
    CI / MEMSCORE_REQUIRE_SLURM, where that is a failure."""
    reason = slurm_available()
    if reason:
        if _require_slurm():
            pytest.fail(f"SLURM is required here (CI / MEMSCORE_REQUIRE_SLURM is set): {reason}")
        pytest.skip(reason)
    with start_cluster(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster
