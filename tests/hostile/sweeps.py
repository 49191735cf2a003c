"""Sweep directories for the cases that read one back: made as `caffesiam sweep` makes them, with
no training, and points given the files a finished run leaves (eval.json, usage.json,
caffe.log)."""

import json
import shutil
from pathlib import Path

import numpy as np
from conftest import REPO

from hostile.conftest import LOG_LINES

SWEEP_FILE = """\
spec: {spec}
databases:
  pairs: {{train: {db}, test: {db}}}
settings: {{max_iter: 20, test_interval: 10, test_iter: 1, display: 10}}
grid:
  feature_size: [2, 4]
"""
TEST_LINES = [
    "I1123 10:00:01.100000  1 solver.cpp:347] Iteration 10, Testing net (#0)",
    "I1123 10:00:01.200000  1 solver.cpp:414]     Test net output #0: loss = 0.2 (* 1 = 0.2 loss)",
]


def make_sweep(where: Path, db: Path, name: str = "sw") -> Path:
    """A two-point sweep directory `where`/`name` over the pair database `db`, not run."""
    from caffesiam.spec.yamlload import load_yaml
    from caffesiam.sweep.create import create, point_files
    from caffesiam.sweep.expand import expand
    from caffesiam.sweep.settings import EngineSettings

    sweep_file = where / f"{name}.yaml"
    sweep_file.write_text(SWEEP_FILE.format(spec=REPO / "templates/lenet.yaml", db=db))
    doc = load_yaml(sweep_file.read_text(), str(sweep_file))
    sweep = expand(doc, str(sweep_file), str(where), ["--blas-threads", "1"])
    files = point_files(sweep, where / name)
    return create(sweep, where / name, sweep_file, EngineSettings(jobs=1).record(), files)


def finish(point_dir: Path, accuracy: float = 0.75):
    """The files a point that trained and was evaluated has: eval.json (as evaluate --json
    writes it), train/usage.json and train/caffe.log."""
    from caffesiam.evaluate.metrics import verification_report

    distances = np.array([0.1, 0.2, 0.9, 1.2, 0.3, 1.1])
    report = verification_report(distances, np.array([1, 1, 0, 0, 0, 1]))
    report["best_threshold_accuracy"] = accuracy
    (point_dir / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
    train = point_dir / "train"
    train.mkdir()
    usage = {
        "process": "caffe",
        "exit_status": 0,
        "wall_seconds": 4.5,
        "cpu_seconds": 4.0,
        "start_iteration": 0,
        "last_iteration": 20,
    }
    (train / "usage.json").write_text(json.dumps(usage, indent=1) + "\n")
    (train / "caffe.log").write_text("\n".join([*LOG_LINES, *TEST_LINES]) + "\n")


def copy_sweep(template: Path, where: Path) -> Path:
    return Path(shutil.copytree(template, where / template.name, symlinks=True))


def point_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p for p in sweep_dir.iterdir() if (p / "point.json").exists())
