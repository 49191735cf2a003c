"""The only module that starts processes: argv builders, capture, and streaming runs."""

import shutil
import subprocess
from typing import Optional, Sequence

from caffesiam.errors import ToolMissing


def which(program: str) -> Optional[str]:
    """Full path of `program`, or None."""
    return shutil.which(program)


def require(program: str, package: str) -> str:
    """Full path of `program`, or ToolMissing naming the package that provides it."""
    path = which(program)
    if path is None:
        raise ToolMissing(f"'{program}' not found on PATH; install it (Debian: apt-get install {package})")
    return path


def capture(argv: Sequence[str], timeout: float = 60, env=None) -> subprocess.CompletedProcess:
    """Run argv to completion and capture its output as text (stdout and stderr merged)."""
    return subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, env=env, check=False)
