"""What train prints: progress steps and status, the closing summary, the resume command."""

from pathlib import Path
from types import SimpleNamespace

from caffesiam.train import log
from caffesiam.train.summary import TrainProgress, resume_hint, run_summary


def test_progress_advances_by_new_iterations_only():
    progress = TrainProgress(start_iter=100)
    assert progress.status() == ""
    steps = [
        progress.advance(log.TrainPoint(100, 0.5)),  # where a resumed run starts: nothing new
        progress.advance(log.TrainPoint(150, 0.25)),
        progress.advance(
            log.TestPoint(150, outputs={"accuracy": 0.9})
        ),  # no loss: status unchanged
        progress.advance(log.Snapshot("snap/net_iter_150.caffemodel")),
        progress.advance(log.TrainPoint(120, 0.3)),  # out of order: never backwards
        progress.advance(log.TrainPoint(200, 0.125)),
    ]
    assert steps == [0, 50, 0, 0, 0, 50]
    assert progress.done == 200
    assert progress.status() == "loss 0.1250"
    progress.advance(log.TestPoint(200, outputs={"loss": 0.20004}))
    assert progress.status() == "loss 0.1250 test 0.2000"


def _result(snapshots, cpu_seconds=40.05):
    return SimpleNamespace(
        log_path=Path("run/caffe.log"),
        csv_path=Path("run/metrics.csv"),
        plot_path=Path("run/loss.png"),
        usage=SimpleNamespace(wall_seconds=12.345, cpu_seconds=cpu_seconds),
        metrics=SimpleNamespace(snapshots=snapshots),
    )


def test_run_summary_names_the_files_time_and_last_snapshot():
    text = run_summary(
        _result(["a_iter_5.caffemodel", "a_iter_10.caffemodel"]), "the caffe process"
    )
    assert text.splitlines() == [
        "log: run/caffe.log",
        "metrics: run/metrics.csv",
        "curve: run/loss.png",
        "time: 12.3 s wall, 40.0 s CPU (user+sys of the caffe process)",
        "last snapshot: a_iter_10.caffemodel",
    ]
    assert "last snapshot" not in run_summary(_result([]), "x")
    killed = run_summary(_result([], cpu_seconds=None), "the caffe process, in the container")
    assert (
        "time: 12.3 s wall, CPU time not reported (user+sys of the caffe process, in the " in killed
    )


def test_resume_hint_quotes_paths_for_a_shell():
    plan = SimpleNamespace(run_solver=Path("my runs/solver.prototxt"), cwd=Path("/work dir"))
    assert resume_hint(plan, "snap/net_iter_7.solverstate") == (
        "stopped with a snapshot at snap/net_iter_7.solverstate; continue with:\n"
        "  caffesiam train 'my runs/solver.prototxt' "
        "--resume '/work dir/snap/net_iter_7.solverstate'"
    )
