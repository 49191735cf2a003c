"""`train --docker caffesiam:cpu` on a real Docker engine, as a user runs it (make docker-check).

The engine is the one DOCKER_HOST names, else this project's own (make docker-engine), else the
client's default; the image is the one `make docker-cpu` builds. Without either, these skip.
Run as root (as CI is), the trainings run as a user made for the test, a member of the engine
socket's group only, so that whose files the container writes is seen.
"""

import csv
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import DOCKER_IMAGE, REPO, VENV_BIN, docker_engine, run_tool

from caffesiam.caffe.locate import caffe_home

IMAGE = DOCKER_IMAGE
ITERATIONS = 300
TEST_USER = "caffesiam-docker-test"
LABEL = "org.caffesiam.cwd"  # runner.CONTAINER_LABEL, spelled out: the test reads what docker sees
# What float32 SGD alone makes of another summation order: stock Caffe against itself on 1 and 2
# threads (bench/check_patched_vs_stock.py's yardstick). One thread in both, the same source and
# patches: the container's curve must stay within it, and in practice is closer still.
THREAD_SPREAD = 3.3e-2


ENGINE, WHY_NOT = docker_engine()
# make docker-check sets this: there, an engine without the image is a failure, not a skip.
REQUIRED = os.environ.get("CAFFESIAM_DOCKER_CHECK") == "1"
pytestmark = [
    pytest.mark.docker,
    pytest.mark.caffe,
    pytest.mark.slow,
    pytest.mark.skipif(ENGINE is None and not REQUIRED, reason=WHY_NOT),
]


@pytest.fixture(autouse=True)
def engine_found():
    if ENGINE is None:
        pytest.fail(WHY_NOT)


def docker(*args, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, DOCKER_HOST=ENGINE) if ENGINE else os.environ
    return subprocess.run(["docker", *args], capture_output=True, text=True, env=env, **kwargs)


@pytest.fixture(scope="module")
def runner_user():
    """(uid, gid, extra groups, environment) the trainings run as: this user, or under root a
    user made for the test whose only other group is the engine socket's, with a copy of the
    Caffe prefix it can read (root's own lies in root's cache)."""
    if os.getuid() != 0:
        yield os.getuid(), os.getgid(), None, {}
        return
    if not ENGINE.startswith("unix://"):
        pytest.skip(f"the engine is not on a unix socket ({ENGINE}): no group to give the user")
    socket_gid = os.stat(ENGINE.removeprefix("unix://")).st_gid
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
            check=True,
        )
    user = pwd.getpwnam(TEST_USER)
    prefix = Path(tempfile.mkdtemp(prefix="caffesiam-prefix-")) / "caffe"
    shutil.copytree(caffe_home(), prefix, symlinks=True)
    subprocess.run(["chmod", "-R", "a+rX", prefix.parent], check=True)
    yield user.pw_uid, user.pw_gid, [socket_gid], {"CAFFESIAM_CAFFE_HOME": str(prefix)}
    shutil.rmtree(prefix.parent)


