"""What gen-net and gen-solver write, from a tower and settings named as in net.options: the
train_test net, the deploy net and the solver (no I/O). A sweep calls these for each point, so
that a point's files are the ones the commands would make."""

import dataclasses

from caffesiam.errors import SpecError
from caffesiam.net.options import NET, SOLVER
from caffesiam.net.siamese import build_deploy, build_siamese, with_feature_size
from caffesiam.net.solver import build_solver
from caffesiam.spec.params import shared_param_names
from caffesiam.spec.tower import Tower, resolve_loss


def train_net(tower: Tower, settings: dict, train_source=None, test_source=None):
    """The siamese (or triplet) train_test NetParameter of `tower` with the net settings
    (None or absent: the spec's); SpecError for settings that do not fit together."""
    tower = _configured(tower, settings)
    return build_siamese(
        tower,
        pseudo=bool(settings.get("pseudo")),
        train_source=train_source,
        test_source=test_source,
        batch_size=settings.get("batch_size"),
        test_batch_size=settings.get("test_batch_size"),
    )


def deploy_net(tower: Tower, settings: dict, batch: int = 1):
    """The deploy NetParameter: one tower of `tower` with the net settings, behind an Input."""
    return build_deploy(_configured(tower, settings), batch=batch)


def solver_for(net_path: str, net, snapshot_prefix: str, settings: dict, gpu: bool = False):
    """The SolverParameter for the train net `net` (found by Caffe at `net_path`) with the solver
    settings; SolverError for lr settings that do not fit the lr policy."""
    _known(settings, SOLVER)
    return build_solver(
        net_path,
        snapshot_prefix,
        shares_params=bool(shared_param_names(net)),
        gpu=gpu,
        **settings,
    )


def with_backend(tower: Tower, backend: str | None) -> Tower:
    """`tower` reading `backend`; default-named sources follow (x_leveldb -> x_lmdb)."""
    data = tower.data
    if backend is None or backend == data.backend:
        return tower
    rename = lambda s: s[: -len(data.backend)] + backend if s.endswith(data.backend) else s  # noqa: E731
    return dataclasses.replace(
        tower,
        data=dataclasses.replace(
            data,
            backend=backend,
            train_source=rename(data.train_source),
            test_source=rename(data.test_source),
        ),
    )


def _configured(tower: Tower, settings: dict) -> Tower:
    _known(settings, NET)
    loss, legacy, q = settings.get("loss"), settings.get("legacy_loss"), settings.get("q")
    if legacy and loss not in (None, "contrastive-legacy"):
        raise SpecError(f"--legacy-loss applies to contrastive losses, not {loss}")
    tower = with_backend(tower, settings.get("backend"))
    if settings.get("feature_size") is not None:
        tower = with_feature_size(tower, settings["feature_size"])
    resolved = resolve_loss(tower.loss, loss, settings.get("margin"), q, legacy)
    if q is not None and resolved.kind != "chopra2005":
        raise SpecError(f"--q applies to --loss chopra2005, not {resolved.kind}")
    return dataclasses.replace(tower, loss=resolved)


def _known(settings: dict, options: dict):
    unknown = sorted(set(settings) - set(options))
    if unknown:
        raise TypeError(f"not a setting of this table: {', '.join(unknown)}")
