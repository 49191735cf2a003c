"""Making a sweep directory: every point's files made and checked in memory first, then a run
directory per point, all written at once or none.

Each point's nets and solver are made by net.generate, the library gen-net and gen-solver call,
so they are the files that the commands in its command.sh would write.
"""

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from caffesiam.caffe import locate
from caffesiam.caffe.proto import to_text
from caffesiam.data.probe import detect_backend, open_elsewhere
from caffesiam.data.recordcheck import check_record_channels, sliced_sources
from caffesiam.errors import CaffesiamError, DatabaseError, SweepError
from caffesiam.evaluate.features import check_pair_db
from caffesiam.files import default_mode, make_temporary, release_temporary, staged
from caffesiam.net.generate import deploy_net, solver_for, train_net
from caffesiam.spec.load import load_tower
from caffesiam.spec.tower import Tower
from caffesiam.sweep.expand import Point, Recipe, Sweep, evaluate_db
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

PointFiles = dict[str, object]  # file name -> its NetParameter or SolverParameter


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


def point_files(
    sweep: Sweep, out: Path, on_point: Callable[[Point], None] = lambda p: None
) -> list[PointFiles]:
    """Every point's train net, deploy net and solver, made in memory as its gen-net and
    gen-solver commands make them, and checked as train and evaluate will check them: its
    databases are there and of their backend, their records fit its net, and its evaluate
    database holds pairs its deploy net reads. The first problem is a SweepError naming the
    point (a failure that is not bad input keeps its own kind). `on_point` as each is made."""
    layer_types = locate.layer_types()
    towers: dict[str, Tower] = {}
    checked: set = set()  # record checks already made: many points read the same databases
    made = []
    for point in sweep.points:
        recipe = sweep.recipes[point.index]
        try:
            if recipe.spec not in towers:
                towers[recipe.spec] = load_tower(recipe.spec, layer_types)
            tower = towers[recipe.spec]
            files = _files(tower, recipe)
            data_sources(files[NET_PROTOTXT], out / point.name)
            _check_records(files[NET_PROTOTXT], tower, evaluate_db(point), checked)
        except CaffesiamError as e:
            error = SweepError if e.exit_code == 2 else CaffesiamError
            raise error(f"{sweep.source}: point {point.index} ({point.name}): {e}") from e
        made.append(files)
        on_point(point)
    return made


def _files(tower: Tower, recipe: Recipe) -> PointFiles:
    net = train_net(tower, recipe.net, recipe.train_source, recipe.test_source)
    return {
        NET_PROTOTXT: net,
        DEPLOY_PROTOTXT: deploy_net(tower, recipe.deploy),
        SOLVER_PROTOTXT: solver_for(NET_PROTOTXT, net, SNAPSHOT_PREFIX, recipe.solver),
    }


def _check_records(net, tower: Tower, eval_db: str, checked: set):
    """The training databases' records fit the net's Slice, and the evaluate database's are
    pairs of the tower's input; a database another process holds open is read when it runs."""
    sources = tuple(sliced_sources(net))
    if sources not in checked:
        check_record_channels(net, only_existing=True)
        checked.add(sources)
    shape = (tower.data.channels, tower.data.height, tower.data.width)
    if (eval_db, shape) in checked:
        return
    if not Path(eval_db).exists():
        raise DatabaseError(f"evaluate db {eval_db} not found")
    try:
        detect_backend(eval_db)
        if open_elsewhere(eval_db) is None:
            check_pair_db(eval_db, shape)
    except DatabaseError as e:
        raise DatabaseError(f"evaluate db {e} (evaluate: db: in the sweep file)") from e
    checked.add((eval_db, shape))


def create(
    sweep: Sweep,
    out: Path,
    sweep_file: Path,
    engine: dict,
    files: list[PointFiles],
    on_point: Callable[[Point], None] = lambda p: None,
) -> Path:
    """Write every run directory, with the points' `files` (point_files'), in a hidden
    temporary sibling, then move them into `out`; on any failure nothing is left, and a kill -9
    leaves a temporary that the next command to write in that folder removes
    (files.make_temporary). `on_point` is called as each point's directory is written."""
    check_out_dir(out, sweep)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp, hold = make_temporary(out, directory=True)
    try:
        os.chmod(tmp, default_mode(directory=True))  # mkdtemp makes it private
        for point in sweep.points:
            _write_point(sweep, point, tmp / point.name, out / point.name, files[point.index])
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


def _write_point(sweep: Sweep, point: Point, where: Path, final: Path, files: PointFiles):
    (where / Path(SNAPSHOT_PREFIX).parent).mkdir(parents=True)
    write_point(point, where, final, sweep.name)
    with staged() as stage:
        for name, message in files.items():
            stage(where / name).write_text(to_text(message))
