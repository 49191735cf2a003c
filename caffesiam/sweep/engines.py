"""Where the points run: a bounded local pool, or one Slurm job array (task i runs point i).

Both engines start the same command per point, `caffesiam sweep run-point DIR i`, and every
process goes through caffesiam.caffe.runner. Argv builders and output parsers are pure.
"""

import os
import re
import signal
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from caffesiam.caffe import runner
from caffesiam.errors import CaffesiamError, SweepError
from caffesiam.limits import SUBMIT_TIMEOUT_S
from caffesiam.sweep.layout import LOGS, SLURM_LOG, local_log
from caffesiam.sweep.rundirs import read_state, write_state
from caffesiam.sweep.scripts import run_point_argv
from caffesiam.train.blas_threads import thread_env

SLURM_PACKAGE = "slurm-client"  # Debian's sbatch, squeue, sacct and scancel
ACTIVE = frozenset(  # Slurm's words for a task it still holds
    {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING"}
)


# --- local pool ----------------------------------------------------------------------------


def run_local(
    sweep_dir: Path,
    indices: Sequence[int],
    jobs: int,
    threads: int | None,
    on_done: Callable[[int, int], None] = lambda index, status: None,
    poll_seconds: float = 0.5,
) -> dict[int, int]:
    """Run the points at most `jobs` at a time; returns each one's exit status. Each point's
    OpenMP and OpenBLAS (evaluate's too) run `threads` threads (None: left as they are).

    Ctrl-C is passed to every running point (Caffe snapshots and stops); a second one kills them.
    """
    env = dict(os.environ, **(thread_env(threads) if threads else {}))
    state = read_state(sweep_dir)  # so that `status` can tell waiting points from abandoned ones
    write_state(
        sweep_dir,
        {
            **state,
            "local_pool": {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "indices": list(indices),
            },
        },
    )
    pending, running, statuses = list(indices), {}, {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                index = pending.pop(0)
                log = Path(sweep_dir) / LOGS / local_log(index)
                running[index] = runner.spawn(run_point_argv(sweep_dir, index), log, env=env)
            time.sleep(poll_seconds)
            for index, proc in list(running.items()):
                if proc.poll() is not None:
                    statuses[index] = proc.returncode
                    del running[index]
                    on_done(index, proc.returncode)
    except KeyboardInterrupt:
        for proc in running.values():
            proc.send_signal(signal.SIGINT)
        try:
            for proc in running.values():
                proc.wait()
        except KeyboardInterrupt:
            for proc in running.values():
                proc.kill()
        raise
    return statuses


# --- Slurm -----------------------------------------------------------------------------------


def array_spec(indices: Iterable[int], throttle: int | None = None) -> str:
    """sbatch --array's value: runs of indices as ranges ("0-3,7"), then %throttle."""
    runs: list[list[int]] = []
    for i in sorted(set(indices)):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    spec = ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
    return spec + (f"%{throttle}" if throttle else "")


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    time: str | None = None
    cpus_per_task: int = 1
    gpus: int = 0
    throttle: int | None = None  # at most this many tasks at once


def sbatch_argv(
    sbatch: str,
    script: Path,
    indices: Iterable[int],
    job_name: str,
    log_dir: Path,
    options: SlurmOptions,
) -> list[str]:
    argv = [
        sbatch,
        "--parsable",
        f"--job-name={job_name}",
        f"--array={array_spec(indices, options.throttle)}",
        f"--output={_literal(log_dir)}/{SLURM_LOG}",
        f"--cpus-per-task={options.cpus_per_task}",
    ]
    if options.partition:
        argv.append(f"--partition={options.partition}")
    if options.time:
        argv.append(f"--time={options.time}")
    if options.gpus:
        argv.append(f"--gres=gpu:{options.gpus}")
    return argv + [str(script)]


def _literal(path: Path) -> str:
    """`path` in sbatch's filename pattern, where % starts a replacement (%j, %x...) and a
    backslash anywhere turns every replacement off (so it cannot be written at all)."""
    if "\\" in str(path):
        raise SweepError(
            f"{path}: Slurm cannot write the tasks' logs under a path with a backslash "
            f"(sbatch --output); choose another --out"
        )
    return str(path).replace("%", "%%")


# sbatch's words for a request the cluster refuses (partition, time, gres, CPUs, array size...),
# as opposed to a controller it cannot reach.
_REFUSED = re.compile(r"invalid|not available|violates|exceeds", re.I)


def check_submission(argv: list[str]):
    """Ask Slurm whether it would take the job `argv` submits, without submitting it (sbatch
    --test-only): SweepError with its reason when it would not, CaffesiamError when Slurm
    cannot be asked."""
    test = [argv[0], "--test-only", *argv[1:-1], "--wrap=true"]
    done = runner.capture(test, timeout=SUBMIT_TIMEOUT_S)
    if done.returncode == 0:
        return
    said = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    reason = said[0].removeprefix("sbatch: error: ") if said else "no output"
    if _REFUSED.search(done.stdout):
        raise SweepError(f"Slurm refuses the sweep's job array: {reason}")
    raise CaffesiamError(f"sbatch --test-only failed (exit {done.returncode}): {reason}")


def submit(argv: list[str]) -> str:
    """Run sbatch; returns the array's job id."""
    done = runner.capture(argv, timeout=SUBMIT_TIMEOUT_S)
    match = re.search(r"^(\d+)(;\S+)?\s*$", done.stdout, re.M)
    if done.returncode != 0 or not match:
        raise CaffesiamError(f"sbatch failed (exit {done.returncode}): {_last_line(done.stdout)}")
    return match.group(1)


@dataclass(frozen=True)
class TaskState:
    state: str  # Slurm's word: PENDING, RUNNING, COMPLETED, CANCELLED, FAILED, TIMEOUT...
    reason: str = ""
    source: str = "squeue"


SQUEUE_FORMAT = "%i|%T|%r"


def squeue_argv(squeue: str) -> list[str]:
    """This user's jobs, finished ones too while slurmctld keeps them (MinJobAge), one line
    per task."""
    return [squeue, "--me", "--noheader", "--array", "--states=all", f"--format={SQUEUE_FORMAT}"]


def parse_squeue(text: str) -> dict[tuple, TaskState]:
    """{(array job id, task index): state} from squeue_argv's output."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"^(\d+)_(\d+)\|([A-Z_]+)\|(.*)$", line.strip())
        if match:
            reason = match.group(4) if match.group(4) not in ("None", "(null)") else ""
            found[(match.group(1), int(match.group(2)))] = TaskState(match.group(3), reason)
    return found


def sacct_argv(sacct: str, job_ids: Iterable[str]) -> list[str]:
    return [
        sacct,
        "--allocations",
        "--parsable2",
        "--noheader",
        f"--jobs={','.join(job_ids)}",
        "--format=JobID,State,ExitCode",
    ]


def sacct_completion_argv(sacct: str, raw_ids: Iterable[str]) -> list[str]:
    """Without a slurmdbd: the job completion log (jobcomp/filetxt), which knows raw job ids
    only."""
    return [
        sacct,
        "--completion",
        "--parsable2",
        "--noheader",
        f"--jobs={','.join(raw_ids)}",
        "--format=JobID,State,ExitCode",
    ]


def parse_sacct(text: str) -> dict[str, TaskState]:
    """{job id as sacct prints it ("12_3", or a raw "15"): state}; "CANCELLED by 0" -> CANCELLED."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"^(\d+(?:_\d+)?)\|([A-Z_]+)[^|]*\|(\S*)$", line.strip())
        if match:
            found[match.group(1)] = TaskState(match.group(2), f"exit {match.group(3)}", "sacct")
    return found


def slurm_states(jobs: list[dict], tasks: dict[int, dict]) -> dict[int, TaskState]:
    """Slurm's view of each point: {index: state} in the latest array job that ran it.

    squeue knows jobs that are queued, running or recently ended; sacct the older ones. `jobs`:
    the array jobs submitted ({"id", "indices"}, oldest first); `tasks`: {index: task.json}, whose
    own job id finds a task in the job completion log when there is no accounting database.
    """
    latest = {i: job["id"] for job in jobs for i in job["indices"]}
    raw_ids = {
        i: t["slurm_job_id"]
        for i, t in tasks.items()
        if t.get("slurm_job_id") and t.get("slurm_array_job_id") == latest.get(i)
    }
    if not latest:
        return {}
    queued = parse_squeue(
        runner.capture(squeue_argv(runner.require("squeue", SLURM_PACKAGE))).stdout
    )
    states = {i: queued[(job, i)] for i, job in latest.items() if (job, i) in queued}
    missing = [i for i in latest if i not in states]
    if missing:
        sacct = runner.require("sacct", SLURM_PACKAGE)
        accounted = parse_sacct(
            runner.capture(sacct_argv(sacct, sorted(set(latest.values())))).stdout
        )
        states.update(
            {i: accounted[f"{latest[i]}_{i}"] for i in missing if f"{latest[i]}_{i}" in accounted}
        )
        raw = {i: raw_ids[i] for i in missing if i not in states and i in raw_ids}
        if raw:
            completed = parse_sacct(
                runner.capture(sacct_completion_argv(sacct, raw.values())).stdout
            )
            states.update({i: completed[r] for i, r in raw.items() if r in completed})
    return states


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
