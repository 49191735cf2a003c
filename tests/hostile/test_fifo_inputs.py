"""Class: specs and nets through pipes. `gen-net <(cat spec.yaml)` and `cat net | draw -` are
shell habits: a spec or net read once is read from a FIFO or stdin as from a file, with the same
size bound. A FIFO that nobody writes to is one line and exit 2 after a few seconds, not a hang.
Whatever is read again later (databases, weights, an image folder, the nets pycaffe loads)
keeps refusing a FIFO."""

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO, VENV_BIN

from caffesiam.limits import PIPE_WAIT_S, TEXT_BYTES
from hostile.helpers import changes, refused, run, snapshot

pytestmark = [pytest.mark.caffe, pytest.mark.slow]  # one process per case

SPEC = REPO / "templates/lenet.yaml"
CAFFESIAM = str(VENV_BIN / "caffesiam")


def shell(script: str, *args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    """`script` run by bash with "$caffesiam" set and `args` as $1, $2...; process substitution
    is bash's."""
    return subprocess.run(
        ["bash", "-c", f'caffesiam="{CAFFESIAM}"\n{script}', "bash", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return done


def test_gen_net_reads_a_spec_through_process_substitution():
    done = ok(shell('"$caffesiam" gen-net <(cat "$1")', SPEC))
    assert "_train_test" in done.stdout and done.stdout == ok(run("gen-net", SPEC)).stdout


def test_gen_net_tells_a_prototxt_through_a_pipe_by_its_text(model):
    """A pipe has no extension: the text says whether it is YAML or a net prototxt."""
    deploy, _ = model
    done = ok(shell('"$caffesiam" gen-net <(cat "$1")', deploy))
    assert done.stdout == ok(run("gen-net", deploy)).stdout


def test_gen_net_reads_a_spec_from_stdin_as_a_pipe():
    done = ok(shell('cat "$1" | "$caffesiam" gen-net -', SPEC))
    assert done.stdout == ok(run("gen-net", SPEC)).stdout


def test_gen_net_reads_a_spec_from_stdin_as_a_file():
    with open(SPEC) as stdin:
        done = ok(run("gen-net", "-", "--deploy", stdin=stdin))
    assert done.stdout == ok(run("gen-net", SPEC, "--deploy")).stdout


def test_gen_net_names_stdin_in_its_errors():
    done = subprocess.run(
        [CAFFESIAM, "gen-net", "-"], input="tower: []\n", capture_output=True, text=True
    )
    refused(done, 2, "<stdin>:1: 'tower' must be a non-empty list of layers")


def test_draw_reads_a_net_through_process_substitution(tmp_path, model):
    deploy, _ = model
    ok(shell('"$caffesiam" draw <(cat "$1") -o "$2"', deploy, tmp_path / "net.dot"))
    assert (tmp_path / "net.dot").read_text() == _drawn(deploy, tmp_path / "file.dot")


def test_draw_from_stdin_with_shapes(tmp_path, model):
    """--shapes sets the net up in a child process, which cannot read the pipe again."""
    deploy, _ = model
    ok(shell('cat "$1" | "$caffesiam" draw - --shapes -o "$2"', deploy, tmp_path / "net.dot"))
    drawn = (tmp_path / "net.dot").read_text()
    assert 'label="1×1×28×28"' in drawn
    assert drawn == _drawn(deploy, tmp_path / "file.dot", "--shapes")


def _drawn(net, out, *flags) -> str:
    ok(run("draw", net, *flags, "-o", out))
    return out.read_text()


def test_gen_solver_refuses_a_pipe_without_the_file_to_name(tmp_path, model):
    """The solver names its net's file for Caffe to read at train time; a pipe has none."""
    deploy, _ = model
    done = shell('"$caffesiam" gen-solver <(cat "$1") -o "$2"', deploy, tmp_path / "s.prototxt")
    refused(done, 2, "/dev/fd/", "the solver names its net's file", "--net-path")
    assert not (tmp_path / "s.prototxt").exists()


def test_gen_solver_reads_a_pipe_and_names_the_net_path(tmp_path):
    net = tmp_path / "net.prototxt"
    ok(run("gen-net", SPEC, "-o", net))
    from_file = ok(run("gen-solver", net)).stdout
    piped = ok(shell('"$caffesiam" gen-solver <(cat "$1") --net-path "$1"', net)).stdout
    assert piped == from_file and f'net: "{net}"' in piped
    from_stdin = ok(shell('cat "$1" | "$caffesiam" gen-solver - --net-path "$1"', net)).stdout
    assert from_stdin == from_file


@pytest.mark.parametrize("command", ["gen-net", "draw"])
def test_a_fifo_nobody_writes_to_is_an_error_not_a_hang(command, tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    args = [fifo] if command == "gen-net" else [fifo, "-o", tmp_path / "net.png"]
    before = snapshot(tmp_path)
    refused(
        run(command, *args, timeout=PIPE_WAIT_S + 60),
        2,
        str(fifo),
        f"nothing was written to it within {PIPE_WAIT_S} s",
    )
    assert changes(before, tmp_path) == set()


def test_a_writer_that_opens_the_fifo_and_writes_nothing(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", 'exec sleep 600 >"$1"', "sh", str(fifo)])
    try:
        refused(
            run("gen-net", fifo, timeout=PIPE_WAIT_S + 60),
            2,
            f"nothing was written to it within {PIPE_WAIT_S} s",
        )
    finally:
        writer.kill()
        writer.wait()


def test_a_pipe_has_the_size_bound_of_a_file(tmp_path):
    done = shell(
        '"$caffesiam" gen-net <(head -c "$1" /dev/zero | tr "\\0" "#") -o "$2"',
        TEXT_BYTES + 1,
        tmp_path / "net.prototxt",
    )
    refused(done, 2, "/dev/fd/", "larger than 67.1 MB")
    assert not (tmp_path / "net.prototxt").exists()


def test_a_fifo_written_by_another_process_later(tmp_path):
    """The writer comes a moment after gen-net opened the FIFO, as a slow `make` would."""
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    writer = threading.Thread(target=_write_when_read, args=(fifo, SPEC.read_bytes()))
    writer.start()
    try:
        done = ok(run("gen-net", fifo, timeout=PIPE_WAIT_S + 60))
    finally:
        writer.join()
    assert done.stdout == ok(run("gen-net", SPEC)).stdout


def _write_when_read(fifo: Path, data: bytes, deadline_s: float = 30.0):
    """After a second, write `data` into `fifo` once a reader has it open (never blocks: a reader
    that has gone leaves the data unwritten)."""
    time.sleep(1.0)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            time.sleep(0.05)
            continue
        try:
            os.set_blocking(fd, True)
            os.write(fd, data)
        except BrokenPipeError:
            pass
        finally:
            os.close(fd)
        return


# Inputs read more than once (by caffesiam, then by Caffe or a child process) refuse a FIFO.
def _reread_cases(tmp_path, model, pair_db):
    deploy, weights = model
    fifo = tmp_path / "input"
    return fifo, {
        "evaluate --db": ["evaluate", "--model", deploy, "--weights", weights, "--db", fifo],
        "inspect-db": ["inspect-db", fifo],
        "build-db images": ["build-db", "images", fifo, "--out", tmp_path / "out"],
        "train solver": ["train", fifo, "--out", tmp_path / "run"],
        "embed --weights": [
            "embed",
            "--model",
            deploy,
            "--weights",
            fifo,
            "--db",
            pair_db,
            "-o",
            tmp_path / "e.npz",
        ],
    }


@pytest.mark.parametrize(
    "case", ["evaluate --db", "inspect-db", "build-db images", "train solver", "embed --weights"]
)
def test_what_is_read_again_refuses_a_fifo_at_once(case, tmp_path, model, pair_db):
    fifo, cases = _reread_cases(tmp_path, model, pair_db)
    os.mkfifo(fifo)
    before = snapshot(tmp_path)
    refused(run(*cases[case], timeout=60), 2, str(fifo))
    assert changes(before, tmp_path) == set()
