"""Caffe training log lines -> events (pure). One parser for live runs and saved logs.

Mirrors what tools/extra/parse_log.py extracts, but over an iterable of lines, so a streaming
run and a file on disk go through the same code.
"""

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from caffesiam.caffe.glog import LINE_PREFIX
from caffesiam.data.backends import LOCKED_ADVICE

_GLOG = re.compile(LINE_PREFIX + r"(?P<msg>.*)$")
_LOCK_HINT = f" (the database is locked: {LOCKED_ADVICE})"
# A number as C++ streams print it, non-finite ones included: a diverging run logs "loss = -nan".
_NUMBER = r"([-+]?(?:nan|inf|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))"
_ITER_LOSS = re.compile(
    rf"Iteration (\d+) \({_NUMBER} iter/s, [\d.]+s/\d+ iters\), loss = {_NUMBER}"
)
_ITER_FINAL = re.compile(rf"Iteration (\d+), loss = {_NUMBER}")
_LR = re.compile(rf"Iteration (\d+), lr = {_NUMBER}")
_TESTING = re.compile(r"Iteration (\d+), Testing net \(#(\d+)\)")
_OUTPUT = re.compile(rf"(Train|Test) net output #\d+: (\S+) = {_NUMBER}")
_SNAPSHOT = re.compile(r"Snapshotting (?:solver state )?to binary proto file (\S+)")
_SNAPSHOT_NAME = re.compile(r"(.*)_iter_(\d+)\.(?:caffemodel|solverstate)(?:\.h5)?")


@dataclass
class TrainPoint:
    iteration: int
    loss: float
    iters_per_s: float | None = None
    lr: float | None = None
    outputs: dict[str, float] = field(default_factory=dict)


@dataclass
class TestPoint:
    iteration: int
    net: int = 0
    outputs: dict[str, float] = field(default_factory=dict)


@dataclass
class Snapshot:
    path: str


@dataclass
class Fatal:
    message: str


@dataclass
class Metrics:
    """Everything a log said, accumulated."""

    train: list[TrainPoint] = field(default_factory=list)
    test: list[TestPoint] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    fatal: str | None = None

    @property
    def iteration(self) -> int:
        points = [p.iteration for p in self.train] + [p.iteration for p in self.test]
        return max(points, default=0)

    @property
    def last_solverstate(self) -> str | None:
        states = [s for s in self.snapshots if s.endswith(".solverstate")]
        return states[-1] if states else None

    @property
    def diverged(self) -> TrainPoint | None:
        """The first train point whose loss is not finite (nan or inf), or None."""
        return next((p for p in self.train if not math.isfinite(p.loss)), None)

    @property
    def last_finite(self) -> TrainPoint | None:
        """The last train point with a finite loss before any divergence, or None."""
        finite = [p for p in self.train if math.isfinite(p.loss)]
        bad = self.diverged
        return next(
            (p for p in reversed(finite) if bad is None or p.iteration < bad.iteration), None
        )


class LogParser:
    """Feed lines one at a time; each call returns the events that line completed."""

    def __init__(self):
        self.metrics = Metrics()
        self._phase = None  # "train" or "test": which block output lines belong to

    def feed(self, line: str) -> list:
        m = self.metrics
        line = line.rstrip("\n")
        glog = _GLOG.match(line)
        if not glog:
            return []
        msg, sev = glog.group("msg"), glog.group("sev")
        if sev == "F":
            m.fatal = m.fatal or msg.strip()
            return [Fatal(msg.strip())]
        if match := _ITER_LOSS.search(msg):
            rate = float(match.group(2))
            point = TrainPoint(
                int(match.group(1)), float(match.group(3)), rate if 0 < rate < math.inf else None
            )
            m.train.append(point)
            self._phase = "train"
            return [point]
        if match := _LR.search(msg):
            if m.train and m.train[-1].iteration == int(match.group(1)):
                m.train[-1].lr = float(match.group(2))
            return []
        if match := _TESTING.search(msg):
            m.test.append(TestPoint(int(match.group(1)), int(match.group(2))))
            self._phase = "test"
            return []
        if match := _OUTPUT.search(msg):
            kind, name, value = match.group(1), match.group(2), float(match.group(3))
            target = m.test[-1] if kind == "Test" and m.test else (m.train[-1] if m.train else None)
            if target is not None:
                target.outputs[name] = value
                if kind == "Test":
                    return [target]
            return []
        if match := _ITER_FINAL.search(msg):
            point = TrainPoint(int(match.group(1)), float(match.group(2)))
            if not m.train or m.train[-1].iteration != point.iteration:
                m.train.append(point)
                return [point]
            return []
        if match := _SNAPSHOT.search(msg):
            m.snapshots.append(match.group(1))
            return [Snapshot(match.group(1))]
        return []


def snapshot_iteration(path: str, prefix: str | None = None) -> int | None:
    """N of a snapshot file <prefix>_iter_N.caffemodel or .solverstate (.h5 too); None for
    another file, or, when `prefix` is given, another prefix's snapshot."""
    match = _SNAPSHOT_NAME.fullmatch(PurePosixPath(path).name)
    if match and prefix in (None, match.group(1)):
        return int(match.group(2))
    return None


def parse_lines(lines: Iterable[str]) -> Metrics:
    """Parse a whole log (a file object or any iterable of lines)."""
    parser = LogParser()
    for line in lines:
        parser.feed(line)
    return parser.metrics


def failure_line(lines: Iterable[str]) -> str | None:
    """The line that says why Caffe died: its first fatal or 'Check failed' line.

    A LevelDB held by another process (glog puts "IO error: lock ..." on the next line) gets a hint.
    """
    found = None
    for line in lines:
        if found:
            return found + (_LOCK_HINT if line.startswith("IO error: lock") else "")
        glog = _GLOG.match(line.rstrip("\n"))
        if glog and (glog.group("sev") == "F" or "Check failed" in glog.group("msg")):
            found = f"{glog.group('src')}] {glog.group('msg').strip()}"
            if "IO error: lock" in found:
                return found + _LOCK_HINT
    return found
