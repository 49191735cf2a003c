"""doctor's report of the CUDA runtime, cuDNN and NCCL that the Caffe build links, and the GPUs.

No GPU here. The real CPU build must say "CPU only"; a SYNTHETIC build (a libcaffe.so that links
small libcudart/libcudnn/libnccl stand-ins compiled here with the sonames and version calls of
the real ones, and a `caffe` script) checks the reading of ELF links and versions; every real GPU
build compiled on this machine (make gpu-build-check) is checked against the
version macros of its toolkit's headers.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run_tool

from caffesiam.caffe import cuda_libs, locate
from caffesiam.files import cache_dir

LDD = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibcudart.so.12 => /opt/cuda/lib64/libcudart.so.12 (0x00007f01)
\tlibcudnn.so.9 => not found
\tlibopenblas.so.0 => /lib/x86_64-linux-gnu/libopenblas.so.0 (0x00007f02)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f03)
"""


def test_ldd_lines_name_each_library_and_where_it_resolves():
    found = cuda_libs.linked(LDD)
    assert found["cudart"] == ("libcudart.so.12", "/opt/cuda/lib64/libcudart.so.12")
    assert found["cudnn"] == ("libcudnn.so.9", None)
    assert "nccl" not in found and "vdso" not in " ".join(found)
    with pytest.raises(OSError, match="links libcudnn.so.9, which the loader cannot find"):
        cuda_libs.describe(LDD, "libcaffe.so", version_of=lambda lib, path: "x")
    assert cuda_libs.describe(LDD.replace("libcudart", "libfoo"), "libcaffe.so").startswith(
        "CPU only"
    )


@pytest.mark.parametrize(
    "lib,code,shown",
    [
        ("CUDA runtime", 12040, "12.4"),
        ("CUDA runtime", 13000, "13.0"),
        ("CUDA runtime", 10020, "10.2"),
        ("cuDNN", 90100, "9.1.0"),
        ("cuDNN", 91300, "9.13.0"),
        ("cuDNN", 8907, "8.9.7"),
        ("NCCL", 22105, "2.21.5"),
        ("NCCL", 2804, "2.8.4"),
    ],
)
def test_version_codes_read_as_nvidia_headers_define_them(lib, code, shown):
    """cudnn_version.h: CUDNN_VERSION is major*10000+minor*100+patch from 9, major*1000+... in 8;
    nccl.h: NCCL_VERSION(X,Y,Z) is X*10000+Y*100+Z from 2.9, X*1000+Y*100+Z before; CUDART_VERSION
    is major*1000+minor*10."""
    (spec,) = [s for s in cuda_libs.LIBS if s.label == lib]
    assert spec.show(code) == shown


FAKE_LIBS = {
    "cudart": ("libcudart.so.12", "int cudaRuntimeGetVersion(int *v) { *v = 12040; return 0; }"),
    "cudnn": (
        "libcudnn.so.9",
        "#include <stddef.h>\nsize_t cudnnGetVersion(void) { return 90100; }",
    ),
    "nccl": ("libnccl.so.2", "int ncclGetVersion(int *v) { *v = 22105; return 0; }"),
}


