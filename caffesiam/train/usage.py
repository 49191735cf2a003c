"""usage.json: what a training run cost (the Caffe process's exit status, wall and CPU seconds,
iterations), written by train.run and read back by sweep.report through its declared schema."""

from pathlib import Path

from caffesiam.schema import Field, Schema, integer, number, read_json_file, text
from caffesiam.train.rundir import USAGE_JSON

USAGE_SCHEMA = Schema(
    "training usage record",
    (
        Field("process", text(), required=False),  # what was timed: caffe, or docker's client
        Field("exit_status", integer(), required=False),
        Field("wall_seconds", number(0), required=False),
        Field("cpu_seconds", number(0, null=True), required=False),  # null: not reported
        Field("start_iteration", integer(0), required=False),
        Field("last_iteration", integer(0), required=False),
    ),
)


def usage_record(process: str, finished, start_iteration: int, last_iteration: int) -> dict:
    """usage.json's content for a Caffe run that `finished` (a caffe.runner.Finished)."""
    cpu = finished.cpu_seconds
    return {
        "process": process,
        "exit_status": finished.status,
        "wall_seconds": round(finished.wall_seconds, 3),
        "cpu_seconds": None if cpu is None else round(cpu, 3),
        "start_iteration": start_iteration,
        "last_iteration": last_iteration,
    }


def read_usage(run_dir: Path, error=None) -> dict:
    """A run directory's usage.json, checked; {} when it has none (a run killed before its end)."""
    return read_json_file(Path(run_dir) / USAGE_JSON, USAGE_SCHEMA, error, optional=True) or {}
