"""caffesiam sweep: the pure expansion, bad input, and a real local sweep (real Caffe, real
Fashion-MNIST pairs in LMDB) with its status, resume and report."""

import csv
import json
import os
import shlex
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import REPO, run_tool
from PIL import Image

from caffesiam.caffe.proto import caffe_pb2, read_text
from caffesiam.errors import SweepError
from caffesiam.net.options import NET, SOLVER
from caffesiam.spec.yamlload import load_yaml
from caffesiam.sweep import engines, report, scripts
from caffesiam.sweep.create import create, point_files
from caffesiam.sweep.expand import expand
from caffesiam.sweep.task import train_argv

pytestmark = pytest.mark.caffe  # the runs need Caffe; the nets and solvers its caffe_pb2

NET_KEYS, SOLVER_KEYS = frozenset(NET), frozenset(SOLVER)


def plan(text, source="/w/s.yaml", train_options=("--blas-threads", "1")):
    return expand(load_yaml(textwrap.dedent(text), source), source, "/w", train_options)


BASE = """\
    spec: towers/t.yaml
    databases:
      plain: {train: data/a_lmdb, test: data/t_lmdb}
      aug: {train: /abs/b_lmdb, test: data/t_lmdb}
    settings: {backend: lmdb, max_iter: 300, weight_decay: 0.0005}
"""


def test_override_keys_are_the_net_and_solver_settings():
    assert {
        "feature_size",
        "loss",
        "margin",
        "q",
        "legacy_loss",
        "batch_size",
        "pseudo",
    } <= NET_KEYS
    assert {
        "max_iter",
        "random_seed",
        "base_lr",
        "lr_policy",
        "gamma",
        "stepvalue",
        "weight_decay",
    } <= SOLVER_KEYS
    managed = {"output", "deploy", "train_source", "test_source", "snapshot_prefix", "cpu"}
    assert not managed & (NET_KEYS | SOLVER_KEYS)


def test_grid_expands_to_every_combination_in_order_with_names_and_commands():
    sweep = plan(
        BASE
        + """\
    grid:
      feature_size: [2, 16]
      loss: [contrastive, chopra2005]
      database: [plain, aug]
    points:
      - {feature_size: 32, database: plain, stepvalue: [100, 200], lr_policy: multistep,
         legacy_loss: true}
    evaluate: {db: data/held_out_lmdb, seed: 3}
    """
    )
    assert len(sweep.points) == 9 and [p.index for p in sweep.points] == list(range(9))
    assert [tuple(p.overrides.values()) for p in sweep.points[:4]] == [
        (2, "contrastive", "plain"),
        (2, "contrastive", "aug"),
        (2, "chopra2005", "plain"),
        (2, "chopra2005", "aug"),
    ]
    assert sweep.keys == [
        "feature_size",
        "loss",
        "database",
        "stepvalue",
        "lr_policy",
        "legacy_loss",
    ]
    first, last = sweep.points[0], sweep.points[-1]
    assert first.name == "0_feature_size-2_loss-contrastive_database-plain"
    assert (
        last.name
        == "8_feature_size-32_database-plain_stepvalue-100+200_lr_policy-multistep_legacy_loss-on"
    )
    assert last.varying == {
        "feature_size": 32,
        "database": "plain",
        "stepvalue": [100, 200],
        "lr_policy": "multistep",
        "legacy_loss": True,
    }
    assert first.settings == {
        "backend": "lmdb",
        "max_iter": 300,
        "weight_decay": 0.0005,
        "feature_size": 2,
        "loss": "contrastive",
        "database": "plain",
    }
    assert first.commands == {
        "gen-net": [
            "gen-net",
            "/w/towers/t.yaml",
            "--backend",
            "lmdb",
            "--feature-size",
            "2",
            "--loss",
            "contrastive",
            "--train-source",
            "/w/data/a_lmdb",
            "--test-source",
            "/w/data/t_lmdb",
            "-o",
            "net.prototxt",
        ],
        "gen-net --deploy": [
            "gen-net",
            "/w/towers/t.yaml",
            "--deploy",
            "--feature-size",
            "2",
            "-o",
            "deploy.prototxt",
        ],
        "gen-solver": [
            "gen-solver",
            "net.prototxt",
            "--snapshot-prefix",
            "snap/net",
            "--max-iter",
            "300",
            "--weight-decay",
            "0.0005",
            "-o",
            "solver.prototxt",
        ],
        "train": ["train", "solver.prototxt", "--out", "train", "--blas-threads", "1"],
        "evaluate": [
            "evaluate",
            "--model",
            "deploy.prototxt",
            "--weights",
            "snap/net_iter_300.caffemodel",
            "--train-net",
            "net.prototxt",
            "--db",
            "/w/data/held_out_lmdb",
            "--seed",
            "3",
            "--json",
            "eval.json",
            "--roc",
            "roc.png",
        ],
    }
    assert sweep.points[1].commands["gen-net"][9] == "/abs/b_lmdb"
    assert last.commands["gen-net"][2:6] == ["--backend", "lmdb", "--feature-size", "32"]
    assert "--legacy-loss" in last.commands["gen-net"]
    assert last.commands["gen-solver"][4:] == [
        "--max-iter",
        "300",
        "--weight-decay",
        "0.0005",
        "--stepvalue",
        "100",
        "--stepvalue",
        "200",
        "--lr-policy",
        "multistep",
        "-o",
        "solver.prototxt",
    ]
    assert sweep.database_paths == [
        "/abs/b_lmdb",
        "/w/data/a_lmdb",
        "/w/data/held_out_lmdb",
        "/w/data/t_lmdb",
    ]