def synthetic_build(root: Path, stems) -> Path:
    """A prefix whose lib/libcaffe.so links the given CUDA library stand-ins (by soname, found
    through its rpath) and the real OpenBLAS, and whose bin/caffe answers --version."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc to compile the synthetic libraries")
    prefix, cuda = root / "prefix", root / "cuda"
    (prefix / "lib").mkdir(parents=True)
    (prefix / "bin").mkdir()
    cuda.mkdir()
    links = []
    for stem in stems:
        soname, code = FAKE_LIBS[stem]
        (root / f"{stem}.c").write_text(code + "\n")
        subprocess.run(
            [
                "gcc",
                "-shared",
                "-fPIC",
                f"-Wl,-soname,{soname}",
                "-o",
                str(cuda / soname),
                str(root / f"{stem}.c"),
            ],
            check=True,
        )
        links.append(f"-l:{soname}")
    (root / "caffe.c").write_text("int caffe_stand_in(void) { return 0; }\n")
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-o",
            str(prefix / "lib/libcaffe.so"),
            str(root / "caffe.c"),
            f"-L{cuda}",
            f"-Wl,-rpath,{cuda}",
            "-Wl,--no-as-needed",
            *links,
            "-lopenblas",
        ],
        check=True,
    )
    (prefix / "bin/caffe").write_text("#!/bin/sh\necho 'caffe version 1.0.0'\n")
    (prefix / "bin/caffe").chmod(0o755)
    (prefix / "proto").mkdir()
    shutil.copy(locate.caffe_pb2_file(), prefix / "proto")  # the real one: doctor loads it
    return prefix


def cuda_line(stdout: str) -> str:
    (line,) = [line for line in stdout.splitlines() if "CUDA, cuDNN, NCCL" in line]
    return line


@pytest.mark.slow
def test_doctor_reads_versions_from_the_libraries_a_build_links(tmp_path):
    prefix = synthetic_build(tmp_path, ["cudart", "cudnn", "nccl"])
    out = run_tool("doctor", env=dict(os.environ, CAFFESIAM_CAFFE_HOME=str(prefix)))
    assert out.returncode == 0, out.stdout + out.stderr
    cuda = tmp_path / "cuda"
    assert cuda_line(out.stdout) == (
        f"ok      CUDA, cuDNN, NCCL        CUDA runtime 12.4 ({cuda}/libcudart.so.12); "
        f"cuDNN 9.1.0 ({cuda}/libcudnn.so.9); NCCL 2.21.5 ({cuda}/libnccl.so.2)"
    )


@pytest.mark.slow
def test_doctor_on_a_build_without_cudnn_and_one_whose_nccl_is_gone(tmp_path):
    prefix = synthetic_build(tmp_path, ["cudart", "nccl"])  # install_caffe.sh --gpu --no-cudnn
    out = run_tool("doctor", env=dict(os.environ, CAFFESIAM_CAFFE_HOME=str(prefix)))
    assert out.returncode == 0 and "CUDA runtime 12.4" in cuda_line(out.stdout)
    assert "cuDNN: not linked" in cuda_line(out.stdout)
    (tmp_path / "cuda/libnccl.so.2").unlink()
    out = run_tool("doctor", env=dict(os.environ, CAFFESIAM_CAFFE_HOME=str(prefix)))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert cuda_line(out.stdout).startswith("MISSING CUDA, cuDNN, NCCL")
    assert "links libnccl.so.2, which the loader cannot find" in out.stdout
    assert out.stderr.strip() == "missing: CUDA, cuDNN, NCCL; run 'make setup'"


@pytest.mark.caffe
@pytest.mark.slow
def test_doctor_on_the_real_cpu_build_says_cpu_only_and_no_gpus():
    out = run_tool("doctor")
    assert "ok      CUDA, cuDNN, NCCL        CPU only (links no CUDA runtime)" in out.stdout
    if shutil.which("nvidia-smi") is None:
        assert re.search(r"^--\s+GPUs\s+none visible", out.stdout, re.M)


def gpu_builds():
    """Caffe GPU builds compiled on this machine (make gpu-build-check) in caffesiam's cache."""
    return [
        p
        for p in sorted(cache_dir().glob("caffe-*"))
        if "set(Caffe_CPU_ONLY OFF)" in _read(p / "share/Caffe/CaffeConfig.cmake")
        and (p / "lib/libcaffe.so").exists()
    ]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _macros(header: Path, *names):
    text = header.read_text()
    return [re.search(rf"#define {name}\s+(\d+)", text).group(1) for name in names]


@pytest.mark.slow
@pytest.mark.skipif(
    not gpu_builds(), reason="no GPU build of Caffe on this machine (make gpu-build-check)"
)
@pytest.mark.parametrize("prefix", gpu_builds() or [None], ids=lambda p: p.name if p else "none")
def test_doctor_on_a_real_gpu_build_matches_its_toolkits_headers(prefix):
    out = run_tool("doctor", env=dict(os.environ, CAFFESIAM_CAFFE_HOME=str(prefix)))
    line = cuda_line(out.stdout)
    assert line.startswith("ok"), out.stdout
    cudart = re.search(r"CUDA runtime \S+ \((\S+)\)", line).group(1)
    include = Path(cudart).parent.parent / "include"  # the toolkit view the build's rpath names
    runtime = int(_macros(include / "cuda_runtime_api.h", "CUDART_VERSION")[0])
    cudnn = ".".join(
        _macros(include / "cudnn_version.h", "CUDNN_MAJOR", "CUDNN_MINOR", "CUDNN_PATCHLEVEL")
    )
    nccl = ".".join(_macros(include / "nccl.h", "NCCL_MAJOR", "NCCL_MINOR", "NCCL_PATCH"))
    assert f"CUDA runtime {runtime // 1000}.{runtime % 1000 // 10} (" in line
    assert f"cuDNN {cudnn} (" in line and f"NCCL {nccl} (" in line
    # Its own caffe_pb2, and the venv's pycaffe, from the CPU build, named as another build's.
    assert re.search(
        rf"^ok +caffe_pb2 \(standalone\) +{re.escape(str(prefix / 'proto' / 'caffe_pb2.py'))}$",
        out.stdout,
        re.M,
    )
    assert f"not from the build of the caffe binary ({prefix}/python/caffe)" in out.stdout
