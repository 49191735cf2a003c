"""files.read_text_input: a spec or net from a file or a pipe, bounded, never a hang."""

import os
import threading

import pytest

from caffesiam import files
from caffesiam.errors import SpecError


def test_a_file_and_a_fifo_read_alike(tmp_path):
    (tmp_path / "spec.yaml").write_text("tower: []\n")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text("tower: []\n"))
    writer.start()
    try:
        assert files.read_text_input(fifo, SpecError) == "tower: []\n"
    finally:
        writer.join()
    assert files.read_text_input(tmp_path / "spec.yaml", SpecError) == "tower: []\n"
    assert files.is_pipe(fifo) and files.is_pipe("-") and not files.is_pipe(tmp_path / "spec.yaml")


def test_a_silent_fifo_and_an_oversize_pipe_are_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "PIPE_WAIT_S", 0.2)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(SpecError, match="is a FIFO .named pipe. and nothing was written to it"):
        files.read_text_input(fifo, SpecError)
    monkeypatch.setattr(files, "TEXT_BYTES", 10)
    writer = threading.Thread(target=lambda: fifo.write_bytes(b"x" * 11))
    writer.start()
    try:
        with pytest.raises(SpecError, match="larger than 10 B"):
            files.read_text_input(fifo, SpecError)
    finally:
        writer.join()


def test_refuse_pipe_says_why(tmp_path):
    with pytest.raises(SpecError, match=r"^<stdin>: is a pipe, but it must stay$"):
        files.refuse_pipe("-", SpecError, "it must stay")
    files.refuse_pipe(tmp_path / "net.prototxt", SpecError, "it must stay")
