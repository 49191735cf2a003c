"""A SolverParameter with the defaults of Caffe's siamese example, and the lr policies' settings (no I/O)."""

from caffesiam.caffe.proto import caffe_pb2
from caffesiam.errors import SolverError

SOLVER_DEFAULTS = dict(  # examples/siamese/mnist_siamese_solver.prototxt
    test_iter=100, test_interval=500, base_lr=0.01, momentum=0.9, weight_decay=0.0,
    lr_policy="inv", gamma=0.0001, power=0.75, display=100, max_iter=50000, snapshot=5000,
)
# What each of Caffe's lr_policy values reads (SGDSolver::GetLearningRate); gamma defaults to
# the example's 1e-4 for inv and to 0.1 for the step policies.
LR_POLICY_FIELDS = {
    "fixed": (), "step": ("gamma", "stepsize"), "multistep": ("gamma", "stepvalue"),
    "exp": ("gamma",), "inv": ("gamma", "power"), "poly": ("power",), "sigmoid": ("gamma", "stepsize"),
}
_POLICY_DEFAULTS = {"inv": {k: SOLVER_DEFAULTS[k] for k in ("gamma", "power")},
                    "step": dict(gamma=0.1), "multistep": dict(gamma=0.1)}


def build_solver(net_path: str, snapshot_prefix: str, shares_params: bool, gpu: bool = False,
                 **overrides):
    """A SolverParameter with the siamese example's defaults; None overrides are ignored.

    SolverError when a learning-rate setting does not fit `lr_policy` or one it needs is missing.
    """
    pb = caffe_pb2()
    given = {k: v for k, v in overrides.items() if v not in (None, ())}
    policy = given.get("lr_policy", SOLVER_DEFAULTS["lr_policy"])
    settings = {k: v for k, v in SOLVER_DEFAULTS.items() if k not in ("gamma", "power")}
    settings.update(_POLICY_DEFAULTS.get(policy, {}))
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
    if shares_params:  # multi-GPU all-reduce breaks on shared params otherwise (Caffe #5538)
        solver.layer_wise_reduce = False
    return solver


def _check_lr_schedule(policy: str, given: dict, settings: dict):
    wanted = LR_POLICY_FIELDS[policy]
    for key in ("gamma", "power", "stepsize", "stepvalue"):
        if key in given and key not in wanted:
            raise SolverError(f"--{key} does not apply to lr_policy {policy} "
                              f"(it reads {', '.join(wanted) or 'nothing but base_lr'})")
        if key in wanted and key not in settings:
            raise SolverError(f"lr_policy {policy} needs --{key}")
    steps = list(settings.get("stepvalue", ()))
    if steps != sorted(set(steps)) or (steps and steps[-1] >= settings["max_iter"]):
        raise SolverError(f"--stepvalue must increase and stay below --max-iter "
                          f"{settings['max_iter']}, got {', '.join(map(str, steps))}")
