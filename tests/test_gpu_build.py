"""The GPU build's shell parts that run without a GPU or a download: how scripts/cuda_toolkit.sh
joins toolkit pieces and which CMake flags a --gpu build gets; the Dockerfiles' inputs.
(The GPU compile itself is `make gpu-build-check`: too slow for the suite.)"""

import os
import re
import subprocess
from pathlib import Path

from conftest import REPO


def bash(script: str, cache: Path, **env) -> str:
    """Runs SCRIPT with install_caffe.sh's functions defined (sourced, not run)."""
    out = subprocess.run(
        ["bash", "-c", f'set -euo pipefail; . "{REPO}/scripts/install_caffe.sh"\n{script}'],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, CAFFESIAM_CACHE=str(cache), **env),
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def fake_piece(root: Path, headers, libs, bins=()):
    for h in headers:
        (root / "include" / h).parent.mkdir(parents=True, exist_ok=True)
        (root / "include" / h).write_text(f"// {root.name}\n")
    for lib in libs:
        (root / "lib").mkdir(parents=True, exist_ok=True)
        (root / "lib" / lib).write_text(root.name)
    for b in bins:
        (root / "bin").mkdir(parents=True, exist_ok=True)
        (root / "bin" / b).write_text(root.name)


def test_view_joins_pieces_first_one_wins_and_adds_linker_names(tmp_path):
    fake_piece(
        tmp_path / "toolkit",
        ["cuda_runtime.h", "cccl/thrust/version.h"],
        ["libcudart.so.13"],
        ["nvcc", "nvcc.profile"],
    )
    fake_piece(
        tmp_path / "wheels",
        ["cuda_runtime.h", "cublas_v2.h"],
        ["libcublas.so.13", "libcudart.so.13"],
    )
    view = tmp_path / "view"
    bash(f'assemble_view "{view}" "{tmp_path}/toolkit" "{tmp_path}/wheels"', tmp_path / "cache")
    assert (view / "include/cuda_runtime.h").read_text() == "// toolkit\n"  # the first piece wins
    assert (view / "include/cublas_v2.h").resolve() == (tmp_path / "wheels/include/cublas_v2.h")
    assert (view / "lib64/libcudart.so.13").read_text() == "toolkit"
    assert os.readlink(view / "lib64/libcublas.so") == "libcublas.so.13"  # wheels ship sonames only
    assert os.readlink(view / "lib") == "lib64"
    profile = (view / "bin/nvcc.profile").read_text()  # the view's own, not the toolkit's
    assert "TOP              = $(_HERE_)/.." in profile
    assert '"-isystem" "$(TOP)/include/cccl"' in profile  # CUDA 13 keeps thrust under include/cccl
    assert not list(tmp_path.glob("view.*")), "no half-made view left beside it"


def test_components_are_found_in_a_root(tmp_path):
    fake_piece(tmp_path / "cudnn", ["cudnn.h"], ["libcudnn.so.9"])
    fake_piece(tmp_path / "headers_only", ["nccl.h"], [])
    found = bash(
        f'for c in cudnn nccl cublas; do for r in "{tmp_path}/cudnn" "{tmp_path}/headers_only"; do '
        f'if has_component "$r" $c; then echo "$c $(basename $r)"; fi; done; done',
        tmp_path / "cache",
    )
    assert found.split("\n")[:-1] == ["cudnn cudnn"]  # a header without its library is not NCCL


def test_gpu_flags_sass_list_ptx_of_the_newest_cudnn_and_nccl(tmp_path):
    view = tmp_path / "view"
    (view / "include").mkdir(parents=True)
    flags = bash(
        f'gpu=1 no_cudnn=0 with_python=0 cuda_view="{view}"; cmake_flags py PREFIX',
        tmp_path / "cache",
    )
    assert "-DCUDA_ARCH_BIN=75 80 86 89 90" in flags.splitlines()
    assert "-DCUDA_ARCH_PTX=90" in flags.splitlines()
    assert "-DUSE_CUDNN=ON" in flags.splitlines() and "-DCPU_ONLY=OFF" in flags.splitlines()
    assert "-DUSE_NCCL=ON" not in flags  # no nccl.h in the view
    (view / "include/nccl.h").write_text("")
    flags = bash(
        f'gpu=1 no_cudnn=1 with_python=0 cuda_view="{view}"; cmake_flags py PREFIX',
        tmp_path / "cache",
        CAFFESIAM_CUDA_ARCH="80",
    )
    assert {"-DUSE_CUDNN=OFF", "-DUSE_NCCL=ON", "-DCUDA_ARCH_BIN=80", "-DCUDA_ARCH_PTX=80"} <= set(
        flags.splitlines()
    )


def test_no_cudnn_needs_gpu(tmp_path):
    out = subprocess.run(
        ["bash", str(REPO / "scripts/install_caffe.sh"), "--no-cudnn", "--skip-system-packages"],
        capture_output=True,
        text=True,
        env=dict(os.environ, CAFFESIAM_CACHE=str(tmp_path)),
    )
    assert out.returncode == 2
    assert out.stderr == "install_caffe: --no-cudnn needs --gpu\n"


