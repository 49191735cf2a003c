"""The CPU thread choice: `caffe time`'s output read, the faster count kept, the choice recorded
(the child is faked: no process starts here)."""

import json
import subprocess
from types import SimpleNamespace

import pytest

from caffesiam.caffe.glog import glog_env
from caffesiam.train import blas_threads

PLAN = SimpleNamespace(gpu=None, net_path="/w/net.prototxt", cwd="/w")


class Launch:
    caffe = "/opt/caffe/bin/caffe"

    def wrap(self, plan, argv, env):
        return ["wrapped", *argv]


@pytest.fixture
def clean_env(monkeypatch):
    for name in blas_threads.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def fake_capture(monkeypatch, stdout="", returncode=0, raises=None):
    calls = []

    def capture(argv, timeout, env, cwd):
        calls.append((argv, env, cwd))
        if raises:
            raise raises
        return subprocess.CompletedProcess(argv, returncode, stdout, None)

    monkeypatch.setattr(blas_threads.runner, "capture", capture)
    return calls


def test_a_measurement_reads_the_average_forward_backward(clean_env):
    calls = fake_capture(clean_env, "I0101 ...] Average Forward-Backward: 12.25 ms.\n")
    assert blas_threads.time_forward_backward(PLAN, Launch(), 3, iterations=7) == 12.25
    ((argv, env, cwd),) = calls
    assert argv == [
        "wrapped",
        "/opt/caffe/bin/caffe",
        "time",
        "-model",
        "/w/net.prototxt",
        "-iterations",
        "7",
    ]
    assert cwd == "/w" and env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "3"
    assert glog_env(full_log=True).items() <= env.items()  # the line is an INFO line


@pytest.mark.parametrize(
    "output",
    [
        dict(stdout="Average Forward-Backward: 3 ms", returncode=1),  # it failed after all
        dict(stdout="F0101 net.cpp:1] Check failed"),
        dict(raises=subprocess.TimeoutExpired(["caffe"], 1)),
    ],
)
def test_a_failed_measurement_is_none(clean_env, output):
    fake_capture(clean_env, **output)
    assert blas_threads.time_forward_backward(PLAN, Launch(), 2) is None


def test_the_faster_of_one_thread_and_all_cores_wins(clean_env):
    times = {1: 9.0, 8: 4.0}
    clean_env.setattr(
        blas_threads, "time_forward_backward", lambda plan, launch, threads: times[threads]
    )
    assert blas_threads.choose_threads(PLAN, Launch(), cores=8) == (8, {"1": 9.0, "8": 4.0})
    times[1] = 3.0
    assert blas_threads.choose_threads(PLAN, Launch(), cores=8)[0] == 1


def test_no_measurement_means_all_cores_and_one_core_means_one(clean_env):
    clean_env.setattr(blas_threads, "time_forward_backward", lambda plan, launch, threads: None)
    assert blas_threads.choose_threads(PLAN, Launch(), cores=6) == (6, {})
    clean_env.setattr(blas_threads, "time_forward_backward", pytest.fail)  # never asked
    assert blas_threads.choose_threads(PLAN, Launch(), cores=1) == (1, {})


def test_the_reason_names_each_measurement(clean_env):
    clean_env.setattr(
        blas_threads, "choose_threads", lambda plan, launch: (1, {"1": 2.5, "4": 3.25})
    )
    assert blas_threads.threads_for_run(PLAN, "auto", Launch()) == (
        1,
        "measured forward-backward: 1 thread(s) 2.5 ms, 4 thread(s) 3.2 ms",
        {"1": 2.5, "4": 3.25},
    )
    clean_env.setattr(blas_threads, "choose_threads", lambda plan, launch: (4, {}))
    assert blas_threads.threads_for_run(PLAN, "auto", Launch())[:2] == (4, "default")


def test_the_choice_is_recorded_as_json(tmp_path):
    path = tmp_path / "choice.json"
    blas_threads.write_choice(path, 2, "--blas-threads", {"1": 5.0})
    assert json.loads(path.read_text()) == {
        "threads": 2,
        "reason": "--blas-threads",
        "forward_backward_ms": {"1": 5.0},
    }