def test_a_single_database_needs_no_database_key_and_points_alone_make_a_sweep():
    sweep = plan("""\
    spec: t.yaml
    databases: {only: {train: a, test: b}}
    points: [{random_seed: 1}, {random_seed: 2, max_iter: 10}]
    """)
    assert [p.name for p in sweep.points] == ["0_random_seed-1", "1_random_seed-2_max_iter-10"]
    assert sweep.points[0].settings["database"] == "only"
    assert (
        sweep.points[0].final_weights == "snap/net_iter_50000.caffemodel"
    )  # gen-solver's default max_iter
    assert sweep.points[1].final_weights == "snap/net_iter_10.caffemodel"
    assert sweep.points[0].commands["evaluate"][8] == "/w/b"  # evaluated on its own test database


def test_paths_expand_variables_and_home_then_follow_the_sweep_file(monkeypatch):
    monkeypatch.setenv("SWEEP_DATA", "/data/fashion")
    monkeypatch.setenv("HOME", "/home/u")
    sweep = plan("""\
    spec: ~/towers/t.yaml
    databases: {d: {train: $SWEEP_DATA/train_lmdb, test: ../test_lmdb}}
    points: [{max_iter: 5}]
    """)
    gen_net = sweep.points[0].commands["gen-net"]
    assert gen_net[1] == "/home/u/towers/t.yaml"
    assert gen_net[2:6] == [
        "--train-source",
        "/data/fashion/train_lmdb",
        "--test-source",
        "/test_lmdb",
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        (
            BASE + "    grid: {feature_sise: [2, 3]}\n",
            "s.yaml:6: grid: unknown override key 'feature_sise'",
        ),
        (
            BASE + "    settings2: {}\n    grid: {loss: [triplet]}\n",
            "unknown top-level key 'settings2'",
        ),
        (BASE + "    grid: {}\n", "s.yaml:6: the grid is empty"),
        (
            BASE + "    grid: {loss: []}\n",
            "grid key 'loss' needs a non-empty list of values, got []",
        ),
        (BASE + "    grid: {loss: contrastive}\n", "grid key 'loss' needs a non-empty list"),
        (BASE, "the sweep has no grid and no points"),
        (BASE + "    points: []\n", "points must be a non-empty list"),
        (BASE + "    points: [{random_seed: 1}]\n", "set database: (one of aug, plain)"),
        (
            BASE + "    grid: {database: [plain, augmented]}\n",
            "database must be one of aug, plain, got 'augmented'",
        ),
        (
            BASE + "    grid: {database: [plain]}\n    points: [{database: plain}]\n",
            "the same settings as point 0",
        ),
        (BASE + "    grid: {train_source: [x]}\n", "unknown override key 'train_source'"),
        (
            BASE.replace("train: data/a_lmdb, ", "") + "    grid: {loss: [x]}\n",
            "database 'plain' needs exactly train:",
        ),
        ("spec: t.yaml\ngrid: {loss: [a]}\n", "missing 'databases'"),
        (
            BASE + "    evaluate: {seed: one}\n    grid: {loss: [a]}\n",
            "s.yaml:6: evaluate: seed: 'one' is not a valid integer",
        ),
        (
            BASE + "    grid: {database: [plain], max_iter: [100, abc]}\n",
            "max_iter=abc): max_iter must be a positive integer",
        ),
        (
            BASE.replace("max_iter: 300", "max_iter: 0") + "    points: [{database: plain}]\n",
            "max_iter must be a positive",
        ),
        (
            BASE + "    grid: {loss: [null]}\n",
            "s.yaml:6: grid: 'loss': None is not an option's value",
        ),
        (
            BASE + "    points: [{database: plain, margin: {a: 1}}]\n",
            "points[0]: 'margin': {'a': 1} is not an option's",
        ),
    ],
)
def test_bad_sweep_files_name_the_problem(text, message):
    with pytest.raises(SweepError) as caught:
        plan(text)
    assert message in str(caught.value)


