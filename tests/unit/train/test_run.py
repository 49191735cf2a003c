"""A training run's orchestration with Caffe's process faked: what lands in the run directory,
and how a failure or a divergence is reported."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from caffesiam.caffe import runner
from caffesiam.caffe.proto import caffe_pb2, parse_text
from caffesiam.errors import TrainingDiverged, TrainingFailed
from caffesiam.train import run
from caffesiam.train.plan import TrainPlan
from caffesiam.train.rundir import BLAS_THREADS_JSON, CAFFE_LOG, METRICS_CSV, RUN_SOLVER, USAGE_JSON

P = "I0101 00:00:00.000000 7 solver.cpp:1] "


def _plan(tmp_path, solver=None, gpu=None):
    return TrainPlan(
        solver_path=tmp_path / "given.prototxt",
        solver=solver,
        cwd=tmp_path,
        net_path=tmp_path / "net.prototxt",
        sources=[],
        run_dir=tmp_path / "run",
        snapshot_prefix=tmp_path / "snap" / "net",
        start_iter=10,
        gpu=gpu,
    )


@pytest.fixture
def caffe_says(monkeypatch):
    """Replace Caffe's process by `lines` and an exit `status`; no plot is drawn."""
    monkeypatch.setattr(run, "plot_loss_curve", lambda metrics, path, title: None)

    def says(lines, status=0, cpu_seconds=1.5):
        def stream(argv, on_line, cwd, env, interrupts, in_container):
            for line in lines:
                on_line(line)
            return runner.Finished(status, 2.0, cpu_seconds)

        monkeypatch.setattr(run.runner, "stream", stream)

    return says


def test_a_finished_run_leaves_its_log_metrics_and_usage(tmp_path, caffe_says):
    plan = _plan(tmp_path)
    plan.run_dir.mkdir()
    log = [
        P + "Iteration 20 (5 iter/s, 2s/10 iters), loss = 0.5\n",
        P + "Iteration 20, Testing net (#0)\n",
        P + "    Test net output #0: loss = 0.25 (* 1 = 0.25 loss)\n",
    ]
    caffe_says(log)
    events = []
    result = run.run_training(plan, ["/x/caffe", "train"], {}, on_event=events.append)
    assert (plan.run_dir / CAFFE_LOG).read_text() == "".join(log)
    assert (plan.run_dir / METRICS_CSV).read_text().splitlines()[1:] == [
        "train,20,0.5,,5.0",
        "test,20,0.25,,",
    ]
    assert json.loads((plan.run_dir / USAGE_JSON).read_text()) == {
        "process": "caffe",
        "exit_status": 0,
        "wall_seconds": 2.0,
        "cpu_seconds": 1.5,
        "start_iteration": 10,
        "last_iteration": 20,
    }
    assert [type(e).__name__ for e in events] == ["TrainPoint", "TestPoint"]
    assert (result.status, result.interrupted, result.log_path) == (
        0,
        False,
        plan.run_dir / CAFFE_LOG,
    )


def test_the_last_metrics_curve_and_usage_appear_together_or_not_at_all(
    tmp_path, caffe_says, monkeypatch
):
    """The closing loss.png cannot be drawn: metrics.csv stays as the last test phase left it and
    no usage.json appears (they are published with it)."""
    plan = _plan(tmp_path)
    plan.run_dir.mkdir()
    log = [
        P + "Iteration 20, Testing net (#0)\n",
        P + "    Test net output #0: loss = 0.25 (* 1 = 0.25 loss)\n",
        P + "Iteration 30 (5 iter/s, 2s/10 iters), loss = 0.5\n",
    ]
    caffe_says(log)
    drawn = []

    def plot(metrics, path, title):
        if drawn:
            raise RuntimeError("no room for the picture")
        drawn.append(path)

    monkeypatch.setattr(run, "plot_loss_curve", plot)
    with pytest.raises(RuntimeError):
        run.run_training(plan, ["/x/caffe", "train"], {})
    assert (plan.run_dir / METRICS_CSV).read_text().splitlines()[1:] == ["test,20,0.25,,"]
    assert sorted(p.name for p in plan.run_dir.iterdir()) == [CAFFE_LOG, "loss.png", METRICS_CSV]


def test_caffe_dying_is_training_failed_with_its_line_and_signal(tmp_path, caffe_says):
    plan = _plan(tmp_path)
    plan.run_dir.mkdir()
    caffe_says(["F0101 00:00:00.000000 7 net.cpp:9] Check failed: top == 2 (3 vs. 2)\n"], 134)
    with pytest.raises(TrainingFailed) as e:
        run.run_training(plan, ["caffe"], {})
    assert str(e.value) == (
        "caffe was killed by SIGABRT (status 134): net.cpp:9] Check failed: top == 2 (3 vs. 2) "
        f"(full log: {plan.run_dir / CAFFE_LOG})"
    )
    assert e.value.status == 134


