"""The only module that starts processes: argv builders, capture, and streaming runs."""

import ctypes
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from caffesiam.errors import ToolMissing
from caffesiam.limits import COMMAND_TIMEOUT_S

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

Timeout = subprocess.TimeoutExpired  # what capture raises when the child outlives its timeout


def require(program: str, package: str) -> str:
    """Full path of `program`, or ToolMissing naming the package that provides it."""
    path = shutil.which(program)
    if path is None:
        raise ToolMissing(
            f"'{program}' not found on PATH; install it (Debian: apt-get install {package})"
        )
    return path


@contextmanager
def _held_stdin():
    """A stdin for a child that reads nothing until we are gone, then EOF, however we die (only
    we hold its write end): how a container's entry (CONTAINER_ENTRY) knows its caller died."""
    read_end, write_end = os.pipe()
    try:
        yield read_end
    finally:
        os.close(read_end)
        os.close(write_end)


def capture(
    argv: Sequence[str], timeout: float = COMMAND_TIMEOUT_S, env=None, cwd=None
) -> subprocess.CompletedProcess:
    """Run argv to completion and capture its output as text (stdout and stderr merged)."""
    with _held_stdin() as stdin:
        return subprocess.run(
            list(argv),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            env=env,
            cwd=cwd,
            check=False,
        )


def caffe_train_argv(caffe: str, solver, gpu=None, weights=None, resume=None) -> list[str]:
    """`caffe train` argv. The first SIGINT stops after a snapshot (Caffe's 'stop' effect with
    snapshot_after_train); SIGHUP snapshots and carries on."""
    argv = [
        caffe,
        "train",
        "-solver",
        str(solver),
        "-sigint_effect",
        "stop",
        "-sighup_effect",
        "snapshot",
    ]
    if gpu is not None:
        argv += ["-gpu", gpu]
    if weights is not None:
        argv += ["-weights", str(weights)]
    if resume is not None:
        argv += ["-snapshot", str(resume)]
    return argv


def caffe_time_argv(caffe: str, model, iterations: int) -> list[str]:
    return [caffe, "time", "-model", str(model), "-iterations", str(iterations)]


# What the container runs, under docker's init (--init): the command in the foreground, beside it
# a watcher that kills the container's processes when its stdin closes, then the CPU report. The
# docker client holds that stdin open for as long as it lives, so no container outlives its
# caller, however the caller died. The init hands the signals that the client forwards (its
# sig-proxy) to the whole process group (TINI_KILL_PROCESS_GROUP): the command gets them as it
# would on a host, and the shell, whose traps wait for the command, stays to report. `times`
# prints the shell's own CPU time, then its waited-for children's: the command's (a background
# command reads /dev/null: the watcher reads a copy of stdin, fd 3).
CPU_REPORT = "caffesiam-entry: CPU time (user sys) of the shell, then of the command:"
CONTAINER_ENTRY = f"""exec 3<&0
{{ cat <&3; kill -KILL 0; }} >/dev/null 2>&1 &
trap : HUP INT QUIT TERM
"$@" </dev/null 3<&-
status=$?
{{ echo '{CPU_REPORT}'; times; }} >&2
exit "$status"
"""
_INIT_ENV = "TINI_KILL_PROCESS_GROUP=1"  # docker-init (tini) signals the entry's process group
_TIMES = re.compile(r"(\d+)m(\d+(?:\.\d*)?)s (\d+)m(\d+(?:\.\d*)?)s")


class CpuReport:
    """Takes CONTAINER_ENTRY's CPU report out of a container's output, line by line: `seconds` is
    the command's user+sys time once the report has come, else None (the container was killed)."""

    def __init__(self):
        self.seconds: float | None = None
        self._left = 0  # report lines still to come

    def take(self, line: str) -> bool:
        """Whether `line` belongs to the report (and is not the command's output)."""
        if line.rstrip("\n") == CPU_REPORT:
            self._left = 2
            return True
        if not self._left:
            return False
        self._left -= 1
        times = _TIMES.fullmatch(line.strip())
        if self._left == 0 and times:
            minutes_user, user, minutes_sys, sys_ = times.groups()
            self.seconds = 60 * (int(minutes_user) + int(minutes_sys)) + float(user) + float(sys_)
        return bool(times)


def without_cpu_report(lines: Iterable[str]) -> list[str]:
    """A container's output lines without CONTAINER_ENTRY's CPU report."""
    report = CpuReport()
    return [line for line in lines if not report.take(line)]


CONTAINER_LABEL = "org.caffesiam.cwd"  # which runs' containers `docker ps --filter label=` finds


def docker_argv(
    docker: str,
    image: str,
    inner: Sequence[str],
    mounts: Iterable[Path],
    workdir: Path,
    env: dict[str, str],
    gpu=None,
    user: str | None = None,
) -> list[str]:
    """`docker run --rm` with no network and each host directory bound at the same path, so
    every path in the solver and net means the same inside the container; `inner` runs under
    CONTAINER_ENTRY, so the container ends when the client does."""
    argv = [docker, "run", "--rm", "-i", "--init", "--network", "none"]
    argv += ["--label", f"{CONTAINER_LABEL}={workdir}", "-e", _INIT_ENV]
    if user:
        argv += ["--user", user]
    if gpu is not None:
        argv += ["--gpus", "all" if gpu == "all" else f'"device={gpu}"']
    for directory in minimal_mounts(mounts):
        argv += ["--mount", bind_mount(directory)]
    argv += ["-w", str(workdir)]
    for key, value in sorted(env.items()):
        argv += ["-e", f"{key}={value}"]
    return argv + [image, "sh", "-c", CONTAINER_ENTRY, "caffesiam-entry", *inner]