def test_a_stopped_training_continues_from_its_last_whole_snapshot(tmp_path):
    point = plan(BASE + "    points: [{database: plain}]\n").points[0]
    argv = train_argv(point, tmp_path)
    assert argv == [
        "train",
        "solver.prototxt",
        "--out",
        "train",
        "--blas-threads",
        "1",
    ]  # a first attempt
    (tmp_path / "train").mkdir()
    (tmp_path / "snap").mkdir()
    assert train_argv(point, tmp_path)[2:4] == [
        "--out",
        "train_2",
    ]  # no snapshot: afresh
    for it in (100, 200):
        (tmp_path / f"snap/net_iter_{it}.solverstate").write_bytes(
            caffe_pb2()
            .SolverState(iter=it, learned_net=f"snap/net_iter_{it}.caffemodel")
            .SerializeToString()
        )
        (tmp_path / f"snap/net_iter_{it}.caffemodel").write_bytes(b"weights")
    (tmp_path / "snap/net_iter_300.caffemodel").write_bytes(
        b"half"
    )  # killed before its solverstate
    (tmp_path / "snap/net_iter_400.solverstate").write_bytes(
        b"\xff\xff\xff"
    )  # cut short: unreadable
    (tmp_path / "train_2").mkdir()
    log = []
    argv = train_argv(point, tmp_path, log.append)
    assert argv[2:] == [
        "--out",
        "train_3",
        "--blas-threads",
        "1",
        "--resume",
        "snap/net_iter_200.solverstate",
    ]
    assert sorted(p.name for p in (tmp_path / "snap/stale").iterdir()) == [
        "net_iter_300.caffemodel",
        "net_iter_400.solverstate",
    ]
    assert "moved snap/net_iter_300.caffemodel to snap/stale/" in "".join(log)


@pytest.fixture(scope="module")
def tiny_lmdb_pairs(tmp_path_factory):
    """Train and test pair LMDBs of a few random 28x28 images: enough to make nets from."""
    import numpy as np
    from conftest import write_pair_db

    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("tiny_pairs")
    images = rng.integers(0, 256, (8, 28, 28), dtype=np.uint8)
    return {
        split: write_pair_db(root / f"{split}_lmdb", images[:4], images[4:], [1, 0, 1, 0], "lmdb")
        for split in ("train", "test")
    }


MADE = {
    "net.prototxt": "NetParameter",
    "deploy.prototxt": "NetParameter",
    "solver.prototxt": "SolverParameter",
}