def test_a_launch_failure_is_named_by_the_launch(tmp_path, caffe_says):
    plan = _plan(tmp_path)
    plan.run_dir.mkdir()
    caffe_says(["docker: no daemon\n"], 125)
    with pytest.raises(TrainingFailed, match=r"^docker said: docker: no daemon \(full log: "):
        run.run_training(
            plan,
            ["docker"],
            {},
            launch_failure=lambda status, lines: f"docker said: {lines[0].strip()}",
        )


def test_a_loss_that_stops_being_finite_stops_caffe_and_is_named(tmp_path, caffe_says):
    pb = caffe_pb2()
    plan = _plan(tmp_path, solver=pb.SolverParameter(base_lr=0.5))
    plan.run_dir.mkdir()
    caffe_says(
        [
            P + "Iteration 20 (5 iter/s, 2s/10 iters), loss = 0.5\n",
            P + "Snapshotting to binary proto file snap/net_iter_20.caffemodel\n",
            P + "Iteration 30 (5 iter/s, 2s/10 iters), loss = nan\n",
            P + "Snapshotting to binary proto file snap/net_iter_30.caffemodel\n",
        ]
    )
    stops = []
    interrupts = SimpleNamespace(stop=lambda: stops.append(True), count=0)
    with pytest.raises(TrainingDiverged) as e:
        run.run_training(plan, ["caffe"], {}, interrupts=interrupts)
    assert stops == [True]
    assert str(e.value) == (
        "training diverged at iteration 30: loss = nan (last finite loss 0.5 at iteration 20); "
        "Caffe was stopped at iteration 30 with a snapshot, snap/net_iter_30.caffemodel, whose "
        "weights are not finite; the last snapshot before it is snap/net_iter_20.caffemodel; "
        f"lower base_lr (now 0.5) and train again (full log: {plan.run_dir / CAFFE_LOG})"
    )


@pytest.mark.parametrize(
    "status, words",
    [
        (1, "caffe exited with status 1"),
        (137, "caffe was killed by SIGKILL (status 137)"),
        (200, "caffe exited with status 200"),  # 128 + 72 is no signal
    ],
)
def test_describe_status(status, words):
    assert run.describe_status(status) == words


class GpuLaunch:
    caffe = "/opt/caffe/bin/caffe"

    def wrap(self, plan, argv, env):
        return ["in-image", *argv]


@pytest.mark.caffe
def test_prepare_run_writes_the_run_solver_and_the_choice_and_builds_the_argv(tmp_path):
    pb = caffe_pb2()
    plan = _plan(tmp_path, pb.SolverParameter(net="net.prototxt", max_iter=3), gpu="0")
    plan.weights = Path("w.caffemodel")
    setup = run.prepare_run(plan, GpuLaunch(), "auto")
    assert (setup.threads, setup.why) == (None, "GPU run")  # nothing measured
    assert setup.argv == [
        "in-image",
        "/opt/caffe/bin/caffe",
        "train",
        "-solver",
        str(plan.run_dir / RUN_SOLVER),
        "-sigint_effect",
        "stop",
        "-sighup_effect",
        "snapshot",
        "-gpu",
        "0",
        "-weights",
        "w.caffemodel",
    ]
    written = parse_text((plan.run_dir / RUN_SOLVER).read_text(), pb.SolverParameter())
    assert written == pb.SolverParameter(net="net.prototxt", max_iter=3)
    assert json.loads((plan.run_dir / BLAS_THREADS_JSON).read_text())["reason"] == "GPU run"
    assert plan.snapshot_prefix.parent.is_dir()
    assert setup.env["GLOG_minloglevel"] == "0" and setup.env["GLOG_logtostderr"] == "1"


def test_a_container_run_records_caffes_cpu_time_as_its_entry_reported_it(tmp_path, caffe_says):
    plan = _plan(tmp_path)
    plan.run_dir.mkdir()
    caffe_says([], cpu_seconds=41.25)
    run.run_training(plan, ["docker", "run"], {}, in_container=True)
    usage = json.loads((plan.run_dir / USAGE_JSON).read_text())
    assert (usage["process"], usage["cpu_seconds"]) == ("caffe in the container", 41.25)


def test_a_container_killed_before_its_report_has_no_cpu_time(tmp_path, caffe_says):
    plan = _plan(tmp_path)
    plan.run_dir.mkdir()
    caffe_says([], status=137, cpu_seconds=None)
    with pytest.raises(TrainingFailed):
        run.run_training(plan, ["docker", "run"], {}, in_container=True)
    assert json.loads((plan.run_dir / USAGE_JSON).read_text())["cpu_seconds"] is None
