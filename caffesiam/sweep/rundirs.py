"""The sweep directory: one run directory per point, made all at once, and what each one holds.

DIR/sweep.json      the points, the engine's settings and the Slurm jobs submitted
DIR/sweep.yaml      a copy of the sweep file
DIR/<point>/        point.json, command.sh (the exact commands), net.prototxt, deploy.prototxt,
                    solver.prototxt; once run: task.json, task.log, train/, snap/, eval.json,
                    roc.png
"""

import json
import os
import re
import shlex
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from caffesiam.caffe import runner
from caffesiam.caffe.proto import caffe_pb2, read_text
from caffesiam.caffe.weights import read_solverstate
from caffesiam.errors import CaffesiamError, SweepError
from caffesiam.files import default_mode, write_text_atomic
from caffesiam.limits import GENERATE_TIMEOUT_S
from caffesiam.sweep.expand import (
    EVAL_JSON,
    NET,
    SNAPSHOT_PREFIX,
    TRAIN_DIR,
    Point,
    Sweep,
    describe,
)
from caffesiam.train.gather import data_sources, existing_snapshots

SWEEP_JSON = "sweep.json"
POINT_JSON = "point.json"
COMMAND_SH = "command.sh"
TASK_JSON = "task.json"
TASK_LOG = "task.log"
LOGS = "logs"  # the engines' own output per task (Slurm's --output, the local pool's)
GENERATE = ("gen-net", "gen-net --deploy", "gen-solver")


def caffesiam_argv() -> list[str]:
    """How to start this caffesiam: the venv's console script, else `python -m caffesiam`."""
    script = Path(sys.executable).with_name("caffesiam")
    return [str(script)] if script.exists() else [sys.executable, "-m", "caffesiam"]


def command_script(point: Point, point_dir: Path, sweep_name: str) -> str:
    """command.sh: the commands that made this point's files, then the ones that run it."""
    cs = caffesiam_argv()
    line = lambda argv: shlex.join([*cs, *argv])  # noqa: E731
    made = "\n".join(f"#   {line(point.commands[step])}" for step in GENERATE)
    return (
        f"#!/bin/sh\n# caffesiam sweep {sweep_name}, point {point.index}: "
        f"{describe(point.settings)}\n"
        f"# The nets and the solver here were made, in this directory, by:\n{made}\n"
        f"set -e\ncd {shlex.quote(str(point_dir))}\n{line(point.commands['train'])}\n"
        f"{line(point.commands['evaluate'])}\n"
    )


def check_out_dir(out: Path, sweep: Sweep):
    """SweepError when the sweep directory, or any point's run directory, is already there."""
    if (out / SWEEP_JSON).exists():
        raise SweepError(
            f"{out} already holds a sweep; see `caffesiam sweep status {out}`, continue it with "
            f"`caffesiam sweep resume {out}`, or choose another --out"
        )
    for point in sweep.points:
        if (out / point.name).exists():
            raise SweepError(
                f"run directory {out / point.name} already exists and point {point.index} "
                f"would overwrite it; choose another --out"
            )
    if out.exists() and not out.is_dir():
        raise SweepError(f"{out} exists and is not a directory")


def create(
    sweep: Sweep,
    out: Path,
    sweep_file: Path,
    engine: dict,
    on_point: Callable[[Point], None] = lambda p: None,
) -> Path:
    """Make every run directory in a hidden temporary sibling (running each point's gen-net and
    gen-solver commands there), then move them into `out`; on any failure nothing is left."""
    check_out_dir(out, sweep)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    os.chmod(tmp, default_mode(directory=True))  # mkdtemp makes it private
    try:
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            for point in pool.map(lambda p: _make_point(sweep, p, tmp, out), sweep.points):
                on_point(point)
        for point in sweep.points:
            _check_sources(point, tmp / point.name)
        (tmp / LOGS).mkdir()
        shutil.copyfile(sweep_file, tmp / "sweep.yaml")
        write_state(
            tmp,
            {
                "name": sweep.name,
                "source": str(sweep_file),
                "keys": sweep.keys,
                "points": [p.name for p in sweep.points],
                "engine": engine,
                "slurm_jobs": [],
            },
        )
        if out.exists():  # an existing directory (checked above to hold none of our names)
            for entry in tmp.iterdir():
                entry.rename(out / entry.name)
            tmp.rmdir()
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _make_point(sweep: Sweep, point: Point, tmp: Path, out: Path) -> Point:
    where = tmp / point.name
    (where / Path(SNAPSHOT_PREFIX).parent).mkdir(parents=True)
    write_point(point, where, out / point.name, sweep.name)
    for step in GENERATE:
        done = runner.capture(
            [*caffesiam_argv(), *point.commands[step]], timeout=GENERATE_TIMEOUT_S, cwd=where
        )
        if done.returncode != 0:
            lines = [line for line in done.stdout.splitlines() if line.strip()]
            why = lines[-1] if lines else f"exit status {done.returncode}"
            why = re.sub(
                r" \(see caffesiam [\w-]+ --help\)$",
                "",
                re.sub(r"^caffesiam[\w -]*: error: ", "", why),
            )
            error = SweepError if done.returncode == 2 else CaffesiamError
            raise error(
                f"{sweep.source}: point {point.index} ({point.name}): `{step}` failed: {why}"
            )
    return point


