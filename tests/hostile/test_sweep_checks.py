"""Class: a sweep checked piece by piece, after work has started. Every point's nets and solver,
the evaluate block, the engine's settings and the sweep's size are checked before anything is
made: a bad sweep is one line, exit 2, and the sweep folder is not made (or, for `resume`, not
changed). `resume` is held to the same rules as `run`."""

import os
import shutil

import numpy as np
import pytest
from conftest import REPO, write_pair_db

from caffesiam.limits import SWEEP_POINTS
from caffesiam.sweep.settings import EngineSettings, train_options
from caffesiam.train.checks import check_blas_threads
from hostile.helpers import changes, refused, run, snapshot

pytestmark = [pytest.mark.caffe, pytest.mark.slow]  # one process per case, some with Slurm

SETTINGS = (
    "{max_iter: 2, display: 1, test_interval: 1000, test_iter: 1, batch_size: 4, "
    "test_batch_size: 4, snapshot: 0, random_seed: 1}"
)


@pytest.fixture(scope="module")
def dbs(pair_db, tmp_path_factory):
    """(train, test): the hostile pair LevelDB and a copy (a training opens each once)."""
    test = tmp_path_factory.mktemp("test_db") / "test_leveldb"
    shutil.copytree(pair_db, test)
    return pair_db, test


def write_sweep(where, dbs, body="grid: {feature_size: [2, 3]}\n", **top) -> str:
    """A two-point LeNet sweep on the LevelDBs `dbs`, with `top` keys added."""
    path = where / "s.yaml"
    extra = "".join(f"{key}: {value}\n" for key, value in top.items())
    path.write_text(
        f"spec: {REPO / 'templates/lenet.yaml'}\n"
        f"databases: {{d: {{train: {dbs[0]}, test: {dbs[1]}}}}}\n"
        f"settings: {SETTINGS}\n{extra}{body}"
    )
    return path


def refused_untouched(where, *args, words=(), env=None):
    """`caffesiam sweep ARGS` is one line naming `words`, exit 2, and `where` is unchanged."""
    before = snapshot(where)
    line = refused(run("sweep", *args, cwd=where, env=env), 2, *words)
    assert changes(before, where) == set()
    return line


# --- the evaluate block: checked before any point trains --------------------------------------


@pytest.mark.parametrize(
    "evaluate, words",
    [
        ("{db: missing_db}", ["evaluate", "db", "missing_db", "not found"]),
        ("{db: plain_dir}", ["evaluate", "db", "plain_dir", "neither a LevelDB nor an LMDB"]),
        ("{db: a_file}", ["evaluate", "db", "a_file", "no such database directory"]),
        ('{db: ""}', ["evaluate", "db", "empty"]),
        ("{seed: -1}", ["evaluate", "seed", "-1"]),
        ("{seed: true}", ["evaluate", "seed", "True"]),
        ("{seed: 1.5}", ["evaluate", "seed", "1.5"]),
    ],
)
def test_a_bad_evaluate_block_is_refused_before_any_work(evaluate, words, tmp_path, dbs):
    (tmp_path / "plain_dir").mkdir()
    (tmp_path / "a_file").write_text("pairs\n")
    sweep = write_sweep(tmp_path, dbs, evaluate=evaluate)
    refused_untouched(tmp_path, sweep, words=words)


