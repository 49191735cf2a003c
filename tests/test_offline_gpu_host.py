"""A GPU host without internet (docs/offline-gpu-host.md): scripts/offline_bundle.sh,
offline_gpu_check.sh and offline_rehearsal.sh, in what runs without a GPU, a registry or root.
The bundle itself is `make offline-bundle`, the check's stages need a GPU host, and the rehearsal
needs root (`make offline-rehearsal`).
"""

import os
import re
import subprocess
import tomllib

import pytest
from conftest import REPO

BUNDLE = REPO / "scripts" / "offline_bundle.sh"
CHECK = REPO / "scripts" / "offline_gpu_check.sh"
REHEARSAL = REPO / "scripts" / "offline_rehearsal.sh"


def run(script, *args, env=None):
    return subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, env=env, timeout=60
    )


def sourced(script, snippet, env=None):
    """Runs SNIPPET after sourcing SCRIPT (which defines functions and runs nothing)."""
    out = subprocess.run(
        ["bash", "-c", f'set -euo pipefail; . "{script}"\n{snippet}'],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize(
    "script, args, message",
    [
        (
            CHECK,
            [],
            "offline_gpu_check: which stage: configure, build, gtest, train, bench or "
            "compare OUTDIR? (see --help)",
        ),
        (CHECK, ["deploy"], "offline_gpu_check: unknown stage 'deploy' (see --help)"),
        (
            CHECK,
            ["build", "gtest"],
            "offline_gpu_check: one stage at a time, got 'build' and 'gtest'",
        ),
        (CHECK, ["compare"], "offline_gpu_check: compare needs the folder the train stage wrote"),
        (CHECK, ["build", "--bundle"], "offline_gpu_check: --bundle needs a value (see --help)"),
        (
            CHECK,
            ["build", "--arch", "sm_90"],
            "offline_gpu_check: --arch must be like \"80 90\", got 'sm_90'",
        ),
        (CHECK, ["build", "--fast"], "offline_gpu_check: unknown argument '--fast' (see --help)"),
        (BUNDLE, ["--out"], "offline_bundle: --out needs a value (see --help)"),
        (
            BUNDLE,
            ["--python-version", "3"],
            "offline_bundle: --python-version must be like 3.12, got '3'",
        ),
        (
            BUNDLE,
            ["--max-size", "64M"],
            "offline_bundle: --max-size must be a number of MiB, got '64M'",
        ),
        (BUNDLE, ["--fast"], "offline_bundle: unknown argument '--fast' (see --help)"),
        (REHEARSAL, ["--cuda", "11"], "offline_rehearsal: --cuda needs 12 or 13"),
        (
            REHEARSAL,
            ["build", "--arch", "9.0"],
            "offline_rehearsal: --arch must be like \"80 90\", got '9.0'",
        ),
        (REHEARSAL, ["gtest"], "offline_rehearsal: unknown argument 'gtest' (see --help)"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(script, args, message):
    env = {k: v for k, v in os.environ.items() if k != "CAFFESIAM_CUDA_ARCH"}
    out = run(script, *args, env=env)
    assert (out.returncode, out.stderr) == (2, message + "\n")


@pytest.mark.parametrize("script", [BUNDLE, CHECK, REHEARSAL])
def test_help_shows_the_usage_line(script):
    out = run(script, "--help")
    assert out.returncode == 0
    assert f"scripts/{script.name} [" in out.stdout or f"scripts/{script.name} STAGE" in out.stdout


@pytest.fixture
def nvidia_smi(tmp_path):
    """Puts a stand-in nvidia-smi on PATH that prints OUTPUT for any query, or fails (None)."""

    def install(output):
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        body = "exit 9" if output is None else f"printf '{output}'"
        (bin_dir / "nvidia-smi").write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / "nvidia-smi").chmod(0o755)
        env = {k: v for k, v in os.environ.items() if k != "CAFFESIAM_CUDA_ARCH"}
        return dict(env, PATH=f"{bin_dir}:{os.environ['PATH']}")

    return install


@pytest.mark.parametrize(
    "gpus, env_arch, option, arch",
    [
        ("9.0\\n8.6\\n9.0\\n", None, [], "86 90"),  # each of the host's GPUs' architectures once
        (None, None, [], ""),  # no GPU answers: install_caffe.sh's own list
        ("9.0\\n", "80", [], "80"),  # CAFFESIAM_CUDA_ARCH over the GPUs
        ("9.0\\n", "80", ["--arch", "75 80"], "75 80"),  # --arch over both
    ],
)
def test_the_check_builds_for_the_hosts_gpus_unless_told(nvidia_smi, gpus, env_arch, option, arch):
    env = nvidia_smi(gpus)
    if env_arch:
        env["CAFFESIAM_CUDA_ARCH"] = env_arch
    args = " ".join(f"'{a}'" for a in ["build", *option])
    assert sourced(CHECK, f'parse_args {args}; echo "[$arch]"', env=env) == f"[{arch}]\n"


def test_the_check_without_a_bundle_says_how_to_make_one(tmp_path):
    out = run(CHECK, "configure", "--bundle", str(tmp_path / "none"), "--work", str(tmp_path / "w"))
    assert out.returncode == 1
    assert out.stderr.startswith(f"offline_gpu_check: no {tmp_path}/none/deps.tar.xz: make the")
    assert "scripts/offline_bundle.sh where the registries are" in out.stderr


def test_the_bundles_wheels_are_pyprojects_dependencies_and_demo_extra():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = sourced(BUNDLE, "project_requirements").splitlines()
    assert lines == [f"run {r}" for r in project["dependencies"]] + [
        f"demo {r}" for r in project["optional-dependencies"]["demo"]
    ]


# What the offline scripts take from install_caffe.sh, which they source: a rename there must
# reach them.
FROM_INSTALL_CAFFE = [
    "parse_args",
    "resolve_source",
    "resolve_cuda_toolkit",
    "unpack_source",
    "selected_patches",
    "cmake_flags",
    "configure",
]


def test_the_install_caffe_functions_the_offline_scripts_call_exist():
    offline = "".join(script.read_text() for script in (BUNDLE, CHECK, REHEARSAL))
    assert all(re.search(rf"\b{name}\b", offline) for name in FROM_INSTALL_CAFFE)
    defined = sourced(
        REPO / "scripts/install_caffe.sh", f"declare -F {' '.join(FROM_INSTALL_CAFFE)}"
    )
    assert defined.split() == FROM_INSTALL_CAFFE


def test_the_makefile_runs_the_offline_scripts():
    makefile = (REPO / "Makefile").read_text()
    run_scripts = set(re.findall(r"bash (scripts/\S+)", makefile))
    assert {f"scripts/{s.name}" for s in (BUNDLE, CHECK, REHEARSAL)} <= run_scripts
    assert all((REPO / s).is_file() for s in run_scripts)
