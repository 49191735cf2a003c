"""Solver defaults, lr policies, the layer_wise_reduce rule and the checks before Caffe runs."""

import pytest

from caffesiam.caffe.proto import caffe_pb2, parse_text, read_text
from caffesiam.errors import SolverError
from caffesiam.net.solver import SOLVER_TYPES, build_solver, check_solver, fit_layer_wise_reduce

pytestmark = pytest.mark.caffe


def test_the_defaults_are_caffes_siamese_example(caffe_src):
    pb = caffe_pb2()
    example = read_text(
        caffe_src / "examples/siamese/mnist_siamese_solver.prototxt", pb.SolverParameter()
    )
    example.net, example.snapshot_prefix = "n.prototxt", "snap/n"
    example.solver_mode = pb.SolverParameter.CPU
    assert build_solver("n.prototxt", "snap/n", shares_params=False) == example
    example.solver_mode = pb.SolverParameter.GPU
    assert build_solver("n.prototxt", "snap/n", shares_params=False, gpu=True) == example


def test_each_policy_gets_its_own_settings_and_none_means_default():
    step = build_solver("n", "p", False, lr_policy="step", stepsize=100, base_lr=None)
    assert (step.gamma, step.stepsize, step.base_lr) == pytest.approx((0.1, 100, 0.01))
    assert not step.HasField("power")
    multi = build_solver("n", "p", False, lr_policy="multistep", stepvalue=(10, 20), max_iter=30)
    assert list(multi.stepvalue) == [10, 20] and multi.gamma == pytest.approx(0.1)
    fixed = build_solver("n", "p", False, lr_policy="fixed", stepvalue=())
    assert not fixed.HasField("gamma") and not fixed.HasField("power")
    poly = build_solver("n", "p", False, lr_policy="poly", power=2.0)
    assert (poly.power, poly.HasField("gamma")) == (2.0, False)


@pytest.mark.parametrize(
    "overrides, words",
    [
        (dict(lr_policy="poly"), "lr_policy poly needs --power"),
        (dict(lr_policy="sigmoid", gamma=0.5), "lr_policy sigmoid needs --stepsize"),
        (
            dict(lr_policy="exp", gamma=0.9, power=1.0),
            "--power does not apply to lr_policy exp (it reads gamma)",
        ),
        (
            dict(lr_policy="fixed", stepsize=5),
            "--stepsize does not apply to lr_policy fixed (it reads nothing but base_lr)",
        ),
        (dict(lr_policy="multistep", stepvalue=(20, 20)), "--stepvalue must increase"),
    ],
)
def test_a_schedule_that_does_not_fit_its_policy(overrides, words):
    with pytest.raises(SolverError) as e:
        build_solver("n", "p", False, **overrides)
    assert words in str(e.value)


def test_shared_params_turn_layer_wise_reduce_off_whatever_the_device():
    pb = caffe_pb2()
    for gpu in (False, True):
        solver = build_solver("n", "p", shares_params=True, gpu=gpu)
        assert solver.HasField("layer_wise_reduce") and not solver.layer_wise_reduce
        assert not build_solver("n", "p", shares_params=False, gpu=gpu).HasField(
            "layer_wise_reduce"
        )
    chosen = pb.SolverParameter(layer_wise_reduce=True)
    fit_layer_wise_reduce(chosen, shares_params=True)
    assert not chosen.layer_wise_reduce
    kept = pb.SolverParameter(layer_wise_reduce=False)
    fit_layer_wise_reduce(kept, shares_params=False)
    assert kept.HasField("layer_wise_reduce") and not kept.layer_wise_reduce


RUNNABLE = 'base_lr: 0.01 lr_policy: "fixed" max_iter: 10 '


def test_a_sound_solver_passes_for_every_solver_type():
    for kind in SOLVER_TYPES:
        check_solver(parse_text(RUNNABLE + f'type: "{kind}"', caffe_pb2().SolverParameter()), "s")


@pytest.mark.parametrize(
    "text, message",
    [
        ("delta: 0", "s: delta must be > 0, got 0"),
        ('regularization_type: "L3"', "s: regularization_type must be L1 or L2, got 'L3'"),
        (
            "test_iter: 5 test_iter: -1",
            "s: test_iter and stepvalue must be >= 0, got a negative value",
        ),
        ("weight_decay: -0.5", "s: weight_decay must be >= 0, got -0.5"),
        ("rms_decay: 1", "s: rms_decay must be in [0, 1), got 1"),
        ("display: -1", "s: display must be >= 0, got -1"),
    ],
)
def test_what_caffe_would_train_nonsense_with_or_abort_on(text, message):
    with pytest.raises(SolverError) as e:
        check_solver(parse_text(RUNNABLE + text, caffe_pb2().SolverParameter()), "s")
    assert str(e.value) == message
