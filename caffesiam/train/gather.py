"""The facts `train` decides on, read from disk before Caffe starts (paths as Caffe resolves them).

Caffe resolves the solver's `net`, `snapshot_prefix` and the Data layers' sources relative to
its working directory, so every path here is resolved against `cwd`, where Caffe will run.
Input that cannot be read or is not what it should be fails here; train.plan decides the rest.
"""

import re
from pathlib import Path
from typing import List

from caffesiam.caffe.proto import caffe_pb2, read_text
from caffesiam.data.backends import is_database, layer_backend
from caffesiam.data.recordcheck import check_record_channels
from caffesiam.errors import BadInput, DatabaseError, SolverError
from caffesiam.files import read_file
from caffesiam.train.plan import TrainFacts, TrainPlan, TrainRequest, decide


def plan_training(request: TrainRequest, cwd=None, cpu_only_build: bool = True) -> TrainPlan:
    """Gather the facts, then decide."""
    return decide(request, gather_facts(request, Path(cwd or Path.cwd()), cpu_only_build))


def gather_facts(request: TrainRequest, cwd: Path, cpu_only_build: bool) -> TrainFacts:
    pb = caffe_pb2()
    solver = read_text(request.solver, pb.SolverParameter(), error=SolverError)
    net_name = solver.net or solver.train_net
    if not net_name:
        raise SolverError(f"{request.solver}: the solver names no net (net: or train_net:)")
    net_path = _resolve(net_name, cwd)
    if not net_path.is_file():
        raise SolverError(f"net file named by {request.solver} not found: {net_path} "
                          f"(relative paths are resolved from {cwd}, as Caffe does)")
    net = read_text(net_path, pb.NetParameter(), error=SolverError)
    sources = data_sources(net, cwd)
    check_record_channels(net, lambda source: _resolve(source, cwd))
    for flag, path in (("--weights", request.weights), ("--resume", request.resume)):
        if path is not None and not Path(path).is_file():
            raise BadInput(f"{flag} file not found: {path}")
    start_iter = solverstate_iter(Path(request.resume)) if request.resume else 0
    prefix = _resolve(solver.snapshot_prefix or net_path.stem, cwd)
    return TrainFacts(cwd=cwd, solver=solver, net_path=net_path, net=net, sources=sources,
                      start_iter=start_iter, snapshot_prefix=prefix,
                      later_snapshots=existing_snapshots(prefix, start_iter),
                      run_dir_taken=request.out is not None and (Path(request.out) / "caffe.log").exists(),
                      free_run_dir=default_run_dir(prefix), cpu_only_build=cpu_only_build)


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