def test_a_points_files_are_the_ones_its_command_sh_commands_make(
    tmp_path, tiny_lmdb_pairs, cli, monkeypatch
):
    """The sweep makes each point's files through the library; running the gen-net and
    gen-solver commands that its command.sh shows gives the same bytes and messages."""
    sweep_file = tmp_path / "made.yaml"
    train, test = tiny_lmdb_pairs["train"], tiny_lmdb_pairs["test"]
    sweep_file.write_text(
        f"spec: {REPO / 'templates/lenet.yaml'}\n"
        f"databases: {{d: {{train: {train}, test: {test}}}}}\n"
        "settings: {backend: lmdb, random_seed: 7, max_iter: 40}\n"
        "points:\n"
        "  - {loss: chopra2005, q: 3, feature_size: 4, lr_policy: multistep, stepvalue: [10, 20]}\n"
        "  - {pseudo: true, legacy_loss: true, batch_size: 8, weight_decay: 1e-4, margin: 2}\n"
        "  - {lr_policy: step, stepsize: 5, gamma: 0.5, base_lr: 0.02, test_batch_size: 4}\n"
    )
    sweep = expand(
        load_yaml(sweep_file.read_text(), str(sweep_file)), str(sweep_file), str(tmp_path)
    )
    files = point_files(sweep, tmp_path / "made")
    out = create(sweep, tmp_path / "made", sweep_file, {"engine": "local"}, files)
    for point in sweep.points:
        script = (out / point.name / "command.sh").read_text()
        made = [shlex.split(line[4:]) for line in script.splitlines() if line.startswith("#   ")]
        assert [argv[len(scripts.caffesiam_argv())] for argv in made] == [
            "gen-net",
            "gen-net",
            "gen-solver",
        ]
        by_cli = tmp_path / f"cli_{point.index}"
        by_cli.mkdir()
        monkeypatch.chdir(by_cli)
        for argv in made:
            result = cli(*argv[len(scripts.caffesiam_argv()) :])
            assert result.exit_code == 0, result.stderr
        for name, message in MADE.items():
            ours, theirs = (out / point.name / name), (by_cli / name)
            assert ours.read_bytes() == theirs.read_bytes(), (point.name, name)
            pb = caffe_pb2()
            assert read_text(ours, getattr(pb, message)()) == read_text(
                theirs, getattr(pb, message)()
            )
    solver = read_text(
        out / sweep.points[0].name / "solver.prototxt", caffe_pb2().SolverParameter()
    )
    assert list(solver.stepvalue) == [10, 20] and solver.random_seed == 7
    net = read_text(out / sweep.points[1].name / "net.prototxt", caffe_pb2().NetParameter())
    assert not any(p.name for layer in net.layer for p in layer.param)  # pseudo: nothing shared


def test_command_sh_runs_only_its_own_commands_whatever_the_names(tmp_path):
    """A sweep name, a path and a directory with line breaks, quotes and command substitutions:
    sh runs cd, train and evaluate with those values intact, and nothing else."""
    hostile = "x\ntouch INJECTED #\r'\"$(touch INJECTED)`touch INJECTED`;"
    doc = {
        "spec": "t.yaml",
        "databases": {"d": {"train": "a", "test": f"/data/{hostile}"}},
        "points": [{"random_seed": 1}],
    }
    point = expand(doc, "s.yaml", "/w", ["--docker", hostile]).points[0]
    stub = tmp_path / "caffesiam"
    stub.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "with open(os.environ['CALLS'], 'a') as f:\n"
        "    f.write(json.dumps([os.getcwd(), *sys.argv[1:]]) + '\\n')\n"
    )
    stub.chmod(0o755)
    where = tmp_path / f"run {hostile}"
    where.mkdir()
    script = tmp_path / "command.sh"
    script.write_text(scripts.command_script(point, where, hostile, [str(stub)]))
    calls = tmp_path / "calls"
    done = subprocess.run(
        ["sh", str(script)], cwd=tmp_path, env=dict(os.environ, CALLS=str(calls)), text=True
    )
    assert done.returncode == 0
    ran = [json.loads(line) for line in calls.read_text().splitlines()]
    assert ran == [
        [str(where), *point.commands["train"]],
        [str(where), *point.commands["evaluate"]],
    ]
    assert point.commands["evaluate"][8] == f"/data/{hostile}"
    assert not list(tmp_path.rglob("INJECTED"))


def test_slurm_argv_and_script():
    options = engines.SlurmOptions(
        partition="gpu", time="01:30:00", cpus_per_task=4, gpus=1, throttle=2
    )
    argv = engines.sbatch_argv(
        "/usr/bin/sbatch",
        Path("/s/sweep.sbatch"),
        [0, 1, 2, 3, 7, 9, 10],
        "caffesiam-x",
        Path("/s/logs"),
        options,
    )
    assert argv == [
        "/usr/bin/sbatch",
        "--parsable",
        "--job-name=caffesiam-x",
        "--array=0-3,7,9-10%2",
        "--output=/s/logs/slurm-%A_%a.out",
        "--cpus-per-task=4",
        "--partition=gpu",
        "--time=01:30:00",
        "--gres=gpu:1",
        "/s/sweep.sbatch",
    ]
    plain = engines.sbatch_argv(
        "sbatch", Path("s.sbatch"), [4], "n", Path("l"), engines.SlurmOptions()
    )
    assert plain == [
        "sbatch",
        "--parsable",
        "--job-name=n",
        "--array=4",
        "--output=l/slurm-%A_%a.out",
        "--cpus-per-task=1",
        "s.sbatch",
    ]
    script = scripts.batch_script(Path("/s"))
    assert script.startswith("#!/bin/sh\n") and script.rstrip().endswith(
        'sweep run-point /s "$SLURM_ARRAY_TASK_ID"'
    )
    for name in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
    ):  # Caffe's OpenMP pool or its BLAS; evaluate's too
        assert f"\nexport {name}=${{SLURM_CPUS_PER_TASK:-1}}\n" in script


