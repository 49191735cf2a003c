"""Class: training. A diverging run (Caffe logs `loss = -nan`), solver values Caffe would train
nonsense with, snapshots and weights that are not what they claim, outputs that cannot be
written, Caffe crashing, and a database replaced under a running `caffe train`. All with the
real Caffe on a small real Fashion-MNIST set-up (the Keras MLP tower, batch 16)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, VENV_BIN

from caffesiam.caffe.glog import glog_env
from caffesiam.train.log import parse_lines
from caffesiam.train.rundir import CAFFE_LOG, LOSS_PNG, METRICS_CSV
from hostile.helpers import BIG, changes, refused, run, snapshot

pytestmark = [pytest.mark.caffe, pytest.mark.slow]  # real Caffe trainings and set-ups

SOLVER = [
    "--max-iter",
    20,
    "--display",
    5,
    "--test-interval",
    10,
    "--test-iter",
    2,
    "--snapshot",
    10,
    "--snapshot-prefix",
    "snap/mlp",
]


def _ok(done):
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="session")
def template(hostile_root):
    """train_leveldb (256 pairs), test_leveldb (64), net.prototxt (MLP), solver.prototxt."""
    root = hostile_root / "training"
    for name, pairs, seed in (("train", 256, 0), ("test", 64, 1)):
        _ok(
            run(
                "build-db",
                "fashion-mnist",
                "--split",
                "test",
                "--test-pairs",
                pairs,
                "--seed",
                seed,
                "--out",
                root / name,
            )
        )
        (root / name / "fashion_mnist_siamese_test_leveldb").rename(root / f"{name}_leveldb")
        shutil.rmtree(root / name)
    _ok(
        run(
            "gen-net",
            REPO / "templates/mlp.yaml",
            "--train-source",
            "train_leveldb",
            "--test-source",
            "test_leveldb",
            "--batch-size",
            16,
            "--test-batch-size",
            16,
            "-o",
            root / "net.prototxt",
        )
    )
    _ok(run("gen-solver", "net.prototxt", *SOLVER, "-o", "solver.prototxt", cwd=root))
    return root


@pytest.fixture(scope="session")
def trained(template, hostile_root):
    """The template after 20 iterations: snap/mlp_iter_{10,20}.{caffemodel,solverstate}."""
    root = hostile_root / "trained"
    shutil.copytree(template, root)
    _ok(run("train", "solver.prototxt", "--blas-threads", 1, cwd=root))
    return root


@pytest.fixture
def workdir(template, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(template, work)
    return work


def train(workdir, *args, **kwargs):
    return run("train", *args, "--blas-threads", 1, cwd=workdir, **kwargs)


def test_a_diverging_run_is_stopped_with_a_snapshot_and_named(workdir):
    _ok(
        run(
            "gen-solver",
            "net.prototxt",
            "--max-iter",
            100000,
            "--display",
            1,
            "--snapshot",
            0,
            "--snapshot-prefix",
            "snap/mlp",
            "--base-lr",
            1e6,
            "-o",
            "solver.prototxt",
            cwd=workdir,
        )
    )
    line = refused(
        train(workdir, "solver.prototxt"),
        1,
        "training diverged at iteration",
        "last finite loss",
        "Caffe was stopped at iteration",
        "whose weights are not finite",
        "lower base_lr (now 1e+06)",
    )
    stopped = int(line.split("stopped at iteration ")[1].split()[0])
    assert stopped < 100000 and (workdir / f"snap/mlp_iter_{stopped}.solverstate").exists()
    run_dir = workdir / "snap/mlp_run"
    assert parse_lines((run_dir / CAFFE_LOG).open()).diverged is not None
    assert ",nan," in (run_dir / METRICS_CSV).read_text() and (run_dir / LOSS_PNG).exists()
    plotted = _ok(
        run(
            "plot-log",
            run_dir / CAFFE_LOG,
            "-o",
            workdir / "curve.png",
            "--csv",
            workdir / "m.csv",
        )
    )
    assert "diverged at iteration" in plotted.stdout and plotted.stderr == ""


def test_plot_log_reads_nan_and_inf(tmp_path):
    log = tmp_path / "caffe.log"
    log.write_text(
        "".join(
            f"I1123 10:00:0{i}.000000  1 solver.cpp:218] Iteration {i * 10} "
            f"(12.5 iter/s, 0.8s/10 iters), loss = {value}\n"
            for i, value in enumerate(["0.69", "4.2e+37", "inf", "-nan", "nan", "-inf"])
        )
    )
    done = _ok(run("plot-log", log, "-o", tmp_path / "c.png", "--csv", tmp_path / "c.csv"))
    assert "diverged at iteration 20 (loss = inf)" in done.stdout and done.stderr == ""
    rows = (tmp_path / "c.csv").read_text().splitlines()
    assert [r.split(",")[2] for r in rows[1:]] == ["0.69", "4.2e+37", "inf", "nan", "nan", "-inf"]


@pytest.mark.parametrize(
    "setting,words",
    [
        ("base_lr: -0.01", "base_lr must be > 0, got -0.01"),
        ("base_lr: nan", "base_lr must be a finite number, got nan"),
        ("momentum: inf", "momentum must be a finite number, got inf"),
        ("max_iter: 0", "max_iter must be >= 1 (0 trains nothing)"),
        ('lr_policy: "warmup"', "lr_policy must be one of"),
    ],
)
def test_solver_values_are_bad_input(setting, words, workdir):
    solver = workdir / "solver.prototxt"
    solver.write_text(solver.read_text() + setting + "\n")
    before = snapshot(workdir)
    refused(train(workdir, "solver.prototxt"), 2, "solver.prototxt", words)
    assert changes(before, workdir) == set()  # no snap/, no run directory


@pytest.mark.parametrize(
    "flags,words",
    [
        (["--max-iter", BIG], "--max-iter"),
        (["--blas-threads", 0], "--blas-threads"),
        (["--log", "nowhere/copy.log"], "nowhere does not exist"),
        (["--out", "/proc/self/run"], "kernel filesystem"),
    ],
)
def test_train_flags(flags, words, workdir):
    before = snapshot(workdir)
    refused(run("train", "solver.prototxt", *flags, cwd=workdir), 2, words)
    assert changes(before, workdir) == set()


def test_snapshot_prefix_on_a_read_only_place(workdir, read_only_dir):
    solver = workdir / "solver.prototxt"
    solver.write_text(
        solver.read_text().replace(
            'snapshot_prefix: "snap/mlp"', f'snapshot_prefix: "{read_only_dir}/mlp"'
        )
    )
    before = snapshot(workdir)
    refused(train(workdir, "solver.prototxt"), 2, f"cannot write {read_only_dir}")
    assert changes(before, workdir) == set()


def _resume_cases(trained, tmp):
    junk = tmp / "junk.solverstate"
    junk.write_bytes(os.urandom(2048))
    orphan = tmp / "orphan.solverstate"  # a real state whose .caffemodel is gone
    shutil.copy(trained / "snap/mlp_iter_10.solverstate", orphan)
    return {
        "at max_iter": (
            ["--resume", "snap/mlp_iter_20.solverstate"],
            "is at iteration 20 and max_iter is 20: nothing would be trained",
        ),
        "a .caffemodel": (["--resume", "snap/mlp_iter_20.caffemodel"], "this is a .caffemodel"),
        "garbage": (["--resume", junk], "not a Caffe .solverstate"),
        "/dev/zero": (["--resume", "/dev/zero"], "is a character device"),
        "weights gone": (["--resume", orphan, "--max-iter", 40], "the weights it was saved with"),
    }


@pytest.mark.parametrize(
    "case", ["at max_iter", "a .caffemodel", "garbage", "/dev/zero", "weights gone"]
)
def test_resume_from_what_is_not_a_resumable_snapshot(case, trained, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(trained, work)
    if case == "weights gone":
        (work / "snap/mlp_iter_10.caffemodel").unlink()
    flags, words = _resume_cases(work, tmp_path)[case]
    before = snapshot(work)
    refused(train(work, "solver.prototxt", *flags), 2, words)
    assert changes(before, work) == set()


@pytest.fixture(scope="session")
def other_weights(hostile_root):
    """A .caffemodel of the MLP tower with fc1 of 64 units, where the net has 128."""
    spec = hostile_root / "mlp64.yaml"
    spec.write_text(
        (REPO / "templates/mlp.yaml").read_text().replace("num_output: 128", "num_output: 64", 1)
    )
    deploy, weights = hostile_root / "mlp64.prototxt", hostile_root / "mlp64.caffemodel"
    _ok(run("gen-net", spec, "--deploy", "-o", deploy))
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import caffe, sys; caffe.Net(sys.argv[1], caffe.TEST).save(sys.argv[2])",
            str(deploy),
            str(weights),
        ],
        check=True,
        env=dict(os.environ, **glog_env(full_log=False)),
    )
    return weights


@pytest.mark.parametrize(
    "case,words",
    [
        ("garbage", "not a Caffe .caffemodel"),
        ("a .solverstate", "this is a .solverstate (iteration 20)"),
        ("another net", "shares no layer name with the net"),
        ("other shapes", "weights do not match the model at layer 'fc1': the model wants 128x784"),
    ],
)
def test_weights_that_do_not_fit(case, words, workdir, trained, model, other_weights):
    weights = {
        "garbage": workdir / "junk.caffemodel",
        "a .solverstate": trained / "snap/mlp_iter_20.solverstate",
        "another net": model[1],
        "other shapes": other_weights,
    }[case]
    if case == "garbage":
        weights.write_bytes(os.urandom(4096))
    before = snapshot(workdir)
    refused(train(workdir, "solver.prototxt", "--weights", weights), 2, words)
    assert changes(before, workdir) == set()


def test_weights_and_resume_that_fit_still_train(workdir, trained):
    """The checks refuse only what Caffe would: a snapshot of this net fine-tunes and resumes."""
    _ok(
        train(
            workdir,
            "solver.prototxt",
            "--weights",
            trained / "snap/mlp_iter_20.caffemodel",
            "--out",
            "tuned",
        )
    )
    shutil.copytree(trained / "snap", workdir / "snap", dirs_exist_ok=True)
    shutil.rmtree(workdir / "snap/mlp_run")
    _ok(
        train(
            workdir, "solver.prototxt", "--resume", "snap/mlp_iter_20.solverstate", "--max-iter", 30
        )
    )
    assert (workdir / "snap/mlp_iter_30.caffemodel").exists()


def test_caffe_crashing_is_exit_1_naming_its_signal(workdir):
    net = workdir / "net.prototxt"
    net.write_text(net.read_text().replace("slice_point: 1", "slice_point: 5"))
    line = refused(
        train(workdir, "solver.prototxt"),
        1,
        "caffe was killed by SIGABRT (status 134)",
        "Check failed",
        "full log:",
    )
    assert (workdir / "snap/mlp_run" / CAFFE_LOG).exists() and "mlp_run" in line


def test_build_db_force_refuses_the_database_a_training_reads(workdir):
    """A real `caffe train` holds its LevelDB open (LOCK); --force must not pull it away."""
    _ok(run("build-db", "fashion-mnist", "--split", "test", "--test-pairs", 256, "--out", workdir))
    db = workdir / "fashion_mnist_siamese_test_leveldb"
    net = workdir / "net.prototxt"
    net.write_text(net.read_text().replace('"train_leveldb"', f'"{db.name}"'))
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "caffesiam"),
            "train",
            "solver.prototxt",
            "--max-iter",
            "1000000",
            "--blas-threads",
            "1",
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        log = workdir / "snap/mlp_run" / CAFFE_LOG
        deadline = time.monotonic() + 120
        while not (log.exists() and "Iteration 5 " in log.read_text()):
            assert time.monotonic() < deadline and proc.poll() is None, (
                proc.stderr.read() if proc.poll() else ""
            )
            time.sleep(0.2)
        before = snapshot(db)
        refused(
            run(
                "build-db",
                "fashion-mnist",
                "--split",
                "test",
                "--test-pairs",
                300,
                "--out",
                workdir,
                "--force",
            ),
            2,
            f"{db} is open in another process",
            f"{db / 'LOCK'} is locked",
        )
        assert changes(before, db) == set()
    finally:
        proc.send_signal(signal.SIGINT)  # Caffe snapshots and stops, as a first Ctrl-C asks
        try:
            proc.communicate(timeout=120)
        finally:
            proc.kill()
    assert proc.returncode == 130


def _children(pid: int):
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_kill_9_of_train_leaves_no_caffe_running(tmp_path):
    """Caffe runs in its own session (a terminal's Ctrl-C reaches only caffesiam); killed with -9,
    caffesiam cannot stop it, so the kernel does (PR_SET_PDEATHSIG). A real caffe would also die
    of a broken pipe at its next log line; `sleep`, which writes nothing, stands in for one that
    logs rarely, under the same runner.stream that `train` uses."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from caffesiam.caffe import runner; runner.stream(['sleep', '120'], print)",
        ]
    )
    try:
        deadline = time.monotonic() + 60
        while not _children(parent.pid):
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.05)
        (child,) = _children(parent.pid)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 30
    while _state(child) != "Z":
        assert time.monotonic() < deadline, "the child kept running after its parent was killed"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def _diverged_weights(weights: Path, out: Path) -> Path:
    """`weights` with one blob of its first layer set to NaN, as a diverged training leaves them."""
    from caffesiam.caffe.proto import caffe_pb2

    net = caffe_pb2().NetParameter()
    net.ParseFromString(weights.read_bytes())
    blob = next(layer for layer in net.layer if layer.blobs).blobs[0]
    blob.data[:] = [float("nan")] * len(blob.data)
    out.write_bytes(net.SerializeToString())
    return out


@pytest.mark.parametrize("command", ["evaluate", "embed"])
def test_diverged_weights_give_features_that_are_not_numbers(command, model, pair_db, tmp_path):
    deploy, weights = model
    bad = _diverged_weights(weights, tmp_path / "diverged.caffemodel")
    outputs = (
        ["--json", tmp_path / "r.json", "--roc", tmp_path / "r.png"]
        if command == "evaluate"
        else ["-o", tmp_path / "f.npz"]
    )
    before = snapshot(tmp_path)
    refused(
        run(command, "--model", deploy, "--weights", bad, "--db", pair_db, *outputs),
        2,
        "are not finite (nan or inf)",
        "a training that diverged",
    )
    assert changes(before, tmp_path) == set()
