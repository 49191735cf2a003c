"""What the caffesiam:gpu image holds, on a real Docker engine (make docker-gpu-check builds it
first, its SASS limited to CAFFESIAM_CUDA_ARCH). No GPU is needed, and no kernel runs: the device
code is read with cuobjdump (CAFFESIAM_CUOBJDUMP, PyPI's) from the libcaffe that `docker cp`
takes out, and the library versions are those `caffesiam doctor` asks the libraries for.
Outside make docker-gpu-check these skip.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, docker_engine

IMAGE = "caffesiam:gpu"
CHECK = os.environ.get("CAFFESIAM_DOCKER_GPU_CHECK") == "1"
ENGINE, WHY_NOT = docker_engine(IMAGE) if CHECK else (None, "")
TOOLKIT = (REPO / "scripts/cuda_toolkit.sh").read_text()
# What the check asked for, else install_caffe.sh's default list.
ARCHS = os.environ.get("CAFFESIAM_CUDA_ARCH") or re.search(
    r'^cuda_arch_default="(.*)"$', TOOLKIT, re.M
).group(1)
CUDA = os.environ.get("CAFFESIAM_CUDA") or "12"
pytestmark = [
    pytest.mark.docker_gpu,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHECK, reason="make docker-gpu-check builds caffesiam:gpu and runs these"
    ),
]


@pytest.fixture(autouse=True)
def engine_found():
    if ENGINE is None:
        pytest.fail(WHY_NOT)


def docker(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, DOCKER_HOST=ENGINE) if ENGINE else os.environ
    return subprocess.run(["docker", *args], capture_output=True, text=True, env=env)


def in_image(script: str) -> str:
    shown = docker("run", "--rm", "--network", "none", IMAGE, "sh", "-c", script)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def pinned_version(component: str) -> str:
    """The version of a CUDA wheel the build fetched, read from the pins in cuda_toolkit.sh."""
    table = re.search(rf"declare -A cuda{CUDA}_wheel=\((.*?)\n\)", TOOLKIT, re.S).group(1)
    return re.search(rf"\[{component}\]=\"nvidia-[\w-]+==([\d.]+)", table).group(1)


@pytest.fixture(scope="module")
def libcaffe(tmp_path_factory) -> Path:
    """The image's libcaffe, copied out of a container made (not started) from it."""
    real = in_image('ls "$(readlink -f /opt/venv/caffe)"/lib/libcaffe.so.*.*').split()[0]
    made = docker("create", IMAGE)
    assert made.returncode == 0, made.stderr
    container = made.stdout.strip()
    out = tmp_path_factory.mktemp("libcaffe") / Path(real).name
    try:
        copied = docker("cp", f"{container}:{real}", str(out))
        assert copied.returncode == 0, copied.stderr
    finally:
        docker("rm", container)
    return out


def cuobjdump(*args) -> str:
    tool = os.environ.get("CAFFESIAM_CUOBJDUMP")
    if not tool:
        pytest.fail("CAFFESIAM_CUOBJDUMP is not set (make docker-gpu-check sets it)")
    out = subprocess.run([tool, *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    print(out.stdout)
    return out.stdout


def test_libcaffe_holds_sass_for_each_architecture_and_ptx_for_the_newest(libcaffe):
    sass = set(re.findall(r"sm_\d+", cuobjdump("--list-elf", str(libcaffe))))
    ptx = set(re.findall(r"sm_\d+", cuobjdump("--list-ptx", str(libcaffe))))
    assert sass == {f"sm_{a}" for a in ARCHS.split()}
    assert ptx == {f"sm_{ARCHS.split()[-1]}"}


def test_doctor_reads_the_cuda_runtime_cudnn_and_nccl_versions_in_the_image():
    shown = docker("run", "--rm", "--network", "none", IMAGE, "caffesiam", "doctor")
    print(shown.stdout)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    line = next(x for x in shown.stdout.splitlines() if "CUDA, cuDNN, NCCL" in x)
    runtime = ".".join(pinned_version("runtime").split(".")[:2])
    cudnn = ".".join(pinned_version("cudnn").split(".")[:3])
    for expected in (
        f"CUDA runtime {runtime} (/opt/caffe-cache/cuda/",
        f"cuDNN {cudnn} (/opt/caffe-cache/cuda/",
        f"NCCL {pinned_version('nccl')} (/opt/caffe-cache/cuda/",
    ):
        assert expected in line


def test_every_cuda_library_the_build_links_resolves_in_the_image():
    prefix = '"$(readlink -f /opt/venv/caffe)"'
    shown = in_image(
        f"for f in {prefix}/lib/libcaffe.so.*.* {prefix}/bin/caffe {prefix}/python/caffe/_caffe.so;"
        ' do env -u LD_LIBRARY_PATH ldd "$f"; done'
    )
    assert "not found" not in shown
    for stem in ("cudart", "cublas", "cublasLt", "curand", "cudnn", "nccl"):
        assert re.search(rf"lib{stem}\.so\.\d+ => /opt/caffe-cache/cuda/\S+", shown), stem


def test_the_image_holds_no_toolkit_compiler_headers_or_host_settings():
    shown = in_image(
        "for t in gcc g++ cc cmake make nvcc ptxas cicc fatbinary cuobjdump; do"
        " command -v $t; done; "
        "for p in /etc/pip.conf /etc/xdg/pip /etc/caffesiam-build.env /opt/caffesiam/scripts"
        " /usr/include/boost /usr/include/caffe; do [ -e $p ] && echo present: $p; done; "
        "find /opt/caffe-cache/cuda \\( -name '*.h' -o -name '*.a' -o -name 'bin'"
        " -o -name 'stubs' -o -name 'pip-venv' -o -name 'compiler-*' \\) -print"
    )
    assert shown == ""
