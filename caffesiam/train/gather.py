"""The facts `train` decides on, read from disk before Caffe starts (paths as Caffe resolves them).

Caffe resolves the solver's `net`, `snapshot_prefix` and the Data layers' sources relative to
its working directory, so every path here is resolved against `cwd`, where Caffe will run.
Input that cannot be read or is not what it should be fails here; train.plan decides the rest.
"""

import os
from functools import partial
from pathlib import Path

from caffesiam.caffe.proto import caffe_pb2, read_text
from caffesiam.caffe.weights import check_weights_fit_net, read_solverstate
from caffesiam.data.probe import backend_at, missing_data_source
from caffesiam.data.recordcheck import check_record_channels
from caffesiam.errors import BadInput, DatabaseError, SolverError
from caffesiam.files import check_output_dir
from caffesiam.train.launch import HostLaunch
from caffesiam.train.log import snapshot_iteration
from caffesiam.train.plan import TrainFacts, TrainPlan, TrainRequest, decide
from caffesiam.train.rundir import CAFFE_LOG, RUN_DIR_SUFFIX, RUN_FILES


def plan_training(
    request: TrainRequest, cwd=None, cpu_only_build: bool = True, launch=None
) -> TrainPlan:
    """Gather the facts, decide, check that `launch` (default: this host's Caffe) can run the
    plan's Caffe, then check the weights the plan would load (a child process sets the net up
    where the launch runs Caffe; so this comes last)."""
    cwd = Path(cwd or Path.cwd())
    launch = launch or HostLaunch()
    facts = gather_facts(request, cwd, cpu_only_build)
    plan = decide(request, facts)
    launch.check(plan)
    for weights in (plan.weights, facts.resumed_weights):
        if weights:
            check_weights_fit_net(
                facts.net_path,
                weights,
                "TRAIN",
                fine_tune=True,
                cwd=cwd,
                python=launch.python,
                wrap=partial(launch.wrap, plan),
                launch_failed=launch.raise_failure,
            )
    return plan


def gather_facts(request: TrainRequest, cwd: Path, cpu_only_build: bool) -> TrainFacts:
    pb = caffe_pb2()
    solver = read_text(request.solver, pb.SolverParameter(), error=SolverError)
    net_name = solver.net or solver.train_net
    if not net_name:
        raise SolverError(f"{request.solver}: the solver names no net (net: or train_net:)")
    net_path = _resolve(net_name, cwd)
    if not net_path.is_file():
        raise SolverError(
            f"net file named by {request.solver} not found: {net_path} "
            f"(relative paths are resolved from {cwd}, as Caffe does)"
        )
    net = read_text(net_path, pb.NetParameter(), error=SolverError)
    sources = data_sources(net, cwd)
    check_record_channels(net, lambda source: _resolve(source, cwd))
    state = read_solverstate(request.resume) if request.resume else None
    resumed_weights = _resolve(state.learned_net, cwd) if state and state.learned_net else None
    if resumed_weights and not resumed_weights.is_file():
        raise BadInput(
            f"{request.resume}: the weights it was saved with, {state.learned_net}, "
            f"are missing (Caffe reads them from {cwd})"
        )
    start_iter = state.iter if state else 0
    prefix = _resolve(solver.snapshot_prefix or net_path.stem, cwd)
    free_run_dir = default_run_dir(prefix)
    check_output_dir(prefix.parent)  # before Caffe's first snapshot fails, minutes in
    check_output_dir(request.out if request.out is not None else free_run_dir)
    refusal = request.out is not None and run_dir_refusal(Path(request.out), prefix)
    if refusal:
        raise BadInput(f"--out {refusal}")
    return TrainFacts(
        cwd=cwd,
        solver=solver,
        net_path=net_path,
        net=net,
        sources=sources,
        start_iter=start_iter,
        snapshot_prefix=prefix,
        later_snapshots=existing_snapshots(prefix, start_iter),
        run_dir_taken=request.out is not None and (Path(request.out) / CAFFE_LOG).exists(),
        free_run_dir=free_run_dir,
        cpu_only_build=cpu_only_build,
        resumed_weights=resumed_weights,
    )


def _resolve(path: str, cwd: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else cwd / p


def data_sources(net, cwd: Path) -> list[Path]:
    """The Data layers' databases, checked to exist and to be of their layer's backend."""
    problem = missing_data_source(net, cwd)
    if problem:
        raise DatabaseError(problem)
    return [_resolve(layer.data_param.source, cwd) for layer in net.layer if layer.type == "Data"]


def existing_snapshots(prefix: Path, after_iter: int) -> list[Path]:
    """Snapshots at this prefix beyond `after_iter`, which a new run could overwrite."""
    if not prefix.parent.is_dir():
        return []
    found = [
        (it, p)
        for p in prefix.parent.iterdir()
        if (it := snapshot_iteration(p.name, prefix.name)) is not None
    ]
    return [p for it, p in sorted(found) if it > after_iter]


def default_run_dir(prefix: Path) -> Path:
    """<prefix>_run, or _run2, _run3... so an earlier run's log is never overwritten and no
    folder that is not a run is written in."""
    base = prefix.parent / f"{prefix.name}{RUN_DIR_SUFFIX}"
    candidate, n = base, 1
    while (candidate / CAFFE_LOG).exists() or run_dir_refusal(candidate, prefix):
        n += 1
        candidate = base.with_name(f"{base.name}{n}")
    return candidate


def run_dir_refusal(path: Path, prefix: Path) -> str | None:
    """Why `path` cannot be a run directory, or None: one is new, empty, or holds only what a
    run writes (a run that stopped before Caffe started; snapshots at `prefix`). Never a
    database, a folder inside one, or a folder of other files."""
    resolved = Path(os.path.realpath(path))
    for folder in (resolved, *resolved.parents):
        backend = backend_at(folder)
        if backend:
            where = "is" if folder == resolved else f"lies inside {folder}, which is"
            return f"{path}: {where} a {backend} database; a run needs a folder of its own"
    if not resolved.is_dir():
        return None
    prefix = Path(os.path.realpath(prefix))
    others = sorted(
        name
        for name in os.listdir(resolved)
        if not _written_by_a_run(name, prefix.name if prefix.parent == resolved else None)
    )
    if others:
        more = f" and {len(others) - 1} more" if len(others) > 1 else ""
        return (
            f"{path}: holds other files ('{others[0]}'{more}), so it is not a caffesiam run "
            f"directory; choose a new folder"
        )
    return None


def _written_by_a_run(name: str, snapshot_name: str | None) -> bool:
    """A file train writes in a run directory (or its temporary while written), or a snapshot
    at `snapshot_name` when the snapshots go there too."""
    if name in RUN_FILES or any(name.startswith(f".{run_file}.") for run_file in RUN_FILES):
        return True
    return snapshot_name is not None and snapshot_iteration(name, snapshot_name) is not None
