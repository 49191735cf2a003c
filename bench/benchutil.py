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


REPO = Path(__file__).resolve().parents[1]
STOCK_VENV = REPO / "build" / "stock-venv"


def patched_caffe() -> Path:
    """This checkout's Caffe prefix (the one `make setup` linked into the venv), checked to carry
    the speed patches."""
    prefix = (Path(sys.prefix) / "caffe").resolve()
    if b"caffe_cpu_threads" not in (prefix / "lib" / "libcaffe.so").read_bytes():
        sys.exit(f"{prefix} is a stock build; run `make setup` without CAFFESIAM_CAFFE_PATCHES=stock")
    return prefix


def stock_caffe() -> Path:
    """Stock Caffe (no speed patches), built by install_caffe.sh --stock beside this checkout's
    venv, in a venv of its own (build/stock-venv); cached after the first time (a build takes
    some 20 minutes on two cores)."""
    print("stock Caffe: install_caffe.sh --stock (cached after the first build) ...", flush=True)
    done = subprocess.run(["bash", str(REPO / "scripts/install_caffe.sh"), "--stock", "--skip-system-packages",
                           "--venv", str(STOCK_VENV)], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"install_caffe.sh --stock failed:\n{done.stderr[-3000:]}")
    return (STOCK_VENV / "caffe").resolve()