def test_an_evaluate_db_the_deploy_net_cannot_read_is_refused(tmp_path, dbs):
    """Pairs of 8x8 images for a net that takes 28x28: evaluate would fail after training."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 8, 8), dtype=np.uint8)
    small = write_pair_db(tmp_path / "small_lmdb", images[:2], images[2:], [1, 0], "lmdb")
    sweep = write_sweep(tmp_path, dbs, evaluate=f"{{db: {small}}}")
    refused_untouched(tmp_path, sweep, words=["evaluate", "small_lmdb", "2x8x8", "28x28"])


# --- the sweep's size: counted, never expanded -------------------------------------------------


def test_a_grid_of_a_million_points_is_refused_by_its_count(tmp_path, dbs):
    values = "[" + ", ".join(str(i) for i in range(1, 1001)) + "]"
    body = f"grid: {{random_seed: {values}, max_iter: {values}}}\n"
    line = refused_untouched(
        tmp_path, write_sweep(tmp_path, dbs, body), "--dry-run", words=["1,000,000 points"]
    )
    assert f"{SWEEP_POINTS:,}" in line


def test_a_grid_made_of_aliases_is_counted_without_expanding(tmp_path, dbs):
    values = "&v [" + ", ".join(str(i) for i in range(1, 1001)) + "]"
    body = f"grid: {{random_seed: {values}, max_iter: *v, feature_size: *v}}\n"
    refused_untouched(
        tmp_path, write_sweep(tmp_path, dbs, body), "--dry-run", words=["1,000,000,000"]
    )


def test_listed_points_count_with_the_grid(tmp_path, dbs):
    side = int(SWEEP_POINTS**0.5)
    seeds = "[" + ", ".join(str(i) for i in range(1, side + 1)) + "]"
    spare = SWEEP_POINTS - side * side + 1
    listed = "".join(f"  - {{random_seed: {-i}}}\n" for i in range(1, spare + 1))
    body = f"grid: {{random_seed: {seeds}, max_iter: {seeds}}}\npoints:\n{listed}"
    refused_untouched(
        tmp_path,
        write_sweep(tmp_path, dbs, body),
        "--dry-run",
        words=[f"{SWEEP_POINTS + 1:,} points"],
    )


# --- the engine's settings: the same rules for run and resume ----------------------------------


@pytest.fixture(scope="module")
def made_sweep(tmp_path_factory, dbs):
    """A two-point LevelDB sweep directory run with --jobs 1, then its points' outputs removed:
    two points that have not run."""
    root = tmp_path_factory.mktemp("made_sweep")
    done = run("sweep", write_sweep(root, dbs), "--jobs", 1, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    made = {"point.json", "command.sh", "net.prototxt", "deploy.prototxt", "solver.prototxt"}
    for point in (root / "s").glob("[0-9]_*"):
        for entry in point.iterdir():
            if entry.name not in made:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    return root / "s"


@pytest.fixture
def sweep_dir(made_sweep, tmp_path):
    copy = tmp_path / "s"
    shutil.copytree(made_sweep, copy)
    return copy


def test_resume_refuses_concurrent_points_on_a_leveldb_as_run_does(sweep_dir):
    refused_untouched(
        sweep_dir.parent,
        "resume",
        sweep_dir,
        "--jobs",
        2,
        words=["is a LevelDB, which only one training can open at a time"],
    )


@pytest.mark.parametrize("image", ["--privileged", "-v/:/host", "two words", "img\nx"])
def test_a_docker_image_that_is_not_a_name_is_refused_by_run(image, tmp_path, dbs):
    sweep = write_sweep(tmp_path, dbs)
    refused_untouched(tmp_path, sweep, "--docker", image, words=["--docker", "not an image name"])


def test_a_docker_image_that_is_not_a_name_is_refused_by_resume(sweep_dir):
    refused_untouched(
        sweep_dir.parent,
        "resume",
        sweep_dir,
        "--docker",
        "--privileged",
        words=["--docker", "not an image name"],
    )


@pytest.mark.parametrize(
    "settings, cores",
    [(EngineSettings("slurm", cpus_per_task=5000), 8), (EngineSettings("local", jobs=1), 5000)],
)
def test_the_engine_never_asks_train_for_more_blas_threads_than_it_takes(settings, cores):
    options = train_options(settings, cores)
    check_blas_threads(options[options.index("--blas-threads") + 1])


@pytest.fixture
def slurm_env(slurm):
    return dict(os.environ, **slurm.env)


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--partition", "nope"], ["Slurm", "partition"]),
        (["--time", "soon"], ["Slurm", "--time"]),
        (["--gpus", "1"], ["Slurm", "gres"]),
        (["--cpus-per-task", "999"], ["Slurm", "node configuration is not available"]),
    ],
)
def test_slurm_settings_the_cluster_refuses_are_refused_before_any_work(
    flags, words, slurm_env, tmp_path, dbs
):
    sweep = write_sweep(tmp_path, dbs)
    refused_untouched(tmp_path, sweep, "--engine", "slurm", "--jobs", 1, *flags, env=slurm_env)


def test_resume_checks_slurm_settings_before_rewriting_anything(sweep_dir, slurm_env):
    refused_untouched(
        sweep_dir.parent,
        "resume",
        sweep_dir,
        "--engine",
        "slurm",
        "--jobs",
        1,
        "--partition",
        "nope",
        env=slurm_env,
        words=["Slurm", "partition"],
    )


def test_a_path_with_a_nul_byte_is_bad_input(tmp_path, dbs):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        f'spec: "{REPO}/templates/lenet\\0.yaml"\n'
        f"databases: {{d: {{train: {dbs[0]}, test: {dbs[1]}}}}}\n"
        "points: [{max_iter: 2}]\n"
    )
    refused_untouched(tmp_path, sweep, words=["spec", "NUL"])
