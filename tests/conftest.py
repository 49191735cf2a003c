import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from caffesiam.cli import main

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
# glog would otherwise flood the test output.
os.environ.setdefault("GLOG_minloglevel", "2")


@pytest.fixture
def cli():
    """Invoke the click app; stdout and stderr kept apart."""
    runner = CliRunner()

    def invoke(*args, **kwargs):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)

    return invoke


def run_tool(*args, **kwargs):
    """Run the installed console script as a user would, as a separate process."""
    return subprocess.run([str(VENV_BIN / "caffesiam"), *map(str, args)],
                          capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="session")
def caffe_src():
    from caffesiam.locate import caffe_source

    return caffe_source()
