"""The plan's derived values and decide()'s choice of device, from facts made in memory."""

from pathlib import Path

import pytest

from caffesiam.caffe.proto import caffe_pb2, parse_text
from caffesiam.train.plan import TrainFacts, TrainPlan, TrainRequest, decide
from caffesiam.train.rundir import RUN_SOLVER

UNSHARED_NET = 'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" }'


def _plan(max_iter, start_iter):
    solver = type("Solver", (), {"max_iter": max_iter})()
    return TrainPlan(
        Path("s"), solver, Path("/w"), Path("/w/net"), [], Path("/w/run"), Path("/w/p"), start_iter
    )


def test_iterations_left_and_the_run_solver_path():
    assert _plan(100, 0).iterations == 100
    assert _plan(100, 40).iterations == 60
    assert _plan(100, 100).iterations == 0 and _plan(100, 150).iterations == 0
    assert _plan(1, 0).run_solver == Path("/w/run") / RUN_SOLVER


def _facts(solver_text, cpu_only_build=False):
    pb = caffe_pb2()
    return TrainFacts(
        cwd=Path("/w"),
        solver=parse_text(
            'base_lr: 0.01 lr_policy: "fixed" max_iter: 9 ' + solver_text, pb.SolverParameter()
        ),
        net_path=Path("/w/net.prototxt"),
        net=parse_text(UNSHARED_NET, pb.NetParameter()),
        sources=[],
        start_iter=0,
        snapshot_prefix=Path("/w/snap/net"),
        later_snapshots=[],
        run_dir_taken=False,
        free_run_dir=Path("/w/snap/net_run"),
        cpu_only_build=cpu_only_build,
    )


@pytest.mark.caffe
@pytest.mark.parametrize(
    "gpu, force_cpu, solver_mode, plan_gpu, mode",
    [
        ("0", False, "CPU", "0", "GPU"),  # --gpu beats the solver
        ("all", False, "CPU", "all", "GPU"),
        (None, True, "GPU", None, "CPU"),  # --cpu beats it too
        (None, False, "CPU", None, "CPU"),
    ],
)
def test_the_device_comes_from_the_flags_then_the_solver(
    gpu, force_cpu, solver_mode, plan_gpu, mode
):
    request = TrainRequest(Path("s"), gpu=gpu, force_cpu=force_cpu)
    plan = decide(request, _facts(f"solver_mode: {solver_mode}"))
    assert plan.gpu == plan_gpu
    assert plan.solver.solver_mode == getattr(caffe_pb2().SolverParameter, mode)
    assert not plan.shares_params and not plan.solver.HasField("layer_wise_reduce")


@pytest.mark.caffe
def test_an_unshared_net_keeps_the_solvers_own_layer_wise_reduce():
    plan = decide(TrainRequest(Path("s"), gpu="0,1"), _facts("layer_wise_reduce: false"))
    assert plan.solver.HasField("layer_wise_reduce") and not plan.solver.layer_wise_reduce