def test_squeue_and_sacct_output_parsing():
    # As Slurm 22.05 prints them (squeue --array --states=all; sacct, sacct --completion).
    queued = engines.parse_squeue(
        "7_1|CANCELLED|None\n7_2|PENDING|Resources\n7_0|RUNNING|None\n8|RUNNING|None\n"
    )
    assert queued == {
        ("7", 1): engines.TaskState("CANCELLED"),
        ("7", 2): engines.TaskState("PENDING", "Resources"),
        ("7", 0): engines.TaskState("RUNNING"),
    }
    accounted = engines.parse_sacct(
        "12_0|COMPLETED|0:0\n12_1|CANCELLED by 1000|0:15\n12_[2-5]|PENDING|0:0\n"
        "sacct: error: Unknown type ArrayJobId: 1\n15|TIMEOUT|0:0\n"
    )
    assert accounted == {
        "12_0": engines.TaskState("COMPLETED", "exit 0:0", "sacct"),
        "12_1": engines.TaskState("CANCELLED", "exit 0:15", "sacct"),
        "15": engines.TaskState("TIMEOUT", "exit 0:0", "sacct"),
    }


def test_training_totals_sum_the_attempts_and_drop_a_cpu_time_that_is_not_caffes():
    first = {
        "process": "caffe",
        "wall_seconds": 10.0,
        "cpu_seconds": 18.0,
        "start_iteration": 0,
        "last_iteration": 3000,
    }
    resumed = {
        "process": "caffe",
        "wall_seconds": 15.0,
        "cpu_seconds": 29.0,
        "start_iteration": 2000,
        "last_iteration": 6500,
    }
    assert report.training_totals([first, resumed]) == {
        "iterations": 7500,
        "train_seconds": 25.0,
        "train_cpu_seconds": 47.0,
        "iters_per_s": 300.0,
    }
    in_container = dict(resumed, process="caffe in the container")  # as its entry reported it
    assert report.training_totals([first, in_container])["train_cpu_seconds"] == 47.0
    client_timed = dict(resumed, process="docker")  # a run from before containers reported it
    killed = dict(resumed, process="caffe in the container", cpu_seconds=None)  # no report
    for attempt in (client_timed, killed):
        totals = report.training_totals([first, attempt])
        assert totals["train_cpu_seconds"] is None and totals["train_seconds"] == 25.0
    assert report.training_totals([{}]) == {
        "iterations": None,
        "train_seconds": None,
        "train_cpu_seconds": None,
        "iters_per_s": None,
    }


@pytest.mark.slow
def test_sbatch_missing_is_bad_input_naming_the_debian_package(tmp_path, lmdb_pairs):
    sweep_file = tiny_sweep(tmp_path, lmdb_pairs)
    out = run_tool(
        "sweep", sweep_file, "--engine", "slurm", env=dict(os.environ, PATH="/nonexistent")
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        "caffesiam: error: --engine slurm needs sbatch, which is not on PATH "
        "(Debian: apt-get install slurm-client)"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]


def tiny_sweep(
    where: Path,
    dbs,
    grid="feature_size: [2, 4]\n  loss: [contrastive, chopra2005]",
    name="tiny",
    max_iter=30,
    snapshot=5000,
) -> Path:
    path = where / f"{name}.yaml"
    path.write_text(
        f"spec: {REPO / 'templates/lenet.yaml'}\n"
        f"databases:\n  fashion: {{train: {dbs['train']}, test: {dbs['test']}}}\n"
        f"settings: {{backend: lmdb, max_iter: {max_iter}, test_interval: 10, test_iter: 2, "
        f"display: 10, batch_size: 16, test_batch_size: 20, random_seed: 1, "
        f"snapshot: {snapshot}}}\n"
        f"grid:\n  {grid}\n"
    )
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda t: t.replace("grid:\n", "grid:\n  margn: [1, 2]\n"),
            "tiny.yaml:6: grid: unknown override key 'margn'",
        ),
        (lambda t: t.split("grid:")[0] + "grid: {}\n", "tiny.yaml:5: the grid is empty"),
        (
            lambda t: t.replace("[contrastive, chopra2005]", "[contrastive, chopra]"),
            "Invalid value for '--loss'",
        ),
        (lambda t: t + "  q: [3]\n", "--q applies to --loss chopra2005, not contrastive"),
        (
            lambda t: t.replace("lenet.yaml", "nonexistent.yaml"),
            "nonexistent.yaml: no such spec file",
        ),
        (lambda t: t.replace("train_lmdb", "missing_lmdb"), "not found"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_makes_nothing(tmp_path, lmdb_pairs, edit, message):
    sweep_file = tiny_sweep(tmp_path, lmdb_pairs)
    sweep_file.write_text(edit(sweep_file.read_text()))
    out = run_tool("sweep", sweep_file)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in out.stderr, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]  # no sweep dir, no temp dir


