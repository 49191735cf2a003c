"""What the bench scripts share: running the installed caffesiam as a whole process."""

import os
import subprocess
import sys
import time
from pathlib import Path

TOOL = str(Path(sys.executable).parent / "caffesiam")


def tool(*args, cwd):
    """Run `caffesiam ARGS` in cwd; exit with its stderr if it fails; returns (result, seconds)."""
    started = time.time()
    done = subprocess.run([TOOL, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, GLOG_minloglevel="2"))
    if done.returncode:
        sys.exit(f"caffesiam {' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}")
    return done, time.time() - started
