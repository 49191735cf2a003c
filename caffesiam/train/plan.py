"""What a training run will do, decided from gathered facts (pure: no file is read here).

Plan apart from apply, as pip-tools' sync.diff/sync.sync: train.gather reads the solver, the
net, the databases and the snapshots into TrainFacts; `decide` turns them and the request into
a TrainPlan, or raises the first reason not to start.
"""

from dataclasses import dataclass
from pathlib import Path

from caffesiam.caffe.proto import caffe_pb2
from caffesiam.errors import BadInput, OutputExists, SolverError
from caffesiam.net.solver import check_solver, fit_layer_wise_reduce
from caffesiam.spec.params import shared_param_names
from caffesiam.train.rundir import CAFFE_LOG, RUN_SOLVER


@dataclass(frozen=True)
class TrainRequest:
    """What `train` was asked to do."""

    solver: Path
    gpu: str | None = None  # "0", "0,1" or "all"; None: as the solver says
    force_cpu: bool = False
    weights: Path | None = None
    resume: Path | None = None
    max_iter: int | None = None
    out: Path | None = None


@dataclass(frozen=True)
class TrainFacts:
    """What the files and the Caffe build say, with paths resolved as Caffe resolves them."""

    cwd: Path
    solver: object  # the SolverParameter as read
    net_path: Path
    net: object  # the NetParameter it names
    sources: list[Path]  # its Data layers' databases, checked to be of their backend
    start_iter: int  # the --resume solverstate's iteration, else 0
    snapshot_prefix: Path
    later_snapshots: list[Path]  # snapshots at the prefix beyond start_iter
    run_dir_taken: bool  # --out already holds a run's caffe.log
    free_run_dir: Path  # the first <prefix>_run, _run2, ... without a caffe.log
    cpu_only_build: bool
    resumed_weights: Path | None = None  # the .caffemodel the --resume solverstate names


@dataclass
class TrainPlan:
    solver_path: Path
    solver: object  # the run's SolverParameter (a copy with our overrides)
    cwd: Path
    net_path: Path
    sources: list[Path]
    run_dir: Path
    snapshot_prefix: Path
    start_iter: int = 0
    weights: Path | None = None
    resume: Path | None = None
    resumed_weights: Path | None = None  # the .caffemodel the --resume solverstate names
    gpu: str | None = None  # None: CPU; "0", "0,1" or "all"
    shares_params: bool = False

    @property
    def run_solver(self) -> Path:
        return self.run_dir / RUN_SOLVER

    @property
    def iterations(self) -> int:
        return max(self.solver.max_iter - self.start_iter, 0)


def decide(request: TrainRequest, facts: TrainFacts) -> TrainPlan:
    """The run's plan: its solver copy (max_iter, mode, snapshot on stop), run directory, device."""
    mode = caffe_pb2().SolverParameter
    solver = type(facts.solver)()
    solver.CopyFrom(facts.solver)
    if request.max_iter is not None:
        solver.max_iter = request.max_iter
    check_solver(solver, str(request.solver))
    if solver.max_iter <= facts.start_iter:
        raise SolverError(
            f"{request.resume} is at iteration {facts.start_iter} and max_iter is "
            f"{solver.max_iter}: nothing would be trained; raise max_iter (--max-iter)"
        )
    gpu = request.gpu
    wants_gpu = gpu is not None or (solver.solver_mode == mode.GPU and not request.force_cpu)
    if wants_gpu and facts.cpu_only_build:
        how = (
            "--gpu was given"
            if gpu is not None
            else f"{request.solver} says solver_mode: GPU (pass --cpu)"
        )
        raise BadInput(f"this Caffe is a CPU-only build, but {how}")
    solver.solver_mode = mode.GPU if wants_gpu else mode.CPU
    shares = bool(shared_param_names(facts.net))
    fit_layer_wise_reduce(solver, shares)
    solver.snapshot_after_train = True  # so the first Ctrl-C leaves a snapshot
    if facts.later_snapshots:
        raise OutputExists(
            f"snapshot {facts.later_snapshots[0]} already exists and this run could "
            f"overwrite it; continue it with --resume, or change snapshot_prefix"
        )
    if request.out is not None and facts.run_dir_taken:
        raise OutputExists(f"{request.out} already holds a run ({CAFFE_LOG}); choose another --out")
    return TrainPlan(
        solver_path=request.solver,
        solver=solver,
        cwd=facts.cwd,
        net_path=facts.net_path,
        sources=facts.sources,
        run_dir=request.out if request.out is not None else facts.free_run_dir,
        snapshot_prefix=facts.snapshot_prefix,
        start_iter=facts.start_iter,
        weights=request.weights,
        resume=request.resume,
        resumed_weights=facts.resumed_weights,
        gpu=gpu if wants_gpu else None,
        shares_params=shares,
    )
