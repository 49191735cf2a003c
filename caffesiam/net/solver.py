"""A SolverParameter with the defaults of Caffe's siamese example, the lr policies' settings and
the checks a solver must pass before Caffe runs it (no I/O)."""

import math

from caffesiam.caffe.proto import caffe_pb2
from caffesiam.errors import SolverError

SOLVER_DEFAULTS = dict(  # examples/siamese/mnist_siamese_solver.prototxt
    test_iter=100,
    test_interval=500,
    base_lr=0.01,
    momentum=0.9,
    weight_decay=0.0,
    lr_policy="inv",
    gamma=0.0001,
    power=0.75,
    display=100,
    max_iter=50000,
    snapshot=5000,
)
# What each of Caffe's lr_policy values reads (SGDSolver::GetLearningRate); gamma defaults to
# the example's 1e-4 for inv and to 0.1 for the step policies.
LR_POLICY_FIELDS = {
    "fixed": (),
    "step": ("gamma", "stepsize"),
    "multistep": ("gamma", "stepvalue"),
    "exp": ("gamma",),
    "inv": ("gamma", "power"),
    "poly": ("power",),
    "sigmoid": ("gamma", "stepsize"),
}
POLICY_DEFAULTS = {
    "inv": {k: SOLVER_DEFAULTS[k] for k in ("gamma", "power")},
    "step": dict(gamma=0.1),
    "multistep": dict(gamma=0.1),
}


def build_solver(
    net_path: str, snapshot_prefix: str, shares_params: bool, gpu: bool = False, **overrides
):
    """A SolverParameter with the siamese example's defaults; None overrides are ignored.

    SolverError when a learning-rate setting does not fit `lr_policy` or one it needs is missing.
    """
    pb = caffe_pb2()
    given = {k: v for k, v in overrides.items() if v not in (None, ())}
    policy = given.get("lr_policy", SOLVER_DEFAULTS["lr_policy"])
    settings = {k: v for k, v in SOLVER_DEFAULTS.items() if k not in ("gamma", "power")}
    settings.update(POLICY_DEFAULTS.get(policy, {}))
    settings.update(given)
    _check_lr_schedule(policy, given, settings)
    solver = pb.SolverParameter(net=net_path, snapshot_prefix=snapshot_prefix)
    for key, value in settings.items():
        if key == "test_iter":
            solver.test_iter.append(value)
        elif key == "stepvalue":
            solver.stepvalue.extend(value)
        else:
            setattr(solver, key, value)
    solver.solver_mode = pb.SolverParameter.GPU if gpu else pb.SolverParameter.CPU
    fit_layer_wise_reduce(solver, shares_params)
    return solver


def fit_layer_wise_reduce(solver, shares_params: bool):
    """layer_wise_reduce: false for a net with shared params, whatever the device: training on
    several GPUs aborts otherwise (NCCL::on_gradients_ready, Caffe #5538), and one GPU or the CPU
    never reads it. A net without shared params keeps the solver's own setting."""
    if shares_params:
        solver.layer_wise_reduce = False


def _check_lr_schedule(policy: str, given: dict, settings: dict):
    wanted = LR_POLICY_FIELDS[policy]
    for key in ("gamma", "power", "stepsize", "stepvalue"):
        if key in given and key not in wanted:
            raise SolverError(
                f"--{key} does not apply to lr_policy {policy} "
                f"(it reads {', '.join(wanted) or 'nothing but base_lr'})"
            )
        if key in wanted and key not in settings:
            raise SolverError(f"lr_policy {policy} needs --{key}")
    steps = list(settings.get("stepvalue", ()))
    if steps != sorted(set(steps)) or (steps and steps[-1] >= settings["max_iter"]):
        raise SolverError(
            f"--stepvalue must increase and stay below --max-iter "
            f"{settings['max_iter']}, got {', '.join(map(str, steps))}"
        )


SOLVER_TYPES = ("SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam")  # Caffe's registry
_RANGES = (  # field, test, what it must be: values Caffe would train nonsense with, or abort on
    ("base_lr", lambda v: v > 0, "> 0"),
    ("momentum", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("momentum2", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("rms_decay", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("weight_decay", lambda v: v >= 0, ">= 0"),
    ("delta", lambda v: v > 0, "> 0"),
    ("max_iter", lambda v: v >= 1, ">= 1 (0 trains nothing)"),
    ("iter_size", lambda v: v >= 1, ">= 1"),
    ("average_loss", lambda v: v >= 1, ">= 1"),
    ("display", lambda v: v >= 0, ">= 0"),
    ("snapshot", lambda v: v >= 0, ">= 0"),
    ("test_interval", lambda v: v >= 0, ">= 0"),
    ("stepsize", lambda v: v >= 0, ">= 0"),
)


def check_solver(solver, source: str):
    """SolverError naming the first setting of `solver` that Caffe would train nonsense with
    (nan, inf, a negative rate) or abort on (an unknown policy or type), before Caffe starts."""

    def fail(field, value, must):
        shown = f"{value:.7g}" if isinstance(value, float) else value  # float32 as it was written
        raise SolverError(f"{source}: {field} must be {must}, got {shown}")

    for field, value in solver.ListFields():
        if field.cpp_type == field.CPPTYPE_FLOAT and not math.isfinite(value):  # float and double
            fail(field.name, value, "a finite number")
    for name, fits, must in _RANGES:
        if not fits(getattr(solver, name)):
            fail(name, getattr(solver, name), must)
    if solver.lr_policy not in LR_POLICY_FIELDS:
        fail("lr_policy", repr(solver.lr_policy), "one of " + ", ".join(LR_POLICY_FIELDS))
    if "stepsize" in LR_POLICY_FIELDS[solver.lr_policy] and solver.stepsize < 1:
        fail("stepsize", solver.stepsize, f">= 1 for lr_policy {solver.lr_policy}")
    if solver.type not in SOLVER_TYPES:
        fail("type", repr(solver.type), "one of " + ", ".join(SOLVER_TYPES))
    if solver.regularization_type not in ("L1", "L2"):
        fail("regularization_type", repr(solver.regularization_type), "L1 or L2")
    if any(n < 0 for n in list(solver.test_iter) + list(solver.stepvalue)):
        fail("test_iter and stepvalue", "a negative value", ">= 0")