@pytest.mark.slow
def test_leveldb_with_concurrent_points_is_refused(tmp_path, fashion_pair_dbs):
    sweep_file = tiny_sweep(tmp_path, {k: str(v) for k, v in fashion_pair_dbs.items()})
    sweep_file.write_text(sweep_file.read_text().replace("backend: lmdb, ", ""))
    out = run_tool("sweep", sweep_file, "--jobs", "2")
    assert (
        out.returncode == 2
        and "is a LevelDB, which only one training can open at a time" in out.stderr
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory, lmdb_pairs):
    """A 2 x 2 sweep run to the end by the local engine, two points at a time."""
    where = tmp_path_factory.mktemp("local_sweep")
    sweep_file = tiny_sweep(where, lmdb_pairs)
    out = run_tool("sweep", sweep_file, "--jobs", "2", cwd=where)
    assert out.returncode == 0, out.stderr[-3000:]
    return where / "tiny", out


@pytest.mark.slow
def test_local_sweep_trains_and_evaluates_every_point(local_sweep):
    sweep_dir, out = local_sweep
    names = json.loads((sweep_dir / "sweep.json").read_text())["points"]
    assert names == [
        "0_feature_size-2_loss-contrastive",
        "1_feature_size-2_loss-chopra2005",
        "2_feature_size-4_loss-contrastive",
        "3_feature_size-4_loss-chopra2005",
    ]
    assert "4 done (of 4)" in out.stdout
    for name in names:
        point = sweep_dir / name
        evaluation = json.loads((point / "eval.json").read_text())
        assert evaluation["pairs"] == 200 and evaluation["feature_dims"] == (
            2 if "size-2" in name else 4
        )
        assert json.loads((point / "task.json").read_text())["state"] == "done"
        assert (point / "snap/net_iter_30.caffemodel").exists()
        usage = json.loads((point / "train/usage.json").read_text())
        assert usage["last_iteration"] == 30 and usage["cpu_seconds"] > 0
        threads = max(1, (os.cpu_count() or 1) // 2)  # this machine's cores, 2 points at a time
        assert f"--blas-threads {threads}\n" in (point / "command.sh").read_text()


@pytest.mark.slow
def test_each_run_directory_holds_what_its_recorded_commands_make(local_sweep, tmp_path):
    """Rerun the gen-net/gen-solver lines of command.sh elsewhere: the same messages come out."""
    sweep_dir, _ = local_sweep
    point = sweep_dir / "3_feature_size-4_loss-chopra2005"
    made = [
        line[4:]
        for line in (point / "command.sh").read_text().splitlines()
        if line.startswith("#   ")
    ]
    assert len(made) == 3
    for line in made:
        subprocess.run(shlex.split(line), cwd=tmp_path, check=True, capture_output=True)
    for name, message in (
        ("net.prototxt", "NetParameter"),
        ("deploy.prototxt", "NetParameter"),
        ("solver.prototxt", "SolverParameter"),
    ):
        pb = caffe_pb2()
        assert read_text(tmp_path / name, getattr(pb, message)()) == read_text(
            point / name, getattr(pb, message)()
        )
    net = read_text(point / "net.prototxt", caffe_pb2().NetParameter())
    assert any(layer.name == "loss_different_exp" for layer in net.layer)  # chopra2005
    feat = next(layer for layer in net.layer if layer.name == "feat")
    assert feat.inner_product_param.num_output == 4


@pytest.mark.slow
def test_report_writes_one_row_per_point_from_the_run_directories(local_sweep, tmp_path):
    sweep_dir, _ = local_sweep
    out = run_tool("sweep", "report", sweep_dir, "--out", tmp_path / "docs")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader((tmp_path / "docs/results.csv").open()))
    assert [r["point"] for r in rows] == json.loads((sweep_dir / "sweep.json").read_text())[
        "points"
    ]
    assert list(rows[0])[:4] == ["index", "point", "feature_size", "loss"]
    for row in rows:
        evaluation = json.loads((sweep_dir / row["point"] / "eval.json").read_text())
        usage = json.loads((sweep_dir / row["point"] / "train/usage.json").read_text())
        assert float(row["accuracy"]) == evaluation["best_threshold_accuracy"]
        assert float(row["auc"]) == pytest.approx(evaluation["auc"])
        assert float(row["eer"]) == pytest.approx(evaluation["eer"])
        assert int(row["iterations"]) == 30
        assert float(row["train_cpu_seconds"]) == pytest.approx(usage["cpu_seconds"], abs=0.05)
        assert float(row["iters_per_s"]) == pytest.approx(30 / usage["wall_seconds"], rel=0.02)
    for png in ("curves.png", "accuracy.png"):
        assert Image.open(tmp_path / "docs" / png).format == "PNG"
    results = report.collect(sweep_dir)
    assert [len(r.test_loss) for r in results] == [4, 4, 4, 4]  # tests at 0, 10, 20, 30
    assert report.label(results[3].point) == "feature_size=4 loss=chopra2005"


