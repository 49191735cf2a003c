"""Where Caffe is, from $CAFFESIAM_CAFFE_HOME: a build, a proto-only install, or nothing."""

import pytest

from caffesiam.caffe import locate
from caffesiam.errors import CaffeNotFound


def executable(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CAFFESIAM_CAFFE_HOME", str(tmp_path / "caffe"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no other caffe on PATH
    return tmp_path / "caffe"


def make_proto_only(home):
    (home / "proto").mkdir(parents=True)
    (home / "proto" / "caffe_pb2.py").write_text("")
    (home / locate.PROTO_ONLY_MARK).write_text("")


def test_a_build(home):
    executable(home / "bin" / "caffe")
    config = home / "share" / "Caffe" / "CaffeConfig.cmake"
    config.parent.mkdir(parents=True)
    config.write_text("set(Caffe_CPU_ONLY OFF)\n")
    assert locate.caffe_prefix() == locate.caffe_home() == home.resolve()
    assert locate.caffe_binary() == str(home.resolve() / "bin" / "caffe")
    assert locate.caffe_pb2_file() == home.resolve() / "proto" / "caffe_pb2.py"
    assert not locate.is_proto_only() and not locate.is_cpu_only_build()
    config.write_text("set(Caffe_CPU_ONLY ON)\n")
    assert locate.is_cpu_only_build()


def test_a_proto_only_install_has_caffe_pb2_but_no_build(home, tmp_path):
    make_proto_only(home)
    assert locate.is_proto_only() and locate.caffe_prefix() == home.resolve()
    with pytest.raises(CaffeNotFound, match=r"caffe_pb2 only .*train --docker IMAGE"):
        locate.caffe_home()
    assert locate.is_cpu_only_build()  # no build: nothing can run on a GPU here
    on_path = executable(tmp_path / "bin" / "caffe")
    assert locate.caffe_binary() == str(on_path)  # a caffe on PATH serves instead


def test_nothing_installed(home):
    for find in (locate.caffe_prefix, locate.caffe_home, locate.caffe_binary, locate.caffe_source):
        with pytest.raises(CaffeNotFound, match=f"no Caffe install at {home}; run 'make setup'"):
            find()
    assert locate.layer_types() is None and not locate.is_proto_only()
    home.mkdir()
    (home / locate.PROTO_ONLY_MARK).write_text("")  # the mark without caffe_pb2 is not enough
    assert not locate.is_proto_only()


def test_the_layer_registry_and_the_source(home):
    make_proto_only(home)
    (home / "layer_types.txt").write_text("Convolution\nReLU\n")
    assert locate.layer_types() == frozenset({"Convolution", "ReLU"})
    executable(home / "bin" / "caffe")
    with pytest.raises(CaffeNotFound, match="the Caffe source examples are missing"):
        locate.caffe_source()
    (home / "src" / "examples").mkdir(parents=True)
    assert locate.caffe_source() == home.resolve() / "src"


def test_without_the_variable_the_venvs_caffe_link_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("CAFFESIAM_CAFFE_HOME", raising=False)
    monkeypatch.setattr(locate.sys, "prefix", str(tmp_path / "venv"))
    executable(tmp_path / "venv" / "caffe" / "bin" / "caffe")
    assert locate.caffe_home() == tmp_path / "venv" / "caffe"
