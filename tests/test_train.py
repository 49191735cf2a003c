"""train and plot-log with the real `caffe train` on real Fashion-MNIST pairs."""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, VENV_BIN, run_tool
from PIL import Image

from caffesiam.caffe import runner
from caffesiam.caffe.glog import glog_env
from caffesiam.caffe.locate import caffe_binary
from caffesiam.train.blas_threads import THREAD_VARIABLES
from caffesiam.train.gather import plan_training
from caffesiam.train.log import failure_line, parse_lines
from caffesiam.train.plan import TrainRequest
from caffesiam.train.rundir import BLAS_THREADS_JSON, CAFFE_LOG, LOSS_PNG, METRICS_CSV, USAGE_JSON


@pytest.fixture
def workdir(tmp_path, fashion_pair_dbs, cli, monkeypatch):
    """A directory laid out as a user would: relative net, sources and snapshot prefix."""
    for split, db in fashion_pair_dbs.items():  # copies: a LevelDB admits one process at a time
        shutil.copytree(db, tmp_path / f"{split}_leveldb")
    monkeypatch.chdir(tmp_path)
    net = cli(
        "gen-net",
        REPO / "templates/lenet.yaml",
        "--train-source",
        "train_leveldb",
        "--test-source",
        "test_leveldb",
        "--batch-size",
        16,
        "--test-batch-size",
        20,
    )
    Path("net.prototxt").write_text(net.stdout)
    solver = cli(
        "gen-solver",
        "net.prototxt",
        "--max-iter",
        60,
        "--test-interval",
        20,
        "--test-iter",
        5,
        "--display",
        10,
        "--snapshot",
        30,
        "--snapshot-prefix",
        "snap/lenet",
    )
    Path("solver.prototxt").write_text(solver.stdout)
    return tmp_path


def train(*args, **kwargs):
    return run_tool("train", *args, "--blas-threads", "1", **kwargs)


@pytest.mark.caffe
@pytest.mark.slow
def test_train_writes_log_metrics_and_curve_that_match_caffe(workdir):
    out = train("solver.prototxt", "--log", "copy.log")
    assert out.returncode == 0, out.stderr[-2000:]
    run = workdir / "snap/lenet_run"
    log = (run / CAFFE_LOG).read_text()
    assert Path("copy.log").read_text() == log
    shown = [int(i) for i in re.findall(r"\] Iteration (\d+) \(", log)]
    tested = [int(i) for i in re.findall(r"\] Iteration (\d+), Testing net", log)]
    assert shown == [0, 10, 20, 30, 40, 50] and tested == [0, 20, 40, 60]
    rows = (run / METRICS_CSV).read_text().splitlines()
    assert rows[0].startswith("phase,iteration,loss,lr")
    assert [r.split(",")[1] for r in rows[1:] if r.startswith("test")] == ["0", "20", "40", "60"]
    first_loss = float(re.search(r"Iteration 0 \(.*loss = ([\d.e-]+)", log).group(1))
    assert float(next(r for r in rows if r.startswith("train,0,")).split(",")[2]) == first_loss
    png = Image.open(run / LOSS_PNG)
    assert png.format == "PNG" and png.size[0] >= 600
    assert (workdir / "snap/lenet_iter_60.caffemodel").exists()
    assert "metrics:" in out.stdout and "Traceback" not in out.stderr
    usage = json.loads((run / USAGE_JSON).read_text())
    assert (
        usage["process"] == "caffe" and usage["exit_status"] == 0 and usage["last_iteration"] == 60
    )
    assert 0 < usage["cpu_seconds"] and 0 < usage["wall_seconds"]
    assert f"{usage['cpu_seconds']:.1f} s CPU (user+sys of the caffe process)" in out.stdout


def test_the_container_entry_reports_its_commands_cpu_time_on_any_sh():
    """CONTAINER_ENTRY run by this host's sh, as docker runs it (its stdin held open): the CPU
    time is the command's own from the entry's report, not the shell's, and the report is not
    output; a status and an argument with shell syntax in it come through as they are."""
    spin = (
        "import sys, time; t = time.process_time()\n"
        "while time.process_time() - t < 0.6: pass\n"
        "print(sys.argv[1]); sys.exit(3)"
    )
    entry = ["sh", "-c", runner.CONTAINER_ENTRY, "caffesiam-entry"]
    lines = []
    finished = runner.stream(
        [*entry, sys.executable, "-c", spin, "$(x) 'y"], lines.append, in_container=True
    )
    assert (finished.status, lines) == (3, ["$(x) 'y\n"])
    assert 0.6 <= finished.cpu_seconds < 0.6 + 0.3  # + interpreter start-up
    shown = runner.stream([*entry, "true"], lines.append)  # the report is output to a host run
    assert runner.CPU_REPORT + "\n" in lines and shown.cpu_seconds is not None