@pytest.mark.slow
def test_an_existing_run_directory_is_never_overwritten(local_sweep, tmp_path):
    sweep_dir, _ = local_sweep
    before = (sweep_dir / "sweep.json").read_text()
    out = run_tool("sweep", sweep_dir.with_suffix(".yaml"), "--out", sweep_dir)
    assert (
        out.returncode == 2
        and "already holds a sweep" in out.stderr
        and len(out.stderr.splitlines()) == 1
    )
    assert (sweep_dir / "sweep.json").read_text() == before
    other = tmp_path / "other"
    (other / "1_feature_size-2_loss-chopra2005").mkdir(parents=True)
    out = run_tool("sweep", sweep_dir.with_suffix(".yaml"), "--out", other)
    assert out.returncode == 2, out.stderr
    assert "run directory" in out.stderr and "point 1 would overwrite it" in out.stderr
    assert [p.name for p in other.iterdir()] == ["1_feature_size-2_loss-chopra2005"]


@pytest.mark.slow
def test_status_tells_waiting_points_from_abandoned_ones(tmp_path, lmdb_pairs):
    import socket

    from caffesiam.sweep import rundirs
    from caffesiam.sweep.status import sweep_status

    sweep_file = tiny_sweep(tmp_path, lmdb_pairs)
    sweep = expand(
        load_yaml(sweep_file.read_text(), str(sweep_file)), str(sweep_file), str(tmp_path)
    )
    files = point_files(sweep, tmp_path / "made")
    out = create(sweep, tmp_path / "made", sweep_file, {"engine": "local"}, files)
    assert [s.state for s in sweep_status(out)] == ["not started"] * 4
    gone = subprocess.Popen(["true"])
    gone.wait()
    state = rundirs.read_state(out)
    rundirs.write_state(
        out,
        {
            **state,
            "local_pool": {"host": socket.gethostname(), "pid": os.getpid(), "indices": [1, 2]},
        },
    )
    (out / sweep.points[2].name / "task.json").write_text(
        json.dumps({"state": "running", "host": socket.gethostname(), "pid": gone.pid})
    )
    statuses = sweep_status(out)
    assert [s.state for s in statuses] == ["not started", "pending", "failed", "not started"]
    assert statuses[1].detail == f"waiting in the local pool (pid {os.getpid()})"
    assert statuses[2].detail == "its process is gone (killed?)"
    rundirs.write_state(
        out,
        {**state, "local_pool": {"host": socket.gethostname(), "pid": gone.pid, "indices": [1]}},
    )
    assert sweep_status(out)[1].state == "not started"  # the pool that would have run it is gone