def _check_sources(point: Point, where: Path):
    """The train net's databases exist and are of its backend (as `train` would check later)."""
    try:
        data_sources(read_text(where / NET, caffe_pb2().NetParameter()), where)
    except CaffesiamError as e:
        raise SweepError(f"point {point.index} ({point.name}): {e}") from e


def write_point(point: Point, where: Path, final: Path, sweep_name: str):
    """point.json and command.sh (`final`: where the directory will live once made)."""
    write_text_atomic(where / POINT_JSON, json.dumps(asdict(point), indent=1) + "\n")
    write_text_atomic(where / COMMAND_SH, command_script(point, final, sweep_name))
    os.chmod(where / COMMAND_SH, default_mode(directory=True))  # rwx where the umask allows


def read_state(sweep_dir: Path) -> dict:
    path = Path(sweep_dir) / SWEEP_JSON
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as e:
        raise SweepError(f"{sweep_dir} is not a sweep directory (no {SWEEP_JSON})") from e
    except (OSError, ValueError) as e:
        raise SweepError(f"{path}: unreadable ({e})") from e


def write_state(sweep_dir: Path, state: dict):
    write_text_atomic(Path(sweep_dir) / SWEEP_JSON, json.dumps(state, indent=1) + "\n")


def read_point(point_dir: Path) -> Point:
    return Point(**json.loads((point_dir / POINT_JSON).read_text()))


def points_of(sweep_dir: Path) -> list[Point]:
    return [read_point(Path(sweep_dir) / name) for name in read_state(sweep_dir)["points"]]


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def latest_solverstate(point_dir: Path) -> Path | None:
    """The last readable .solverstate of an unfinished training (to continue from)."""
    prefix = point_dir / SNAPSHOT_PREFIX
    states = []
    for path in prefix.parent.glob(f"{prefix.name}_iter_*.solverstate"):
        try:
            states.append((read_solverstate(path).iter, path))
        except CaffesiamError:
            continue
    return max(states)[1] if states else None


def train_dirs(point_dir: Path) -> list[Path]:
    """The point's training runs in order: train, then train_2, train_3... after resumes."""
    found = [point_dir / TRAIN_DIR] + sorted(
        point_dir.glob(f"{TRAIN_DIR}_*"), key=lambda p: int(p.name.rsplit("_", 1)[1])
    )
    return [p for p in found if p.is_dir()]


def run_point(sweep_dir: Path, index: int) -> int:
    """What each engine runs for point `index`: train (continuing from its last snapshot when an
    earlier attempt stopped), then evaluate; task.json says where it is, task.log has the output.
    Returns the exit status of the step that failed, or 0."""
    sweep_dir = Path(sweep_dir).resolve()
    names = read_state(sweep_dir)["points"]
    if not 0 <= index < len(names):
        raise SweepError(f"{sweep_dir} has points 0 to {len(names) - 1}, not {index}")
    where = sweep_dir / names[index]
    point = read_point(where)
    task = {
        "state": "running",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": time.time(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "slurm_array_job_id": os.environ.get("SLURM_ARRAY_JOB_ID"),
    }
    if (where / EVAL_JSON).exists():
        return 0
    write_text_atomic(where / TASK_JSON, json.dumps(task, indent=1) + "\n")
    with open(where / TASK_LOG, "a") as log:
        steps = [("evaluate", point.commands["evaluate"])]
        if not (where / point.final_weights).exists():
            steps.insert(0, ("train", _train_argv(point, where, log)))
        for step, argv in steps:
            argv = [*caffesiam_argv(), *argv]
            log.write(f"$ {shlex.join(argv)}\n")
            log.flush()
            status = runner.stream(argv, log.write, cwd=where).status
            if status != 0:
                task.update(
                    state="interrupted" if status == 130 else "failed",
                    step=step,
                    exit_status=status,
                    ended=time.time(),
                )
                write_text_atomic(where / TASK_JSON, json.dumps(task, indent=1) + "\n")
                return status
    task.update(state="done", ended=time.time())
    write_text_atomic(where / TASK_JSON, json.dumps(task, indent=1) + "\n")
    return 0


def _train_argv(point: Point, where: Path, log) -> list[str]:
    """The point's train command; after an earlier attempt stopped, the next free train_N run
    directory, continuing from the last snapshot when there is one. Snapshot files past that one
    (a kill while Caffe wrote a snapshot leaves a .caffemodel alone) move to snap/stale/."""
    argv = list(point.commands["train"])
    if (where / TRAIN_DIR).exists():
        argv[argv.index("--out") + 1] = _next_train_dir(where)
        state = latest_solverstate(where)
        stale = existing_snapshots(
            where / SNAPSHOT_PREFIX, read_solverstate(state).iter if state else 0
        )
        for path in stale:
            (path.parent / "stale").mkdir(exist_ok=True)
            path.rename(path.parent / "stale" / path.name)
            log.write(
                f"moved {path.relative_to(where)} to {Path(SNAPSHOT_PREFIX).parent}/stale/: "
                f"an unfinished snapshot past the one this run continues from\n"
            )
        if state is not None:
            argv += ["--resume", str(state.relative_to(where))]
    return argv


def _next_train_dir(where: Path) -> str:
    n = 2
    while (where / f"{TRAIN_DIR}_{n}").exists():
        n += 1
    return f"{TRAIN_DIR}_{n}"
