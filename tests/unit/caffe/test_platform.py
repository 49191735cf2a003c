"""The supported platforms and Pythons, read the way doctor and install_caffe.sh read them."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from caffesiam.caffe import platform

REPO = Path(__file__).resolve().parents[3]
REQUIRES = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
TRIXIE = """PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
NAME="Debian GNU/Linux"
VERSION_ID="13"
VERSION_CODENAME=trixie
ID=debian
"""
NOBLE = 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nID=ubuntu\nVERSION_ID="24.04"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (TRIXIE, ("Debian GNU/Linux 13 (trixie)", True)),
        (
            TRIXIE.replace('"13"', '"12"').replace("13 (trixie)", "12 (bookworm)"),
            ("Debian GNU/Linux 12 (bookworm)", True),
        ),
        (
            TRIXIE.replace('"13"', '"11"').replace("13 (trixie)", "11 (bullseye)"),
            ("Debian GNU/Linux 11 (bullseye)", False),
        ),
        (NOBLE, ("Ubuntu 24.04.1 LTS", False)),
        ("# nothing\n", ("unknown", False)),
    ],
)
def test_system_release_names_the_release_and_whether_ci_checks_it(tmp_path, text, expected):
    path = tmp_path / "os-release"
    path.write_text(text)
    assert platform.system_release(path) == expected


def test_no_os_release_is_unknown(tmp_path):
    assert platform.system_release(tmp_path / "missing") == ("unknown (no /etc/os-release)", False)


def test_the_supported_range_is_pyprojects():
    assert platform.supported_python_range(REQUIRES) == ((3, 11), (3, 14))
    installed = platform.supported_python_range(platform.requires_python())
    assert installed == ((3, 11), (3, 14))


@pytest.mark.parametrize(
    ("version", "word"),
    [((3, 10), "older"), ((3, 11), None), ((3, 12), None), ((3, 13), None), ((3, 14), "newer")],
)
def test_python_problem_says_older_or_newer(version, word):
    problem = platform.python_problem(version, ">=3.11,<3.14")
    if word is None:
        assert problem is None
    else:
        assert (
            f"Python {version[0]}.{version[1]} is {word} than the supported 3.11 to 3.13" in problem
        )


def test_an_unbounded_specifier_is_refused():
    with pytest.raises(ValueError, match="not of the form"):
        platform.supported_python_range(">=3.11")


def run_check(tmp_path, requires: str) -> subprocess.CompletedProcess:
    """install_caffe.sh's own check, against a pyproject.toml that says REQUIRES."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    for name in ("install_caffe.sh", "steps.sh", "cuda_toolkit.sh"):
        (scripts / name).write_text((REPO / "scripts" / name).read_text())
    (tmp_path / "pyproject.toml").write_text(f'[project]\nrequires-python = "{requires}"\n')
    return subprocess.run(
        ["bash", "-c", f'. {scripts}/install_caffe.sh; check_python_version "{sys.executable}"'],
        capture_output=True,
        text=True,
    )


def test_install_script_refuses_a_python_outside_the_range_before_any_work(tmp_path):
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    newer = f">={sys.version_info[0]}.{sys.version_info[1] + 1},<{sys.version_info[0]}.99"
    older = f">=3.0,<{mine}"
    for requires, word in ((newer, "older"), (older, "newer")):
        (tmp_path / word).mkdir()
        out = run_check(tmp_path / word, requires)
        assert out.returncode == 2, out.stderr
        assert f"is Python {mine}, {word} than the supported" in out.stderr
        assert len(out.stderr.splitlines()) == 1


def test_install_script_accepts_a_python_inside_the_range(tmp_path):
    out = run_check(tmp_path, REQUIRES)
    assert out.returncode == 0, out.stderr