@pytest.mark.slow
def test_resume_runs_only_the_unfinished_points(local_sweep):
    """A point whose evaluation was lost is evaluated again (its training is done); the others
    stay."""
    sweep_dir, _ = local_sweep
    lost = sweep_dir / "2_feature_size-4_loss-contrastive"
    (lost / "eval.json").unlink()
    kept = {p: p.stat().st_mtime_ns for p in sweep_dir.glob("*/eval.json")}
    status = run_tool("sweep", "status", sweep_dir)
    assert status.returncode == 0
    assert "2_feature_size-4_loss-contrastive  failed" in status.stdout
    assert "3 done, 1 failed (of 4)" in status.stdout and "caffesiam sweep resume" in status.stdout
    out = run_tool("sweep", "resume", sweep_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "resuming 1 point(s): 2" in out.stdout
    assert (lost / "eval.json").exists() and not (
        lost / "train_2"
    ).exists()  # trained once, evaluated again
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert "4 done (of 4)" in run_tool("sweep", "status", sweep_dir).stdout


# --- a real Slurm ------------------------------------------------------------------------------


def _wait_until(ready, what, timeout=600):
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_slurm_array_runs_every_point_and_a_cancelled_task_resumes(
    slurm, tmp_path, lmdb_pairs, monkeypatch
):
    from caffesiam.sweep.status import sweep_status

    for key, value in slurm.env.items():
        monkeypatch.setenv(key, value)
    sweep_file = tiny_sweep(
        tmp_path,
        lmdb_pairs,
        grid="feature_size: [2, 3, 4]",
        name="onslurm",
        max_iter=50,
        snapshot=10,
    )
    out = run_tool("sweep", sweep_file, "--engine", "slurm", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    sweep_dir = tmp_path / "onslurm"
    state = json.loads((sweep_dir / "sweep.json").read_text())
    job = state["slurm_jobs"][0]["id"]
    assert f"submitted Slurm array job {job} (3 task(s))" in out.stdout
    assert (
        state["slurm_jobs"][0]["indices"] == [0, 1, 2]
        and "--array=0-2" in state["slurm_jobs"][0]["sbatch"]
    )

    victim = sweep_dir / "1_feature_size-3"  # cancelled once it has a snapshot to continue from
    _wait_until(
        lambda: (victim / "snap/net_iter_10.solverstate").exists(), "point 1's first snapshot"
    )
    subprocess.run(["scancel", f"{job}_1"], check=True)

    def settled():
        return not any(s.active for s in sweep_status(sweep_dir))

    _wait_until(settled, "the array to finish")
    status = run_tool("sweep", "status", sweep_dir)
    assert status.returncode == 0, status.stderr
    lines = {
        line.split()[0]: line
        for line in status.stdout.splitlines()
        if line.startswith(("0_", "1_", "2_"))
    }
    assert "done" in lines["0_feature_size-2"] and "done" in lines["2_feature_size-4"], (
        status.stdout
    )
    assert (
        "cancelled" in lines["1_feature_size-3"] and "Slurm: CANCELLED" in lines["1_feature_size-3"]
    ), status.stdout
    assert "2 done, 1 cancelled (of 3)" in status.stdout
    assert not (victim / "eval.json").exists()

    # sacct, from the job completion log (no slurmdbd here), knows the cancelled task by its own
    # job id.
    task = json.loads((victim / "task.json").read_text())
    assert task["slurm_array_job_id"] == job
    sacct = subprocess.run(
        engines.sacct_completion_argv("sacct", [task["slurm_job_id"]]),
        capture_output=True,
        text=True,
    )
    assert engines.parse_sacct(sacct.stdout)[task["slurm_job_id"]].state == "CANCELLED", (
        sacct.stdout
    )

    finished = {p: p.stat().st_mtime_ns for p in sweep_dir.glob("*/eval.json")}
    assert len(finished) == 2
    out = run_tool("sweep", "resume", sweep_dir, "--wait")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "resuming 1 point(s): 1" in out.stdout and "3 done (of 3)" in out.stdout
    assert {
        p: p.stat().st_mtime_ns for p in finished
    } == finished  # finished points were not redone
    jobs = json.loads((sweep_dir / "sweep.json").read_text())["slurm_jobs"]
    assert [j["indices"] for j in jobs] == [[0, 1, 2], [1]]
    assert json.loads((victim / "task.json").read_text())["slurm_array_job_id"] == jobs[1]["id"]
    assert (victim / "snap/net_iter_50.caffemodel").exists()
    resumed = _text(victim / "train_2/caffe.log")
    assert "Resuming from snap/net_iter_" in resumed and "Iteration 0," not in resumed
    assert (
        not (victim / "train/usage.json").exists()
        or json.loads((victim / "train/usage.json").read_text())["exit_status"] != 0
    )
    for point in sweep_dir.glob("[0-9]_*"):
        assert json.loads((point / "eval.json").read_text())["pairs"] == 200


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