@pytest.fixture(scope="module")
def job(runner_user):
    """A folder the training user owns: digit pairs (LMDB), the lenet_relu net, its deploy net
    and two solvers alike but for their snapshot prefix (`docker` and `host`)."""
    uid, gid, _, _ = runner_user
    root = Path(tempfile.mkdtemp(prefix="caffesiam-docker-"))
    root.chmod(0o755)

    def tool(*args):
        out = run_tool(*args, cwd=root)
        assert out.returncode == 0, out.stderr
        return out

    tool("build-db", "digits", "--backend", "lmdb", "--out", root, "--pairs", 20000, "--seed", 0)
    train_db, test_db = (root / f"digits_siamese_{s}_lmdb" for s in ("train", "test"))
    tool(
        "gen-net",
        REPO / "templates/lenet_relu.yaml",
        "--train-source",
        train_db,
        "--test-source",
        test_db,
        "--backend",
        "lmdb",
        "-o",
        "net.prototxt",
    )
    tool("gen-net", REPO / "templates/lenet_relu.yaml", "--deploy", "-o", "deploy.prototxt")
    for name in ("docker", "host"):
        tool(
            "gen-solver",
            "net.prototxt",
            "--max-iter",
            ITERATIONS,
            "--snapshot",
            ITERATIONS,
            "--test-interval",
            ITERATIONS,
            "--test-iter",
            10,
            "--display",
            10,
            "--random-seed",
            1,
            "--snapshot-prefix",
            f"{name}/lenet_relu",
            "-o",
            f"{name}.prototxt",
        )
    subprocess.run(["chown", "-R", f"{uid}:{gid}", root], check=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def as_user(runner_user, cwd, *args, groups=True, env=None, **popen):
    """`caffesiam ARGS` started as the training user (with the socket's group unless not
    `groups`), on the test's engine."""
    uid, gid, extra, user_env = runner_user
    env = dict(os.environ if env is None else env, HOME=str(cwd), **user_env)
    if ENGINE and "DOCKER_HOST" not in (env or {}):
        env["DOCKER_HOST"] = ENGINE
    return subprocess.Popen(
        [str(VENV_BIN / "caffesiam"), *map(str, args)],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        user=uid if os.getuid() == 0 else None,
        group=gid if os.getuid() == 0 else None,
        extra_groups=(extra if groups else []) if os.getuid() == 0 else None,
        **popen,
    )


def finished(proc, timeout=900):
    stdout, stderr = proc.communicate(timeout=timeout)
    return proc.returncode, stdout, stderr


def losses(run_dir: Path) -> dict[int, float]:
    with open(run_dir / "metrics.csv") as f:
        return {
            int(row["iteration"]): float(row["loss"])
            for row in csv.DictReader(f)
            if row["phase"] == "train"
        }


def fresh(job: Path):
    """No snapshots of an earlier test at the docker solver's prefix (train would refuse)."""
    shutil.rmtree(job / "docker", ignore_errors=True)


def containers(workdir) -> list[str]:
    return docker("ps", "-q", "--filter", f"label={LABEL}={workdir}").stdout.split()


def wait_for(path: Path, pattern: str, proc, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and re.search(pattern, path.read_text(errors="replace")):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the training ended ({proc.returncode}): {proc.stderr.read()}")
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} never appeared in {path}")


def test_trains_as_the_calling_user_with_the_host_curve_then_evaluates_on_the_host(
    job, runner_user
):
    uid, gid, _, _ = runner_user
    fresh(job)
    status, stdout, stderr = finished(
        as_user(
            runner_user,
            job,
            "train",
            "docker.prototxt",
            "--docker",
            IMAGE,
            "--blas-threads",
            1,
            "--out",
            "docker_run",
        )
    )
    assert status == 0, stderr[-3000:]
    weights = job / f"docker/lenet_relu_iter_{ITERATIONS}.caffemodel"
    written = [
        weights,
        weights.with_suffix(".solverstate"),
        job / "docker_run/caffe.log",
        job / "docker_run/metrics.csv",
    ]
    assert all((p.stat().st_uid, p.stat().st_gid) == (uid, gid) for p in written), [
        (p, p.stat().st_uid) for p in written
    ]

    host = run_tool(
        "train", "host.prototxt", "--blas-threads", 1, "--out", "host_run", cwd=job, timeout=900
    )
    assert host.returncode == 0, host.stderr[-3000:]
    in_docker, on_host = losses(job / "docker_run"), losses(job / "host_run")
    assert sorted(in_docker) == sorted(on_host) and len(on_host) >= ITERATIONS // 10
    worst = max(abs(in_docker[i] - on_host[i]) for i in on_host)
    usage = [
        json.loads((job / run / "usage.json").read_text()) for run in ("docker_run", "host_run")
    ]
    wall = [u["wall_seconds"] for u in usage]
    cpu = [u["cpu_seconds"] for u in usage]
    print(
        f"docker-check: loss curves over {ITERATIONS} iterations, max |docker - host| = "
        f"{worst:.3g}; wall {wall[0]:.1f} s in the container, {wall[1]:.1f} s on the host "
        f"(ratio {wall[0] / wall[1]:.2f}); CPU {cpu[0]:.1f} s in the container, {cpu[1]:.1f} s "
        f"on the host (ratio {cpu[0] / cpu[1]:.2f})"
    )
    assert worst <= THREAD_SPREAD
    # The CPU time is Caffe's own, as the container's entry measured it: the same one-thread
    # training's as on the host, not the docker client's (a fraction of a second).
    assert usage[0]["process"] == "caffe in the container"
    assert 0.5 <= cpu[0] / cpu[1] <= 2 and cpu[0] <= wall[0] * (os.cpu_count() or 1) + 1
    assert f"{cpu[0]:.1f} s CPU (user+sys of the caffe process, in the container)" in stdout

    evaluation = run_tool(
        "evaluate",
        "--model",
        "deploy.prototxt",
        "--weights",
        weights,
        "--train-net",
        "net.prototxt",
        "--db",
        "digits_siamese_test_lmdb",
        "--json",
        "docker_eval.json",
        cwd=job,
        timeout=600,
    )
    assert evaluation.returncode == 0, evaluation.stderr
    assert json.loads((job / "docker_eval.json").read_text())["auc"] > 0.8


def long_training(job, runner_user, out: str):
    """A training in the image, as the test user, that runs until it is stopped."""
    return as_user(
        runner_user,
        job,
        *("train", "docker.prototxt", "--docker", IMAGE, "--blas-threads", 1),
        *("--max-iter", 100000, "--out", out),
    )


def test_ctrl_c_stops_the_container_with_a_snapshot_and_the_resume_hint(job, runner_user):
    uid, gid, _, _ = runner_user
    fresh(job)
    proc = long_training(job, runner_user, "ctrl_c_run")
    try:
        wait_for(job / "ctrl_c_run/caffe.log", r"Iteration 20 \(", proc)
        (running,) = containers(job)
        seen = docker(
            "inspect",
            "-f",
            "{{.HostConfig.NetworkMode}} {{.Config.User}} {{.HostConfig.Init}}",
            running,
        )
        assert seen.stdout.split() == ["none", f"{uid}:{gid}", "true"], seen
        proc.send_signal(signal.SIGINT)
        status, stdout, stderr = finished(proc, timeout=300)
    finally:
        proc.kill()
    assert status == 130, stderr[-3000:]
    resume = re.search(r"caffesiam train (\S+) --resume (\S+)", stdout)
    assert resume, stdout
    state = job / resume.group(2)
    assert state.exists() and state.with_suffix(".caffemodel").exists()
    assert state.stat().st_uid == uid
    assert "Optimization stopped early" in (job / "ctrl_c_run/caffe.log").read_text()
    assert not containers(job)


def test_killing_caffesiam_leaves_no_container(job, runner_user):
    fresh(job)
    proc = long_training(job, runner_user, "killed_run")
    try:
        wait_for(job / "killed_run/caffe.log", r"Iteration 10 \(", proc)
        assert len(containers(job)) == 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    deadline = time.time() + 30
    while containers(job) and time.time() < deadline:
        time.sleep(0.5)
    assert not containers(job)


@pytest.fixture
def failing(job, runner_user, tmp_path):
    """`failing(*args, env=..., groups=...)`: a train that docker cannot start, run in a copy of
    the job's solver folder; (status, stderr, whether the run left anything)."""

    def run(*args, groups=True, env=None):
        status, _, stderr = finished(
            as_user(
                runner_user,
                job,
                "train",
                "docker.prototxt",
                *args,
                "--out",
                "failed_run",
                groups=groups,
                env=env,
            ),
            timeout=300,
        )
        left = (job / "failed_run").exists() or any((job / "docker").glob("*_iter_*"))
        return status, stderr, left

    fresh(job)
    return run


def _one_line(status, stderr):
    assert status == 1 and len(stderr.splitlines()) == 1, stderr
    assert "Traceback" not in stderr and "cannot set up this net" not in stderr


def test_gpu_on_an_engine_without_the_nvidia_runtime(failing):
    status, stderr, left = failing("--docker", IMAGE, "--gpu", "0")
    _one_line(status, stderr)
    assert "could not select device driver" in stderr
    assert "install the NVIDIA Container Toolkit" in stderr and not left


def test_a_missing_image(failing):
    status, stderr, left = failing("--docker", "caffesiam:no-such-tag")
    _one_line(status, stderr)
    assert "caffesiam:no-such-tag" in stderr and "make docker-cpu" in stderr and not left


def test_a_stopped_daemon(failing, job):
    gone = f"unix://{job}/stopped.sock"  # no daemon listens there, as after it stopped
    status, stderr, left = failing("--docker", IMAGE, env=dict(os.environ, DOCKER_HOST=gone))
    _one_line(status, stderr)
    assert "Cannot connect to the Docker daemon" in stderr and "make docker-engine" in stderr
    assert not left


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to run as a user outside the group")
def test_a_socket_without_permission(failing):
    status, stderr, left = failing("--docker", IMAGE, groups=False)
    _one_line(status, stderr)
    assert "permission denied" in stderr and "usermod -aG" in stderr and not left


def test_the_image_holds_no_build_tools_and_no_host_settings():
    shown = docker(
        "run",
        "--rm",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "for p in /usr/include/boost /usr/include/caffe /etc/pip.conf /etc/xdg/pip "
        "/etc/caffesiam-build.env /etc/ssl/certs/ca-certificates.crt /opt/caffesiam/scripts; do "
        "[ -e $p ] && echo present: $p; done; "
        "for t in gcc g++ cc cmake make nvcc; do command -v $t; done; caffe --version",
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == ["caffe version 1.0.0"], shown.stdout
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", IMAGE).stdout
    assert ".docker-build" not in history
