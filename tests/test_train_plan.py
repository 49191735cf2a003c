"""train's pure decision over gathered facts, and the cadence of its outputs, without Caffe."""

from pathlib import Path

import pytest
from PIL import Image

from caffesiam.caffe.proto import caffe_pb2, parse_text
from caffesiam.errors import BadInput, OutputExists, SolverError
from caffesiam.train import run
from caffesiam.train.log import parse_lines
from caffesiam.train.plan import TrainFacts, TrainPlan, TrainRequest, decide
from caffesiam.train.rundir import LOSS_PNG, METRICS_CSV

SHARED_NET = """
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" param { name: "w" } }
layer { name: "ip_p" type: "InnerProduct" bottom: "data_p" top: "ip_p" param { name: "w" } }
"""


RUNNABLE = 'base_lr: 0.01 lr_policy: "fixed" max_iter: 100 '  # what check_solver asks of every run


def _facts(solver_text="solver_mode: CPU", net_text=SHARED_NET, **changes) -> TrainFacts:
    pb = caffe_pb2()
    facts = dict(
        cwd=Path("/work"),
        solver=parse_text(RUNNABLE + solver_text, pb.SolverParameter()),
        net_path=Path("/work/net.prototxt"),
        net=parse_text(net_text, pb.NetParameter()),
        sources=[Path("/work/train_leveldb")],
        start_iter=0,
        snapshot_prefix=Path("/work/snap/net"),
        later_snapshots=[],
        run_dir_taken=False,
        free_run_dir=Path("/work/snap/net_run2"),
        cpu_only_build=True,
    )
    return TrainFacts(**{**facts, **changes})


REQUEST = TrainRequest(Path("solver.prototxt"))


@pytest.mark.caffe
def test_decide_copies_the_solver_and_sets_what_a_run_needs():
    text = "max_iter: 100 solver_mode: GPU snapshot_after_train: false"
    facts = _facts(text)
    plan = decide(TrainRequest(Path("s.prototxt"), force_cpu=True, max_iter=7), facts)
    assert (plan.solver.max_iter, plan.solver.snapshot_after_train) == (7, True)
    assert plan.solver.solver_mode == caffe_pb2().SolverParameter.CPU and plan.gpu is None
    assert plan.run_dir == Path("/work/snap/net_run2") and plan.shares_params
    assert plan.iterations == 7
    assert facts.solver == parse_text(RUNNABLE + text, caffe_pb2().SolverParameter())  # untouched


@pytest.mark.caffe
@pytest.mark.parametrize(
    "request_, solver, message",
    [
        (
            TrainRequest(Path("s.prototxt"), gpu="0"),
            "solver_mode: CPU",
            "CPU-only build, but --gpu was given",
        ),
        (REQUEST, "solver_mode: GPU", "solver.prototxt says solver_mode: GPU (pass --cpu)"),
    ],
)
def test_gpu_on_a_cpu_only_build_is_bad_input(request_, solver, message):
    with pytest.raises(BadInput) as e:
        decide(request_, _facts(solver))
    assert message in str(e.value)


@pytest.mark.caffe
def test_layer_wise_reduce_is_turned_off_only_when_params_are_shared():
    multi = decide(TrainRequest(Path("s"), gpu="all"), _facts(cpu_only_build=False))
    assert multi.solver.HasField("layer_wise_reduce") and not multi.solver.layer_wise_reduce
    assert multi.gpu == "all"
    cpu = decide(REQUEST, _facts("solver_mode: CPU layer_wise_reduce: true"))
    assert cpu.solver.HasField("layer_wise_reduce") and not cpu.solver.layer_wise_reduce
    unshared = decide(
        TrainRequest(Path("s"), gpu="0,1"),
        _facts(net_text=SHARED_NET.replace('name: "w"', 'name: "a"', 1), cpu_only_build=False),
    )
    assert not unshared.solver.HasField("layer_wise_reduce") and not unshared.shares_params


