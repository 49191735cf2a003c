"""The sweep directory's records, read and written: sweep.json (the sweep's state), each
point's point.json and command.sh, its training runs, snapshots and result files."""

import json
import os
from dataclasses import asdict
from pathlib import Path

from caffesiam.caffe.weights import read_solverstate
from caffesiam.errors import CaffesiamError, SweepError
from caffesiam.files import default_mode, write_text_atomic
from caffesiam.sweep.expand import Point
from caffesiam.sweep.layout import COMMAND_SH, POINT_JSON, SNAPSHOT_PREFIX, SWEEP_JSON, TRAIN_DIR
from caffesiam.sweep.scripts import command_script


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


def next_train_dir(point_dir: Path) -> str:
    """The first of train_2, train_3... that does not exist yet."""
    n = 2
    while (point_dir / f"{TRAIN_DIR}_{n}").exists():
        n += 1
    return f"{TRAIN_DIR}_{n}"