def test_dockerfiles_copy_only_what_the_repository_has():
    """...or what scripts/docker_image.sh stages in .docker-build/ (the host's client settings);
    COPY --from copies from another stage."""
    staged = (REPO / "scripts/docker_image.sh").read_text()
    for dockerfile in ("docker/Dockerfile",):
        for line in (REPO / dockerfile).read_text().splitlines():
            if line.startswith("COPY ") and not line.startswith("COPY --from="):
                *sources, _ = line.split()[1:]
                for source in sources:
                    if source.startswith(".docker-build/"):
                        part = source.split("/")[1]
                        assert f'"$stage/{part}' in staged, f"{dockerfile}: {source} not staged"
                    else:
                        assert (REPO / source).exists(), (
                            f"{dockerfile}: COPY {source}: no such path"
                        )
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", ".git"} <= set(ignored) and ".docker-build" not in ignored


def test_gpu_image_builds_with_the_commands_gpu_build_check_runs():
    """One Dockerfile for both images: the GPU one gets --gpu and CUDA 12 as build arguments,
    which its install_caffe.sh and setup.sh steps take, as gpu_build_check.sh runs them."""
    image = (REPO / "docker/Dockerfile").read_text()
    build = (REPO / "scripts/docker_image.sh").read_text()
    check = (REPO / "scripts/gpu_build_check.sh").read_text()
    assert re.search(r"^ARG CAFFE_FLAGS= CAFFESIAM_CUDA= CAFFESIAM_CUDA_ARCH=$", image, re.M)
    assert 'bash scripts/install_caffe.sh $CAFFE_FLAGS --venv "$VENV"' in image
    assert "bash scripts/setup.sh $CAFFE_FLAGS" in image
    assert "--build-arg CAFFE_FLAGS=--gpu" in build
    assert '"CAFFESIAM_CUDA=${CAFFESIAM_CUDA:-12}"' in build and re.search(
        r"^cuda=12$", check, re.M
    )
    assert 'bash "$repo/scripts/setup.sh" --gpu' in check


def test_runtime_cache_keeps_only_the_libraries_the_views_link(tmp_path):
    """An image's copy of the cache: the view's library links and the files they lead to stay and
    still resolve; the compiler, pip, headers, static libraries, stubs and downloads go."""
    cache = tmp_path / "cache"
    wheels = cache / "cuda/wheels-a/nvidia"
    view = cache / "cuda/view-b"
    files = {
        "caffe-x/lib/libcaffe.so.1.0.0": True,
        "downloads/cuda-wheels/nvidia_cudnn.whl": False,
        "logs/build.log": False,
        "cuda/compiler-12.4.131/bin/nvcc": False,
        "cuda/pip-venv/lib/python3.11/site-packages/pip/__init__.py": False,
        "cuda/wheels-a/nvidia/cudnn/lib/libcudnn.so.9": True,
        "cuda/wheels-a/nvidia/cudnn/lib/libcudnn_graph.so.9": True,
        "cuda/wheels-a/nvidia/cudnn/include/cudnn.h": False,
        "cuda/wheels-a/nvidia/cuda_runtime/lib/libcudart_static.a": False,
        "cuda/wheels-a/nvidia/cuda_nvcc/nvvm/lib64/libnvvm.so": False,
        "cuda/view-b/lib64/stubs/libcuda.so": False,
    }
    for name in files:
        (cache / name).parent.mkdir(parents=True, exist_ok=True)
        (cache / name).write_text(name)
    (view / "bin").mkdir()
    (view / "nvvm/lib64").mkdir(parents=True)
    links = {
        "lib64/libcudnn.so.9": wheels / "cudnn/lib/libcudnn.so.9",
        "lib64/libcudnn.so": "libcudnn.so.9",
        "lib64/libcudnn_graph.so.9": wheels / "cudnn/lib/libcudnn_graph.so.9",
        "lib64/libcudart_static.a": wheels / "cuda_runtime/lib/libcudart_static.a",
        "lib": "lib64",
        "bin/nvcc": cache / "cuda/compiler-12.4.131/bin/nvcc",
        "nvvm/lib64/libnvvm.so": wheels / "cuda_nvcc/nvvm/lib64/libnvvm.so",
    }
    for name, target in links.items():
        (view / name).symlink_to(target)

    done = subprocess.run(
        ["bash", REPO / "scripts/runtime_cache.sh", cache], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    left = sorted(
        os.path.relpath(os.path.join(folder, name), cache)
        for folder, dirs, names in os.walk(cache)
        for name in names + [d for d in dirs if os.path.islink(os.path.join(folder, d))]
    )
    assert left == sorted(
        [name for name, kept in files.items() if kept]
        + [
            "cuda/view-b/lib",
            *(
                f"cuda/view-b/lib64/{n}"
                for n in ("libcudnn.so", "libcudnn.so.9", "libcudnn_graph.so.9")
            ),
        ]
    )
    assert (view / "lib/libcudnn.so").read_text() == "cuda/wheels-a/nvidia/cudnn/lib/libcudnn.so.9"
