"""Class: scripts/install_caffe.sh checks every option and every environment value it reads
before its first step. A bad one is one line and exit 2, and nothing was made: no venv, no
cache, no apt call, and a folder --venv names is left as it was.

pip is kept off any index here, so a script that started its steps anyway fails fast (exit 1)
instead of downloading; the apt tools are stand-ins that record their calls.
"""

import os
import subprocess
import sys
import tarfile

import pytest
from conftest import REPO

from hostile.helpers import changes, snapshot

pytestmark = pytest.mark.slow  # one bash per case (and a venv each, where nothing checks first)

SCRIPT = REPO / "scripts" / "install_caffe.sh"
READ = ("CAFFESIAM_", "CUDA_HOME", "CUDNN_ROOT", "NCCL_ROOT", "XDG_CACHE_HOME", "PIP_")


@pytest.fixture
def place(tmp_path):
    """(tmp_path, env): a small valid source tarball, the cache under tmp_path, pip offline, and
    stand-in apt tools that record every call in tmp_path/apt-calls."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "CMakeLists.txt").write_text("project(planted NONE)\n")
    with tarfile.open(tmp_path / "source.tar.gz", "w:gz") as tar:
        tar.add(tree, arcname=".")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("apt-get", "apt-cache", "dpkg-query"):
        (bin_dir / tool).write_text(
            f'#!/bin/sh\necho "{tool} $*" >>"{tmp_path}/apt-calls"\nexit 1\n'
        )
        (bin_dir / tool).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(READ)}
    env.update(
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        CAFFESIAM_CACHE=str(tmp_path / "cache"),
        CAFFESIAM_CAFFE_SOURCE=str(tmp_path / "source.tar.gz"),
        PIP_NO_INDEX="1",
        PIP_CONFIG_FILE=os.devnull,
        retry_delay="0",
    )
    return tmp_path, env


def install(place, *args, **env):
    tmp_path, base = place
    values = {k: v.format(t=tmp_path) for k, v in env.items()}
    return subprocess.run(
        ["bash", str(SCRIPT), "--venv", str(tmp_path / "venv"), "--python", sys.executable, *args],
        capture_output=True,
        text=True,
        env=dict(base, **values),
        timeout=600,
    )


def refused_before_any_step(done, place, *words):
    tmp_path, _ = place
    assert (done.returncode, done.stderr.count("\n")) == (2, 1), done.stderr[-2000:]
    assert done.stderr.startswith("install_caffe: ") and done.stdout == ""
    for word in words:
        assert word in done.stderr, done.stderr
    assert not (tmp_path / "venv").exists() and not (tmp_path / "cache").exists()
    assert not (tmp_path / "apt-calls").exists()


# (options, environment, words of the one line); {t} is the test's folder.
CASES = {
    "source missing": (
        [],
        {"CAFFESIAM_CAFFE_SOURCE": "{t}/missing.tar.gz"},
        ["CAFFESIAM_CAFFE_SOURCE: no file {t}/missing.tar.gz"],
    ),
    "source a folder": (
        [],
        {"CAFFESIAM_CAFFE_SOURCE": "{t}/tree"},
        ["CAFFESIAM_CAFFE_SOURCE: {t}/tree is a directory, not a source tarball"],
    ),
    "system packages not touched": (
        [],
        {"CAFFESIAM_CAFFE_SOURCE": "{t}/missing.tar.gz"},
        ["CAFFESIAM_CAFFE_SOURCE: no file"],
    ),
    "jobs a word": ([], {"CAFFESIAM_JOBS": "many"}, ["CAFFESIAM_JOBS", "got 'many'"]),
    "jobs zero": ([], {"CAFFESIAM_JOBS": "0"}, ["CAFFESIAM_JOBS", "got '0'"]),
    "cache a file": (
        [],
        {"CAFFESIAM_CACHE": "{t}/source.tar.gz"},
        ["cache {t}/source.tar.gz exists and is not a directory"],
    ),
    "python not python": (["--python", "/bin/true"], {}, ["--python: /bin/true is not a Python"]),
    "cuda release": (["--gpu"], {"CAFFESIAM_CUDA": "11"}, ["CAFFESIAM_CUDA must be 12 or 13"]),
    "cuda home empty": (
        ["--gpu"],
        {"CUDA_HOME": "{t}/tree"},
        ["CUDA_HOME={t}/tree has no bin/nvcc"],
    ),
    "cuda arch": (
        ["--gpu"],
        {"CAFFESIAM_CUDA": "12", "CAFFESIAM_CUDA_ARCH": "sm_90"},
        ["CAFFESIAM_CUDA_ARCH", "got 'sm_90'"],
    ),
    "cudnn root missing": (
        ["--gpu"],
        {"CAFFESIAM_CUDA": "12", "CUDNN_ROOT": "{t}/no-cudnn"},
        ["CUDNN_ROOT: {t}/no-cudnn is not a directory"],
    ),
    "nccl root a file": (
        ["--gpu"],
        {"CAFFESIAM_CUDA": "12", "NCCL_ROOT": "{t}/source.tar.gz"},
        ["NCCL_ROOT: {t}/source.tar.gz is not a directory"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_value_stops_before_any_step(case, place):
    args, env, words = CASES[case]
    skip = [] if case == "system packages not touched" else ["--skip-system-packages"]
    done = install(place, *skip, *args, **env)
    refused_before_any_step(done, place, *(w.format(t=place[0]) for w in words))


def test_a_venv_path_that_is_a_file_is_left_alone(place):
    tmp_path, _ = place
    (tmp_path / "venv").write_text("notes\n")
    done = install(place, "--skip-system-packages")
    assert (done.returncode, done.stderr.count("\n")) == (2, 1), done.stderr[-2000:]
    assert f"--venv: {tmp_path / 'venv'} exists and is not a directory" in done.stderr
    assert (tmp_path / "venv").read_text() == "notes\n" and not (tmp_path / "cache").exists()


def test_a_venv_path_holding_other_files_is_left_alone(place):
    """An existing folder that is no virtualenv is not emptied to make one."""
    tmp_path, _ = place
    (tmp_path / "venv" / "thesis").mkdir(parents=True)
    (tmp_path / "venv" / "thesis" / "chapter1.tex").write_text("years of work")
    before = snapshot(tmp_path / "venv")
    done = install(place, "--skip-system-packages")
    assert (done.returncode, done.stderr.count("\n")) == (2, 1), done.stderr[-2000:]
    assert f"--venv: {tmp_path / 'venv'} holds files and is not a virtualenv" in done.stderr
    assert changes(before, tmp_path / "venv") == set() and not (tmp_path / "cache").exists()
