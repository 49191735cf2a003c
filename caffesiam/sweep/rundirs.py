"""The sweep directory's records, read and written: sweep.json (the sweep's state), each
point's point.json and command.sh, its training runs, snapshots and result files.

sweep.json and point.json have declared shapes (caffesiam.schema), checked whenever they are read.
"""

import functools
import json
import os
import re
from dataclasses import asdict, fields
from pathlib import Path

from caffesiam.caffe.weights import read_solverstate
from caffesiam.errors import CaffesiamError, SweepError
from caffesiam.files import default_mode, open_lines, staged
from caffesiam.limits import INT32_MAX
from caffesiam.schema import (
    Field,
    Schema,
    Value,
    integer,
    list_of,
    number,
    obj,
    read_json_file,
    text,
)
from caffesiam.sweep.expand import GENERATE, Point
from caffesiam.sweep.layout import COMMAND_SH, POINT_JSON, SNAPSHOT_PREFIX, SWEEP_JSON, TRAIN_DIR
from caffesiam.sweep.scripts import command_script
from caffesiam.train.log import Metrics, parse_lines
from caffesiam.train.rundir import CAFFE_LOG

POINT_INDEX = integer(0, INT32_MAX)
PID = integer(1, INT32_MAX)
_NAME_IN_SWEEP = text(
    pattern=re.compile(r"(?!\.\.?\Z)[^/\x00-\x1f\x7f]{1,255}"),
    hint="a name in the sweep directory: no '/' or control character, not '.' or '..'",
)
_ARGV = list_of(text())


def _names_its_run(argv: list[str]) -> str | None:
    """Why a point's train command cannot be rewritten to a run directory of its own, if so."""
    return None if "--out" in argv[:-1] else "has no --out DIR"


POINT_SCHEMA = Schema(
    "sweep point record",
    (
        Field("index", POINT_INDEX),
        Field("name", _NAME_IN_SWEEP),
        Field("overrides", obj()),
        Field("settings", obj(Field("max_iter", integer(1, INT32_MAX), required=False))),
        Field("varying", obj()),
        Field(
            "commands",
            obj(
                *(Field(step, _ARGV) for step in GENERATE),
                Field("train", list_of(text(), rule=_names_its_run)),
                Field("evaluate", _ARGV),
            ),
        ),
    ),
    SweepError,
)


def _option_value(option) -> Value:
    """An engine option's value as sweep.json records it (None: not given)."""
    kind = {int: "int", float: "number", str: "text", bool: "bool"}[option.kind]
    bounds = (option.low, option.high) if kind in ("int", "number") else (None, None)
    return Value(kind, *bounds, choices=option.choices, null=True)


@functools.cache
def state_schema() -> Schema:
    """sweep.json's shape; its engine settings are the engine options' (settings imports engines,
    which imports this module, hence made on first use)."""
    from caffesiam.sweep.settings import ENGINE_OPTIONS

    job = obj(
        Field("id", text(pattern=re.compile(r"[0-9]{1,20}"), hint="a Slurm job id")),
        Field("indices", list_of(POINT_INDEX)),
        Field("sbatch", _ARGV, required=False),
        Field("submitted", number(), required=False),
    )
    pool = obj(Field("host", text()), Field("pid", PID), Field("indices", list_of(POINT_INDEX)))
    engine = obj(*(Field(o.name, _option_value(o), required=False) for o in ENGINE_OPTIONS))
    return Schema(
        "sweep state file",
        (
            Field("name", text()),
            Field("source", text(), required=False),
            Field("keys", list_of(text())),
            Field("points", list_of(_NAME_IN_SWEEP, low=1)),
            Field("engine", engine),
            Field("slurm_jobs", list_of(job), required=False, default=[]),
            Field("local_pool", pool, required=False),
        ),
        SweepError,
    )


def write_point(point: Point, where: Path, final: Path, sweep_name: str, stage=None):
    """point.json and command.sh (`final`: where the directory will live once made), published
    together, or with the rest of `stage` (files.staged) when given."""
    with staged(stage) as stage:
        stage(where / POINT_JSON).write_text(json.dumps(asdict(point), indent=1) + "\n")
        script = stage(where / COMMAND_SH, mode=default_mode(directory=True))  # rwx as umask allows
        script.write_text(command_script(point, final, sweep_name))


def read_state(sweep_dir: Path) -> dict:
    path = Path(sweep_dir) / SWEEP_JSON
    if not os.path.lexists(path):
        raise SweepError(f"{sweep_dir} is not a sweep directory (no {SWEEP_JSON})")
    return read_json_file(path, state_schema())


def write_state(sweep_dir: Path, state: dict, stage=None):
    with staged(stage) as stage:
        stage(Path(sweep_dir) / SWEEP_JSON).write_text(json.dumps(state, indent=1) + "\n")


def read_point(point_dir: Path) -> Point:
    record = read_json_file(Path(point_dir) / POINT_JSON, POINT_SCHEMA)
    return Point(**{f.name: record[f.name] for f in fields(Point)})


def listed_point(sweep_dir: Path, index: int, name: str) -> Point:
    """Point `index` of the sweep, which sweep.json lists as `name`; SweepError when its
    point.json says otherwise."""
    point = read_point(Path(sweep_dir) / name)
    if (point.index, point.name) != (index, name):
        raise SweepError(
            f"{Path(sweep_dir) / name / POINT_JSON}: index {point.index} and name "
            f"{json.dumps(point.name)}, but {SWEEP_JSON} lists it as point {index}, "
            f"{json.dumps(name)}"
        )
    return point


def points_of(sweep_dir: Path) -> list[Point]:
    names = read_state(sweep_dir)["points"]
    return [listed_point(sweep_dir, k, name) for k, name in enumerate(names)]


def logged_metrics(run: Path) -> Metrics | None:
    """What a training run directory's caffe.log holds (train.log's reading), or None without
    one."""
    path = Path(run) / CAFFE_LOG
    if not os.path.lexists(path):
        return None
    with open_lines(path, SweepError, "training log") as lines:
        return parse_lines(lines)


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