def bind_mount(directory: Path) -> str:
    """`--mount`'s value that binds `directory` at the same path. Docker reads it as CSV, so each
    field is quoted: a path holding ':' (where `-v` splits) or ',' stays whole."""
    path = str(directory).replace('"', '""')
    return f'type=bind,"source={path}","target={path}"'


def minimal_mounts(paths: Iterable[Path]) -> list[Path]:
    """Absolute directories covering `paths`, without any that another one already contains.
    A path not made yet (a run's output folder) is covered by its nearest existing folder, so
    what the run makes there later shows in the container, and docker never makes a folder of
    its own (as root); the root folder itself is never bound."""
    dirs = sorted({_existing_folder(Path(p)) for p in paths})
    kept: list[Path] = []
    for d in dirs:
        if not any(d == k or k in d.parents for k in kept):
            kept.append(d)
    return kept


def _existing_folder(path: Path) -> Path:
    folder = path.resolve()
    folder = folder if folder.is_dir() else folder.parent
    while not folder.is_dir() and folder.parent != folder.parent.parent:
        folder = folder.parent
    return folder


class Interrupts:
    """Ctrl-C policy for a child: the first asks it to stop (SIGINT), the second kills it.
    `stop()` asks from code, as a first Ctrl-C would (a diverging training), without counting."""

    def __init__(self, on_first: Callable[[], None] = lambda: None):
        self.count = 0
        self.on_first = on_first
        self.stopped = False
        self.proc: subprocess.Popen | None = None

    def interrupt(self):
        self.count += 1
        if self.count == 1:
            self._sigint()
            self.on_first()
        elif self.proc is not None:
            self.proc.kill()

    def attach(self, proc: subprocess.Popen):
        """The child to act on; Ctrl-C pressed while it was starting is acted on now."""
        self.proc = proc
        if self.count >= 2:
            proc.kill()
        elif self.count == 1 or self.stopped:
            self._sigint()

    def stop(self):
        if not self.stopped:
            self.stopped = True
            self._sigint()

    def _sigint(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)


@contextmanager
def stop_signals(handler: Callable[[], None]):
    """SIGINT and SIGTERM call `handler()` for the block, even in a process started with SIGINT
    ignored (a script's background job); the previous handlers are back when it ends."""
    previous = {
        s: signal.signal(s, lambda signum, frame: handler())
        for s in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for s, previous_handler in previous.items():
            signal.signal(s, previous_handler)


def _dies_with(parent: int) -> Callable[[], None]:
    """A preexec_fn: the kernel kills the child when `parent` dies, even by kill -9, so no Caffe
    trains on alone in its own session (Linux's PR_SET_PDEATHSIG; elsewhere it does nothing)."""
    prctl = getattr(ctypes.CDLL(None), "prctl", None)

    def arm():
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # it died before the line above
            os._exit(1)

    return arm


def spawn(argv: Sequence[str], log_path, cwd=None, env=None) -> subprocess.Popen:
    """Start argv in its own session with its output appended to log_path; the caller polls it
    and decides what a Ctrl-C sends it. It dies with us whatever kills us."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_dies_with(os.getpid()),
        )


@dataclass
class Finished:
    """How a child ended: its exit status (128+N when killed by signal N), wall time, and the CPU
    time of the child itself (user + system: other load cannot add to it), from wait4's rusage,
    or for a container the command's own from CONTAINER_ENTRY's report (None without one)."""

    status: int
    wall_seconds: float
    cpu_seconds: float | None


def stream(
    argv: Sequence[str],
    on_line: Callable[[str], None],
    cwd=None,
    env=None,
    interrupts: Interrupts | None = None,
    in_container: bool = False,
) -> Finished:
    """Run argv, handing each output line (stdout and stderr merged) to on_line. The child runs
    in its own session, so a terminal's Ctrl-C reaches only us and we decide what the child gets;
    it dies with us whatever kills us. The handlers are in place before the child starts, so no
    Ctrl-C can orphan it. `in_container`: argv is docker_argv's, whose CPU report is taken out of
    the output and is the CPU time (the docker client's own is not the command's)."""
    policy = interrupts or Interrupts()
    report = CpuReport() if in_container else None
    started = time.monotonic()
    proc = None
    try:
        with stop_signals(policy.interrupt), _held_stdin() as stdin:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=env,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                start_new_session=True,
                errors="replace",
                preexec_fn=_dies_with(os.getpid()),
            )
            policy.attach(proc)
            for line in proc.stdout:
                if report is None or not report.take(line):
                    on_line(line)
            _, wait_status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(wait_status)
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            proc.wait()
    status = proc.returncode
    return Finished(
        128 - status if status < 0 else status,
        time.monotonic() - started,
        report.seconds if report else usage.ru_utime + usage.ru_stime,
    )
