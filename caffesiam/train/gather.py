"""Everything `train` checks and decides before Caffe starts (paths as Caffe resolves them).

Caffe resolves the solver's `net`, `snapshot_prefix` and the Data layers' sources relative to
its working directory, so every check here resolves them against `cwd`, where Caffe will run.
"""

import re
from pathlib import Path
from typing import List

from caffesiam.caffe.proto import caffe_pb2, read_text
from caffesiam.data.backends import is_database, layer_backend
from caffesiam.data.recordcheck import check_record_channels
from caffesiam.errors import BadInput, DatabaseError, OutputExists, SolverError
from caffesiam.files import read_file
from caffesiam.net.params import shared_param_names
from caffesiam.train.plan import TrainPlan


def _resolve(path: str, cwd: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else cwd / p


def data_sources(net, cwd: Path) -> List[Path]:
    """The Data layers' databases, checked to exist and to be of their layer's backend."""
    sources = []
    for layer in net.layer:
        if layer.type != "Data":
            continue
        backend = layer_backend(layer)
        path = _resolve(layer.data_param.source, cwd)
        if not path.exists():
            raise DatabaseError(f"data source of layer '{layer.name}' not found: {path}")
        if not is_database(path, backend):
            raise DatabaseError(f"data source of layer '{layer.name}' is not a {backend} database: {path}")
        sources.append(path)
    return sources


def solverstate_iter(path: Path) -> int:
    state = caffe_pb2().SolverState()
    data = read_file(path, BadInput, "solverstate", binary=True)
    try:
        state.ParseFromString(data)
    except Exception as e:  # protobuf raises DecodeError, or others on garbage
        raise BadInput(f"{path} is not a Caffe .solverstate") from e
    return state.iter


def existing_snapshots(prefix: Path, after_iter: int) -> List[Path]:
    """Snapshots at this prefix beyond `after_iter`, which a new run could overwrite."""
    pattern = re.compile(re.escape(prefix.name) + r"_iter_(\d+)\.(caffemodel|solverstate)(\.h5)?$")
    if not prefix.parent.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in prefix.parent.iterdir() if (m := pattern.match(p.name))]
    return [p for it, p in sorted(found) if it > after_iter]


def default_run_dir(prefix: Path) -> Path:
    """<prefix>_run, or _run2, _run3... so an earlier run's log is never overwritten."""
    base = prefix.parent / f"{prefix.name}_run"
    candidate, n = base, 1
    while (candidate / "caffe.log").exists():
        n += 1
        candidate = base.with_name(f"{base.name}{n}")
    return candidate


def plan_training(solver_path, cwd=None, gpu=None, cpu_only_build=True, weights=None, resume=None,
                  max_iter=None, out=None, force_cpu=False) -> TrainPlan:
    pb = caffe_pb2()
    cwd = Path(cwd or Path.cwd())
    solver_path = Path(solver_path)
    solver = read_text(solver_path, pb.SolverParameter(), error=SolverError)
    net_name = solver.net or solver.train_net
    if not net_name:
        raise SolverError(f"{solver_path}: the solver names no net (net: or train_net:)")
    net_path = _resolve(net_name, cwd)
    if not net_path.is_file():
        raise SolverError(f"net file named by {solver_path} not found: {net_path} "
                          f"(relative paths are resolved from {cwd}, as Caffe does)")
    net = read_text(net_path, pb.NetParameter(), error=SolverError)
    sources = data_sources(net, cwd)
    check_record_channels(net, lambda source: _resolve(source, cwd))

    for flag, path in (("--weights", weights), ("--resume", resume)):
        if path is not None and not Path(path).is_file():
            raise BadInput(f"{flag} file not found: {path}")
    start_iter = solverstate_iter(Path(resume)) if resume else 0

    if max_iter is not None:
        solver.max_iter = max_iter
    wants_gpu = gpu is not None or (solver.solver_mode == pb.SolverParameter.GPU and not force_cpu)
    if wants_gpu and cpu_only_build:
        how = "--gpu was given" if gpu is not None else f"{solver_path} says solver_mode: GPU (pass --cpu)"
        raise BadInput(f"this Caffe is a CPU-only build, but {how}")
    solver.solver_mode = pb.SolverParameter.GPU if wants_gpu else pb.SolverParameter.CPU
    shares = bool(shared_param_names(net))
    multi_gpu = gpu is not None and (gpu == "all" or "," in gpu)
    if multi_gpu and shares:  # Caffe #5538: layer-wise all-reduce breaks on shared params
        solver.layer_wise_reduce = False
    solver.snapshot_after_train = True  # so the first Ctrl-C leaves a snapshot

    prefix = _resolve(solver.snapshot_prefix or net_path.stem, cwd)
    clash = existing_snapshots(prefix, start_iter)
    if clash:
        raise OutputExists(f"snapshot {clash[0]} already exists and this run could overwrite it; "
                           f"continue it with --resume, or change snapshot_prefix")
    if out is not None:
        run_dir = Path(out)
        if (run_dir / "caffe.log").exists():
            raise OutputExists(f"{run_dir} already holds a run (caffe.log); choose another --out")
    else:
        run_dir = default_run_dir(prefix)
    return TrainPlan(solver_path=solver_path, solver=solver, cwd=cwd, net_path=net_path,
                     sources=sources, run_dir=run_dir, snapshot_prefix=prefix, start_iter=start_iter,
                     weights=Path(weights) if weights else None, resume=Path(resume) if resume else None,
                     gpu=gpu if wants_gpu else None, shares_params=shares)
