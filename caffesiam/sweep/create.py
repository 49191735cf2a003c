"""Making a sweep directory: a run directory per point, all made at once or none.

Each point's nets and solver are made by net.generate, the library gen-net and gen-solver call,
so they are the files that the commands in its command.sh would write.
"""

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from caffesiam.caffe import locate
from caffesiam.caffe.proto import to_text
from caffesiam.data.recordcheck import check_record_channels
from caffesiam.errors import CaffesiamError, SweepError
from caffesiam.files import default_mode, make_temporary, release_temporary, staged
from caffesiam.net.generate import deploy_net, solver_for, train_net
from caffesiam.spec.load import load_tower
from caffesiam.sweep.expand import Point, Recipe, Sweep
from caffesiam.sweep.layout import (
    DEPLOY_PROTOTXT,
    LOGS,
    NET_PROTOTXT,
    SNAPSHOT_PREFIX,
    SOLVER_PROTOTXT,
    SWEEP_JSON,
    SWEEP_YAML,
)
from caffesiam.sweep.rundirs import write_point, write_state
from caffesiam.train.gather import data_sources


def check_out_dir(out: Path, sweep: Sweep):
    """SweepError when the sweep directory, or any point's run directory, is already there."""
    if (out / SWEEP_JSON).exists():
        raise SweepError(
            f"{out} already holds a sweep; see `caffesiam sweep status {out}`, continue it with "
            f"`caffesiam sweep resume {out}`, or choose another --out"
        )
    for point in sweep.points:
        if (out / point.name).exists():
            raise SweepError(
                f"run directory {out / point.name} already exists and point {point.index} "
                f"would overwrite it; choose another --out"
            )
    if out.exists() and not out.is_dir():
        raise SweepError(f"{out} exists and is not a directory")


def create(
    sweep: Sweep,
    out: Path,
    sweep_file: Path,
    engine: dict,
    on_point: Callable[[Point], None] = lambda p: None,
) -> Path:
    """Make every run directory in a hidden temporary sibling, then move them into `out`; on any
    failure nothing is left, and a kill -9 leaves a temporary that the next command to write in
    that folder removes (files.make_temporary). `on_point` is called as each point's files are
    made."""
    check_out_dir(out, sweep)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp, hold = make_temporary(out, directory=True)
    try:
        os.chmod(tmp, default_mode(directory=True))  # mkdtemp makes it private
        layer_types = locate.layer_types()
        for point in sweep.points:
            _make_point(sweep, point, tmp / point.name, out / point.name, layer_types)
            on_point(point)
        (tmp / LOGS).mkdir()
        shutil.copyfile(sweep_file, tmp / SWEEP_YAML)
        write_state(
            tmp,
            {
                "name": sweep.name,
                "source": str(sweep_file),
                "keys": sweep.keys,
                "points": [p.name for p in sweep.points],
                "engine": engine,
                "slurm_jobs": [],
            },
        )
        if out.exists():  # an existing directory (checked above to hold none of our names)
            for entry in tmp.iterdir():
                entry.rename(out / entry.name)
            tmp.rmdir()
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        release_temporary(hold)
    return out


def make_point_files(recipe: Recipe, where: Path, layer_types=None):
    """The point's train net, deploy net and solver in `where`, as the gen-net and gen-solver
    commands of its command.sh make them; returns the train net."""
    tower = load_tower(recipe.spec, layer_types)
    net = train_net(tower, recipe.net, recipe.train_source, recipe.test_source)
    check_record_channels(net, only_existing=True)
    files = {
        NET_PROTOTXT: net,
        DEPLOY_PROTOTXT: deploy_net(tower, recipe.deploy),
        SOLVER_PROTOTXT: solver_for(NET_PROTOTXT, net, SNAPSHOT_PREFIX, recipe.solver),
    }
    with staged() as stage:
        for name, message in files.items():
            stage(where / name).write_text(to_text(message))
    return net


def _make_point(sweep: Sweep, point: Point, where: Path, final: Path, layer_types):
    (where / Path(SNAPSHOT_PREFIX).parent).mkdir(parents=True)
    write_point(point, where, final, sweep.name)
    try:
        net = make_point_files(sweep.recipes[point.index], where, layer_types)
        data_sources(net, where)  # exist and are of their backend, as `train` will check
    except CaffesiamError as e:
        error = SweepError if e.exit_code == 2 else CaffesiamError
        raise error(f"{sweep.source}: point {point.index} ({point.name}): {e}") from e