def test_stream_measures_the_childs_own_cpu_time():
    """A child that spins for 0.6 s of its own CPU time, then sleeps 0.5 s: CPU time counts the
    spinning only; wall time both (load on the machine can only add to the wall time)."""
    spin = (
        "import time; t = time.process_time()\n"
        "while time.process_time() - t < 0.6: pass\n"
        "time.sleep(0.5)"
    )
    finished = runner.stream([sys.executable, "-c", spin], lambda line: None)
    assert finished.status == 0
    assert 0.6 <= finished.cpu_seconds < 0.6 + 0.3  # + interpreter start-up
    assert finished.wall_seconds >= 1.1
    assert (
        runner.stream([sys.executable, "-c", "import sys; sys.exit(3)"], lambda line: None).status
        == 3
    )


@pytest.mark.caffe
@pytest.mark.slow
def test_auto_blas_threads_runs_the_faster_setting_it_measured(workdir):
    out = run_tool(
        "train",
        "solver.prototxt",
        "--max-iter",
        10,
        env={k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    record = json.loads((workdir / "snap/lenet_run" / BLAS_THREADS_JSON).read_text())
    timings = {int(t): ms for t, ms in record["forward_backward_ms"].items()}
    assert set(timings) == {1, os.cpu_count()} and all(ms > 0 for ms in timings.values())
    assert record["threads"] == min(timings, key=timings.get)
    assert f"CPU threads: {record['threads']} (measured forward-backward:" in out.stdout


@pytest.mark.caffe
@pytest.mark.slow
def test_plot_log_reads_a_plain_caffe_log(workdir):
    Path("snap").mkdir()  # plain caffe refuses to start without it; train creates it
    result = subprocess.run(
        [caffe_binary(), "train", "-solver", "solver.prototxt"],
        capture_output=True,
        text=True,
        env=dict(os.environ, **glog_env(full_log=True)),
    )
    Path("plain.log").write_text(result.stderr)
    assert result.returncode == 0, result.stderr[-1500:]
    out = run_tool("plot-log", "plain.log", "-o", "curve.png", "--csv", "m.csv")
    assert out.returncode == 0, out.stderr
    assert "7 train points, 4 test phases" in out.stdout  # 6 displays and the final loss line
    assert Image.open("curve.png").format == "PNG"
    assert (
        len(Path("m.csv").read_text().splitlines()) == 1 + 7 + 4
    )  # header, 6 shown + final, 4 tests


def test_parser_reads_old_and_new_glog_dates():
    lines = [
        "I0412 10:00:00.000001 123 solver.cpp:239] Iteration 100 (15.5 iter/s, 6.4s/100 iters), "
        "loss = 0.25\n",
        "I0412 10:00:00.000002 123 solver.cpp:258]     Train net output #0: loss = 0.25 "
        "(* 1 = 0.25 loss)\n",
        "I20261122 10:00:01.000000 123 sgd_solver.cpp:112] Iteration 100, lr = 0.0099\n",
        "I20261122 10:00:02.000000 123 solver.cpp:347] Iteration 200, Testing net (#0)\n",
        "I20261122 10:00:02.100000 123 solver.cpp:414]     Test net output #0: loss = nan "
        "(* 1 = nan loss)\n",
        "F20261122 10:00:03.000000 123 data_layer.cpp:40] Check failed: status.ok() "
        "IO error: lock\n",
    ]
    m = parse_lines(lines)
    assert [(p.iteration, p.loss, p.iters_per_s, p.lr) for p in m.train] == [
        (100, 0.25, 15.5, 0.0099)
    ]
    assert m.test[0].iteration == 200 and str(m.test[0].outputs["loss"]) == "nan"
    assert m.fatal.startswith("Check failed: status.ok()")
    assert failure_line(lines).startswith(
        "data_layer.cpp:40] Check failed: status.ok() IO error: lock (the database is locked"
    )


def _wait_for(path: Path, pattern: str, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and re.search(pattern, path.read_text()):
            return
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} never appeared in {path}")


def _start(workdir, *args):
    return subprocess.Popen(
        [
            str(VENV_BIN / "caffesiam"),
            "train",
            "solver.prototxt",
            "--blas-threads",
            "1",
            *map(str, args),
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.caffe
@pytest.mark.slow
def test_first_ctrl_c_snapshots_stops_and_resume_continues(workdir):
    proc = _start(workdir, "--max-iter", 100000)
    try:
        _wait_for(workdir / "snap/lenet_run" / CAFFE_LOG, r"Iteration 40 \(")
        before = {p.name: p.stat().st_mtime_ns for p in (workdir / "snap").glob("lenet_iter_*")}
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    resume = re.search(r"caffesiam train (\S+) --resume (\S+)", stdout)
    assert resume, stdout
    state = Path(resume.group(2))
    assert state.exists() and state.with_suffix(".caffemodel").exists()
    stopped_at = int(re.search(r"_iter_(\d+)", state.name).group(1))
    assert stopped_at >= 40
    for name, mtime in before.items():  # earlier snapshots untouched
        assert (workdir / "snap" / name).stat().st_mtime_ns == mtime
    out = run_tool(
        "train",
        resume.group(1),
        "--resume",
        state,
        "--max-iter",
        stopped_at + 20,
        "--blas-threads",
        "1",
        cwd=workdir,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    log = (workdir / "snap/lenet_run2" / CAFFE_LOG).read_text()
    assert f"Resuming from {state}" in log
    assert "Optimization Done" in log and "Iteration 0," not in log  # continued, not restarted
    assert (workdir / f"snap/lenet_iter_{stopped_at + 20}.caffemodel").exists()


@pytest.mark.caffe
@pytest.mark.slow
def test_second_ctrl_c_stops_at_once(workdir, cli):
    """Iterations of ~1 s (batch 1024): the second Ctrl-C must not wait for Caffe to finish one."""
    net = cli(
        "gen-net",
        REPO / "templates/lenet.yaml",
        "--train-source",
        "train_leveldb",
        "--test-source",
        "test_leveldb",
        "--batch-size",
        1024,
    )
    Path("net.prototxt").write_text(net.stdout)
    proc = _start(workdir, "--max-iter", 100000)
    try:
        _wait_for(workdir / "snap/lenet_run" / CAFFE_LOG, r"Iteration 0, lr")
        proc.send_signal(signal.SIGINT)
        for line in proc.stderr:  # signals sent together would merge into one
            if line.startswith("interrupt:"):
                break
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:  # whatever failed above, no training is left running (its caffe dies with it)
        proc.kill()
    assert proc.returncode == 130
    log = (workdir / "snap/lenet_run" / CAFFE_LOG).read_text()
    assert "Optimization stopped early" not in log and "Optimization Done" not in log
    assert not list((workdir / "snap").glob("lenet_iter_*"))


@pytest.mark.caffe
@pytest.mark.slow
def test_existing_snapshots_are_never_overwritten(workdir):
    assert train("solver.prototxt").returncode == 0
    again = train("solver.prototxt")
    assert again.returncode == 2
    assert "lenet_iter_30.caffemodel already exists" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


@pytest.mark.caffe
@pytest.mark.slow
@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda: Path("solver.prototxt").unlink(), "solver.prototxt: no such file"),
        (
            lambda: Path("solver.prototxt").write_text('net: "net.prototxt"\nbase_lr: [\n'),
            "solver.prototxt:2:",
        ),
        (lambda: Path("net.prototxt").unlink(), "net file named by solver.prototxt not found"),
        (
            lambda: (shutil.rmtree("train_leveldb"), Path("train_leveldb").mkdir()),
            "data source of layer 'pair_data' is not a leveldb database",
        ),
        (lambda: shutil.rmtree("test_leveldb"), "data source of layer 'pair_data' not found"),
    ],
)
def test_bad_input_is_caught_before_caffe_starts(workdir, edit, message):
    edit()
    out = train("solver.prototxt")
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert not (workdir / "snap/lenet_run" / CAFFE_LOG).exists()


@pytest.mark.caffe
@pytest.mark.slow
def test_bad_flags(workdir):
    assert "CPU-only build" in train("solver.prototxt", "--gpu", "0").stderr
    out = train("solver.prototxt", "--resume", "missing.solverstate")
    assert out.returncode == 2 and "missing.solverstate: no such solverstate" in out.stderr
    out = run_tool(
        "train", "solver.prototxt", "--docker", "img", env=dict(os.environ, PATH="/nonexistent")
    )
    assert out.returncode == 1 and "'docker' not found on PATH" in out.stderr
    assert "apt-get install docker.io" in out.stderr


@pytest.mark.caffe
@pytest.mark.slow
def test_caffe_dying_is_reported_with_its_line_and_status(workdir):
    text = Path("net.prototxt").read_text().replace("slice_point: 1", "slice_point: 5")
    Path("net.prototxt").write_text(text)
    out = train("solver.prototxt")
    assert out.returncode == 1  # a tool failure; Caffe's SIGABRT (glog's CHECK) is named
    assert "caffe was killed by SIGABRT (status 134)" in out.stderr
    assert "Check failed" in out.stderr and CAFFE_LOG in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.splitlines()) == 1
    assert (workdir / "snap/lenet_run" / CAFFE_LOG).exists()


def bound(argv: list[str]) -> list[str]:
    """The folders a docker argv binds, each checked to sit at the same path inside, read as
    docker reads --mount's value (CSV)."""
    folders = []
    for flag, value in zip(argv, argv[1:]):
        if flag == "--mount":
            (fields,) = csv.reader([value])
            mount = dict(field.split("=", 1) for field in fields[1:])
            assert fields[0] == "type=bind" and mount["source"] == mount["target"], value
            folders.append(mount["source"])
    return folders


def test_docker_binds_folders_whose_paths_hold_colons_commas_and_quotes(tmp_path):
    """`-v A:B` splits at every ':'; each --mount field is quoted, so any path stays whole."""
    odd = tmp_path / 'run:1,"b" c'
    odd.mkdir()
    argv = runner.docker_argv("docker", "caffesiam:cpu", ["caffe"], [odd], odd, {})
    assert bound(argv) == [str(odd)]


def test_docker_argv_mounts_every_needed_path(tmp_path):
    (tmp_path / "data").mkdir()
    elsewhere = tmp_path.parent / f"{tmp_path.name}-db"
    (elsewhere / "x_leveldb").mkdir(parents=True)
    argv = runner.docker_argv(
        "docker",
        "caffesiam:gpu",
        ["caffe", "train"],
        [tmp_path, tmp_path / "data", elsewhere / "x_leveldb" / "CURRENT"],
        tmp_path,
        {"GLOG_logtostderr": "1"},
        gpu="0,1",
        user="1000:1000",
    )
    assert argv[:7] == ["docker", "run", "--rm", "-i", "--init", "--network", "none"]
    assert argv[7:9] == ["--label", f"org.caffesiam.cwd={tmp_path}"]
    assert argv[9:11] == ["-e", "TINI_KILL_PROCESS_GROUP=1"]  # signals reach the whole entry
    assert argv[11:15] == ["--user", "1000:1000", "--gpus", '"device=0,1"']
    assert bound(argv) == [str(tmp_path), str(elsewhere / "x_leveldb")]
    assert argv[argv.index("-w") + 1] == str(tmp_path)
    image = argv.index("caffesiam:gpu")
    entry = ["sh", "-c", runner.CONTAINER_ENTRY, "caffesiam-entry"]
    assert argv[image:] == ["caffesiam:gpu", *entry, "caffe", "train"]


def plan_in(folder, **paths):
    """A TrainPlan working in `folder`: solver, net, run directory and snapshots all in it."""
    from caffesiam.caffe.proto import caffe_pb2
    from caffesiam.train.plan import TrainPlan

    return TrainPlan(
        solver_path=folder / "solver.prototxt",
        solver=caffe_pb2().SolverParameter(),
        cwd=folder,
        net_path=folder / "net.prototxt",
        sources=[],
        run_dir=folder / "run",
        snapshot_prefix=folder / "snap/net",
        **paths,
    )


def test_docker_mounts_the_weights_a_resumed_solverstate_names(tmp_path):
    """Caffe in the container reads the solverstate's learned_net: its folder is mounted even when
    it lies outside the working directory and the snapshot folder."""
    from caffesiam.train.launch import DockerLaunch

    old, weights = (tmp_path.parent / f"{tmp_path.name}-{name}" for name in ("old", "weights"))
    old.mkdir()
    weights.mkdir()
    plan = plan_in(
        tmp_path,
        resume=old / "net_iter_500.solverstate",
        resumed_weights=weights / "net_iter_500.caffemodel",
    )
    argv = DockerLaunch("docker", "caffesiam:cpu").wrap(plan, ["caffe", "train"], {})
    assert str(weights) in bound(argv) and str(old) in bound(argv)


def test_docker_passes_caffes_settings_and_nothing_else_of_the_environment(tmp_path):
    """The container's Caffe gets the threads, glog's settings and the speed patches' switches
    (oneDNN convolutions among them) as the host has them, and no other host variable."""
    from caffesiam.train.launch import DockerLaunch

    plan = plan_in(tmp_path)
    env = {"CAFFE_CONV_DNNL": "1", "OMP_NUM_THREADS": "2", "HOME": "/root", "SECRET": "x"}
    argv = DockerLaunch("docker", "caffesiam:cpu").wrap(plan, ["caffe", "train"], env)
    passed = [argv[i + 1] for i, a in enumerate(argv) if a == "-e"]
    assert "CAFFE_CONV_DNNL=1" in passed and "OMP_NUM_THREADS=2" in passed
    assert not [p for p in passed if p.startswith(("HOME=", "SECRET="))]


@pytest.mark.caffe
def test_run_solver_of_shared_params_disables_layer_wise_reduce(workdir):
    text = Path("solver.prototxt").read_text().replace("layer_wise_reduce: false", "")
    Path("solver.prototxt").write_text(text)
    plan = plan_training(TrainRequest(Path("solver.prototxt"), gpu="0,1"), cpu_only_build=False)
    assert plan.solver.HasField("layer_wise_reduce") and not plan.solver.layer_wise_reduce
    single = plan_training(TrainRequest(Path("solver.prototxt"), gpu="0"), cpu_only_build=False)
    assert not single.solver.layer_wise_reduce  # one rule: one GPU never reads it


def test_failure_line_names_a_leveldb_locked_by_another_training():
    """Two trainings started together on one test LevelDB (seen here): glog's lock line follows."""
    lines = [
        "I20261122 22:57:22.901292 16423 layer_factory.hpp:77] Creating layer pair_data\n",
        "F20261122 22:57:22.901527 16423 db_leveldb.cpp:16] Check failed: status.ok() "
        "Failed to open leveldb ../digits_siamese_test_leveldb\n",
        "IO error: lock ../digits_siamese_test_leveldb/LOCK: Resource temporarily unavailable\n",
        "*** Check failure stack trace: ***\n",
    ]
    reason = failure_line(lines)
    assert reason.startswith(
        "db_leveldb.cpp:16] Check failed: status.ok() Failed to open leveldb ../digits"
    )
    assert reason.endswith("is another caffe training on it? wait, or copy it)")
    assert failure_line(lines[:2]).endswith(
        "../digits_siamese_test_leveldb"
    )  # no lock line, no hint
    other = "F20261122 22:57:22.9 1 net.cpp:9] Check failed: blocks == 2 (3 vs. 2) unlocked\n"
    assert (
        failure_line([other, lines[3]]) == "net.cpp:9] Check failed: blocks == 2 (3 vs. 2) unlocked"
    )


@pytest.mark.caffe
@pytest.mark.slow
def test_gen_solver_lr_schedules_are_the_ones_caffe_runs(workdir, cli):
    """multistep and step solvers from gen-solver: the lr Caffe logs equals base_lr * gamma^k."""
    schedules = {
        "multistep": (
            ["--stepvalue", 20, "--stepvalue", 40, "--gamma", 0.5],
            lambda it: 0.01 * 0.5 ** ((it >= 20) + (it >= 40)),
        ),
        "step": (["--stepsize", 25], lambda it: 0.01 * 0.1 ** (it // 25)),
    }
    for policy, (args, expected) in schedules.items():
        solver = cli(
            "gen-solver",
            "net.prototxt",
            "--max-iter",
            60,
            "--test-interval",
            100,
            "--test-iter",
            1,
            "--display",
            10,
            "--snapshot-prefix",
            f"snap/{policy}",
            "--lr-policy",
            policy,
            *args,
            "-o",
            f"{policy}.prototxt",
        )
        assert solver.exit_code == 0, solver.stderr
        out = train(f"{policy}.prototxt", "--out", f"run_{policy}")
        assert out.returncode == 0, out.stderr[-2000:]
        logged = parse_lines((workdir / f"run_{policy}" / CAFFE_LOG).read_text().splitlines())
        lrs = {
            p.iteration: p.lr for p in logged.train if p.lr is not None
        }  # not the final loss line
        assert sorted(lrs) == [0, 10, 20, 30, 40, 50], policy
        for iteration, lr in lrs.items():
            assert lr == pytest.approx(expected(iteration), rel=1e-5), (policy, iteration)
