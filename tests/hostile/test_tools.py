"""Class: raw tool output instead of our line. Names with NUL and other control characters,
quotes, backslashes and markup are drawn by the real `dot`; a failing `dot` is one line; doctor
facing a broken install names what is missing in one line on stderr; a reader that closes
the pipe early is no error."""

import os
import subprocess

import pytest
from conftest import VENV_BIN

from caffesiam.caffe.proto import caffe_pb2, to_text
from hostile.helpers import refused, run

pytestmark = [
    pytest.mark.caffe,
    pytest.mark.slow,
]  # one process per case: the battery as a whole is slow


def _net_with(name: str) -> str:
    pb = caffe_pb2()
    net = pb.NetParameter(name=f"odd {name}")
    data = net.layer.add(name="in", type="Input", top=["data"])
    data.input_param.shape.add(dim=[1, 1, 4, 4])
    net.layer.add(
        name=name, type="InnerProduct", bottom=["data"], top=[name]
    ).inner_product_param.num_output = 2
    net.layer.add(name="act", type="ReLU", bottom=[name], top=[name + "_out"])
    net.layer.add(name="tail", type="Sigmoid", bottom=["orphan " + name], top=["t"])
    return to_text(net)


@pytest.mark.parametrize(
    "name",
    [
        "nul\0byte",
        "ctrl\x01\x1b[31m",
        "back\\",
        'quote"d',
        "<b>&amp;",
        "del\x7f",
        "line\nbreak",
        "\\N\\G",
    ],
    ids=["nul", "escape", "backslash", "quote", "markup", "del", "newline", "dot-escapes"],
)
def test_odd_names_are_drawn(name, tmp_path):
    """The real dot draws them (SVG); the .dot source shows a NUL as the Unicode picture of NUL."""
    net = tmp_path / "net.prototxt"
    net.write_text(_net_with(name))
    for fmt in ("svg", "dot") if "\0" in name else ("svg",):
        out = tmp_path / f"net.{fmt}"
        done = run("draw", net, "-o", out, "--detail", "high")
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        text = out.read_text()
        assert "\0" not in text and "\x01" not in text
    assert "\0" not in name or "nul\u2400byte" in text


def test_a_failing_dot_is_one_line(tmp_path, model):
    """A stand-in `dot` (first on PATH) that fails with several lines of its own."""
    fake = tmp_path / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\necho 'Warning: something odd' >&2\necho 'Error: <stdin>: syntax error "
        "in line 3' >&2\necho 'context line' >&2\nexit 3\n"
    )
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{fake.parent}:{os.environ['PATH']}")
    refused(
        run("draw", model[0], "-o", tmp_path / "net.png", env=env),
        1,
        "dot failed (exit 3): Error: <stdin>: syntax error in line 3",
    )
    assert not (tmp_path / "net.png").exists()


@pytest.mark.parametrize(
    "install", ["not a directory", "caffe that crashes", "caffe that is a folder"]
)
def test_doctor_with_a_broken_install(install, tmp_path):
    home = tmp_path / "caffe"
    if install == "not a directory":
        home.write_text("")
    else:
        (home / "bin").mkdir(parents=True)
        if install == "caffe that crashes":
            (home / "bin/caffe").write_text("#!/bin/sh\necho 'F0101 crash' >&2\nkill -SEGV $$\n")
            (home / "bin/caffe").chmod(0o755)
        else:
            (home / "bin/caffe").mkdir()
    done = run("doctor", env=dict(os.environ, CAFFESIAM_CAFFE_HOME=str(home)))
    refused(done, 1, "missing: caffe binary", "run 'make setup'")
    assert "MISSING caffe binary" in done.stdout


def test_a_reader_that_goes_away_is_not_an_error():
    """`caffesiam doctor | head -1`: the reader closes the pipe; caffesiam stops quietly with the
    shell's status for a writer the pipe killed (141), as `cat` would."""
    proc = subprocess.Popen(
        [str(VENV_BIN / "caffesiam"), "doctor"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # before doctor's first line (its checks take a second or more)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 141, stderr
    assert stderr == b""
