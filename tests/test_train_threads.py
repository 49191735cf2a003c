"""train's CPU thread count: one count for Caffe's OpenMP pool (the patched build) and OpenBLAS
(stock), chosen from --blas-threads, the environment, or a measurement."""

import subprocess
from types import SimpleNamespace

import pytest

from caffesiam.train import blas_threads
from caffesiam.train.blas_threads import THREAD_VARIABLES, thread_env, threads_for_run
from caffesiam.train.run import caffe_env


class HereLaunch:
    """A launch that runs `caffe` as given (train.launch.HostLaunch without locating a build)."""

    caffe = "caffe"

    def wrap(self, plan, argv, env):
        return list(argv)


def cpu_plan(tmp_path=".", gpu=None):
    return SimpleNamespace(gpu=gpu, net_path=f"{tmp_path}/net.prototxt", cwd=tmp_path)


@pytest.fixture
def clean_env(monkeypatch):
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_one_count_sets_openmp_and_openblas_alike(clean_env):
    assert thread_env(3) == {"OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3"}
    env = caffe_env(2)
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "2"
    assert not set(THREAD_VARIABLES) & set(caffe_env(None))  # GPU runs: left to Caffe


def test_a_count_in_the_environment_replaces_the_other_variable(clean_env):
    """A user's OMP_NUM_THREADS=1 must not leave stock Caffe's OpenBLAS on all cores, nor a
    user's OPENBLAS_NUM_THREADS=1 the patched build's OpenMP pool."""
    clean_env.setenv("OMP_NUM_THREADS", "5")
    clean_env.setenv("OPENBLAS_NUM_THREADS", "7")
    assert caffe_env(1)["OMP_NUM_THREADS"] == caffe_env(1)["OPENBLAS_NUM_THREADS"] == "1"


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"OMP_NUM_THREADS": "3"}, (3, "OMP_NUM_THREADS")),
        ({"OPENBLAS_NUM_THREADS": "2"}, (2, "OPENBLAS_NUM_THREADS")),
        # The order the patched Caffe reads them in.
        ({"OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "2"}, (3, "OMP_NUM_THREADS")),
        # Not a count (OpenMP's own syntax allows lists): measured instead.
        ({"OMP_NUM_THREADS": "2,1"}, (1, "measured")),
        ({"OPENBLAS_NUM_THREADS": "0"}, (1, "measured")),
    ],
)
def test_the_environment_decides_before_a_measurement(clean_env, env, expected):
    for name, value in env.items():
        clean_env.setenv(name, value)
    clean_env.setattr(blas_threads, "choose_threads", lambda *args: (1, {"1": 5.0, "2": 6.0}))
    threads, why, _ = threads_for_run(cpu_plan(), "auto", HereLaunch())
    assert (threads, why.split()[0]) == expected


def test_the_option_beats_the_environment_and_gpu_runs_get_none(clean_env):
    clean_env.setenv("OMP_NUM_THREADS", "3")
    assert threads_for_run(cpu_plan(), "2", HereLaunch())[:2] == (2, "--blas-threads")
    assert threads_for_run(cpu_plan(gpu="0"), "2", HereLaunch())[0] is None


def test_each_measurement_runs_caffe_with_both_variables_set(clean_env, tmp_path):
    seen = []

    def fake_capture(argv, timeout, env, cwd):
        seen.append({name: env.get(name) for name in THREAD_VARIABLES})
        return subprocess.CompletedProcess(argv, 0, "Average Forward-Backward: 4.5 ms\n", "")

    clean_env.setenv("OMP_NUM_THREADS", "9")
    clean_env.setattr(blas_threads.runner, "capture", fake_capture)
    threads, timings = blas_threads.choose_threads(cpu_plan(tmp_path), HereLaunch(), cores=2)
    assert seen == [
        {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
        {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"},
    ]
    assert timings == {"1": 4.5, "2": 4.5}