@pytest.mark.caffe
def test_a_run_never_overwrites_snapshots_or_an_earlier_run():
    snap = Path("/work/snap/net_iter_50.caffemodel")
    with pytest.raises(OutputExists) as e:
        decide(REQUEST, _facts(later_snapshots=[snap]))
    assert str(snap) in str(e.value)
    with pytest.raises(OutputExists) as e:
        decide(TrainRequest(Path("s"), out=Path("/work/mine")), _facts(run_dir_taken=True))
    assert "/work/mine already holds a run" in str(e.value)
    assert decide(TrainRequest(Path("s"), out=Path("/work/mine")), _facts()).run_dir == Path(
        "/work/mine"
    )


LOG = [
    "I0101 00:00:00.000001 1 solver.cpp:347] Iteration {i}, Testing net (#0)\n",
    "I0101 00:00:00.000002 1 solver.cpp:414]     Test net output #0: loss = 0.5 (* 1 = 0.5 loss)\n",
    "I0101 00:00:00.000003 1 solver.cpp:239] Iteration {i} (10 iter/s, 1s/10 iters), loss = 0.4\n",
]


def test_metrics_follow_every_test_phase_and_the_curve_a_bounded_cadence(tmp_path, monkeypatch):
    renders = []
    monkeypatch.setattr(
        run, "plot_loss_curve", lambda metrics, path, title: renders.append(metrics.iteration)
    )
    now = [0.0]
    plan = TrainPlan(
        Path("s.prototxt"), None, tmp_path, Path("net.prototxt"), [], tmp_path, tmp_path / "p"
    )
    outputs = run.RunOutputs(plan, plot_every=30, clock=lambda: now[0])
    lines = []
    for i, t in ((0, 0), (10, 5), (20, 20), (30, 31)):
        now[0] = t
        lines += [line.format(i=i) for line in LOG]
        metrics = parse_lines(lines)
        outputs.test_phase(metrics)
        tests = (tmp_path / METRICS_CSV).read_text().count("\ntest,")
        assert tests == i // 10 + 1  # the csv is current after every test phase
    assert renders == [0, 30]  # the first phase at once, then not within 30 s of the last render
    now[0] = 40
    outputs.plot_if_due(metrics)
    assert renders == [0, 30]
    lines += [LOG[2].format(i=40)]
    outputs.test_phase(parse_lines(lines))
    now[0] = 61
    outputs.plot_if_due(parse_lines(lines))  # a later log line, once the interval has passed
    assert renders == [0, 30, 40]
    outputs.finish(parse_lines(lines))
    assert renders == [0, 30, 40, 40]  # and always at the end


def test_run_outputs_write_a_real_png(tmp_path):
    plan = TrainPlan(
        Path("s.prototxt"), None, tmp_path, Path("net.prototxt"), [], tmp_path, tmp_path / "p"
    )
    run.RunOutputs(plan).finish(parse_lines([line.format(i=0) for line in LOG]))
    assert Image.open(tmp_path / LOSS_PNG).format == "PNG"


@pytest.mark.caffe
@pytest.mark.parametrize(
    "solver,message",
    [
        ("base_lr: -0.01", "base_lr must be > 0, got -0.01"),
        ("base_lr: nan", "base_lr must be a finite number, got nan"),
        ("momentum: inf", "momentum must be a finite number, got inf"),
        ("momentum: 1.5", "momentum must be in [0, 1), got 1.5"),
        ("max_iter: 0", "max_iter must be >= 1 (0 trains nothing), got 0"),
        ('lr_policy: "step"', "stepsize must be >= 1 for lr_policy step"),
        ('lr_policy: "warmup"', "lr_policy must be one of fixed, step"),
        ('type: "LBFGS"', "type must be one of SGD"),
        ("iter_size: 0", "iter_size must be >= 1"),
    ],
)
def test_solver_values_caffe_would_train_nonsense_with(solver, message):
    with pytest.raises(SolverError) as e:
        decide(REQUEST, _facts(solver))
    assert str(e.value) == f"solver.prototxt: {message}" or message in str(e.value)


@pytest.mark.caffe
def test_a_resume_at_max_iter_trains_nothing():
    request = TrainRequest(Path("s"), resume=Path("snap/net_iter_100.solverstate"))
    with pytest.raises(SolverError) as e:
        decide(request, _facts(start_iter=100))
    assert "is at iteration 100 and max_iter is 100: nothing would be trained" in str(e.value)
    assert (
        decide(
            TrainRequest(Path("s"), resume=request.resume, max_iter=150), _facts(start_iter=100)
        ).iterations
        == 50
    )
