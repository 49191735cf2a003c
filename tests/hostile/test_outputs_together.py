"""Class: a command's outputs appear together or not at all, and what a killed writer left is
reclaimed by the next command that writes in that folder.

Outputs are staged as temporaries beside them and renamed into place only when all were written
(files.staged); a temporary is held (flock) by its writer for its whole life, so a later command
removes those whose writer died (kill -9) and never a live one, by build-db's rule.
"""

import os
import resource
import subprocess
import sys

import pytest
from conftest import REPO, VENV_BIN

from hostile.helpers import changes, refused, run, snapshot
from hostile.sweeps import copy_sweep, finish, make_sweep, point_dirs

pytestmark = [
    pytest.mark.caffe,
    pytest.mark.slow,
]  # one process per case: the battery as a whole is slow

REPORT = ("results.csv", "curves.png", "accuracy.png")


@pytest.fixture(scope="module")
def made_sweep(tmp_path_factory, pair_db):
    """A two-point sweep whose first point has finished, with an earlier report in it."""
    sweep_dir = make_sweep(tmp_path_factory.mktemp("together"), pair_db)
    finish(point_dirs(sweep_dir)[0])
    for k, name in enumerate(REPORT):
        (sweep_dir / name).write_text(f"earlier output {k}")
    return sweep_dir


def hidden(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def python(code: str, *args, **kwargs) -> subprocess.CompletedProcess:
    """`code` run by the venv's Python with caffesiam importable, as a separate process."""
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def test_sweep_report_whose_second_output_fails_changes_nothing(made_sweep, tmp_path):
    """curves.png cannot be written (a file-size limit, EFBIG, as a full disk would) after
    results.csv was: the earlier report stays whole and no temporary is left."""
    sweep_dir = copy_sweep(made_sweep, tmp_path)
    before = snapshot(sweep_dir)
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (4000, 4000))  # noqa: E731
    done = run("sweep", "report", sweep_dir, preexec_fn=limit)
    refused(done, 1, "cannot write", "curves.png", "File too large")
    assert changes(before, sweep_dir) == set()


def test_sweep_report_with_an_output_that_is_a_directory_changes_nothing(made_sweep, tmp_path):
    sweep_dir = copy_sweep(made_sweep, tmp_path)
    (sweep_dir / "accuracy.png").unlink()
    (sweep_dir / "accuracy.png").mkdir()
    before = snapshot(sweep_dir)
    refused(run("sweep", "report", sweep_dir), 2, "accuracy.png", "directory")
    assert changes(before, sweep_dir) == set()


KILLED_REPORT = """
import os, signal, sys
from pathlib import Path
from caffesiam.sweep import report
def killed(*args):
    os.kill(os.getpid(), signal.SIGKILL)
report.plot_accuracy_bars = killed
report.write_report(Path(sys.argv[1]), Path(sys.argv[1]))
"""


def test_sweep_report_killed_while_plotting_leaves_the_old_report_and_is_reclaimed(
    made_sweep, tmp_path
):
    sweep_dir = copy_sweep(made_sweep, tmp_path)
    before = snapshot(*(sweep_dir / name for name in REPORT))
    assert python(KILLED_REPORT, sweep_dir).returncode == -9
    assert changes(before, *(sweep_dir / name for name in REPORT)) == set()
    done = run("sweep", "report", sweep_dir)
    assert done.returncode == 0, done.stderr
    assert hidden(sweep_dir) == []
    assert all(not (sweep_dir / n).read_bytes().startswith(b"earlier") for n in REPORT)


def test_sweep_resume_writes_every_point_and_the_state_or_none(made_sweep, tmp_path):
    """One point's command.sh cannot be replaced (it is a directory): no point.json, command.sh
    or sweep.json is rewritten."""
    sweep_dir = copy_sweep(made_sweep, tmp_path)
    blocked = point_dirs(sweep_dir)[1] / "command.sh"
    blocked.unlink()
    blocked.mkdir()
    before = snapshot(sweep_dir)
    refused(run("sweep", "resume", sweep_dir), 2, "command.sh", "directory")
    assert changes(before, sweep_dir) == set()


KILLED_SWEEP = """
import os, signal, sys
from pathlib import Path
from caffesiam.spec.yamlload import load_yaml
from caffesiam.sweep.create import create, point_files
from caffesiam.sweep.expand import expand
sweep_file = Path(sys.argv[1])
sweep = expand(load_yaml(sweep_file.read_text(), str(sweep_file)), str(sweep_file), sys.argv[2])
out = Path(sys.argv[2]) / "sw"
files = point_files(sweep, out)
create(sweep, out, sweep_file, {}, files, lambda point: os.kill(os.getpid(), 9))
"""


@pytest.fixture
def fake_sbatch(tmp_path):
    """An environment whose sbatch accepts every job (and runs none)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text("#!/bin/sh\necho 4242\n")
    (bin_dir / "sbatch").chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}:{VENV_BIN}:{os.environ['PATH']}")


def test_a_sweep_killed_while_making_its_run_directories_is_reclaimed(
    made_sweep, tmp_path, fake_sbatch
):
    where = tmp_path / "sweeps"
    where.mkdir()
    sweep_file = where / "sw.yaml"
    sweep_file.write_text((made_sweep.parent / "sw.yaml").read_text())
    assert python(KILLED_SWEEP, sweep_file, where).returncode == -9
    assert len(hidden(where)) == 1 and hidden(where)[0].startswith(".sw.")
    done = run("sweep", sweep_file, "--engine", "slurm", "--jobs", 1, env=fake_sbatch)
    assert done.returncode == 0, done.stderr
    assert hidden(where) == [] and (where / "sw" / "sweep.json").exists()


KILLED_WRITE = """
import os, signal, sys
from caffesiam.files import staged
with staged() as stage:
    stage(sys.argv[1]).write_text("half written")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _writer(command, folder, model, log_file, pair_db):
    """(argv of `command` writing into `folder`, what it writes there)."""
    deploy, weights = model
    evaluate = ["evaluate", "--model", deploy, "--weights", weights, "--db", pair_db]
    return {
        "gen-net": (["gen-net", REPO / "templates/lenet.yaml", "-o", folder / "n.prototxt"]),
        "gen-solver": (["gen-solver", deploy, "-o", folder / "solver.prototxt"]),
        "draw": (["draw", deploy, "-o", folder / "net.png"]),
        "plot-log": (["plot-log", log_file, "-o", folder / "loss.png"]),
        "evaluate": ([*evaluate, "--json", folder / "e.json"]),
        "export": (["export", deploy, weights, "-o", folder / "t.onnx"]),
        "build-db": (
            ["build-db", "fashion-mnist", "--split", "test", "--test-pairs", 8, "--out", folder]
        ),
    }[command]


@pytest.mark.parametrize(
    "command", ["gen-net", "gen-solver", "draw", "plot-log", "evaluate", "export", "build-db"]
)
def test_what_a_killed_writer_left_is_reclaimed_by_the_next_command_there(
    command, tmp_path, model, log_file, pair_db
):
    folder = tmp_path / "out"
    folder.mkdir()
    assert python(KILLED_WRITE, folder / "report.json").returncode == -9
    assert len(hidden(folder)) == 1
    done = run(*_writer(command, folder, model, log_file, pair_db))
    assert done.returncode == 0, done.stderr
    assert hidden(folder) == [] and "report.json" not in os.listdir(folder)
