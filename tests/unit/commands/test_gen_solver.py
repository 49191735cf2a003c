"""gen-solver --help shows the defaults that a solver is written with."""

import re

import pytest

from caffesiam.caffe.proto import caffe_pb2, read_text


@pytest.mark.caffe
def test_help_defaults_are_those_of_caffes_example(cli, caffe_src):
    example = read_text(
        caffe_src / "examples/siamese/mnist_siamese_solver.prototxt", caffe_pb2().SolverParameter()
    )
    text = " ".join(cli("gen-solver", "--help").stdout.split())  # click wraps lines
    for option, value in [
        ("--max-iter", example.max_iter),
        ("--base-lr", example.base_lr),
        ("--test-iter", example.test_iter[0]),
        ("--test-interval", example.test_interval),
        ("--display", example.display),
        ("--momentum", example.momentum),
        ("--weight-decay", example.weight_decay),
    ]:
        shown = re.search(rf"{option} \S+ (?:RANGE )?\[default: ([^\]]+)\]", text)
        assert shown and float(shown.group(1)) == pytest.approx(value), option
    assert re.search(r"Snapshot every N iterations \[default: (\d+)\]", text).group(1) == str(
        example.snapshot
    )
    assert f"Learning-rate schedule [default: {example.lr_policy}]" in text
    assert f"[default: {example.gamma:.4g} for inv, 0.1 for step and multistep]" in text
    assert f"inv and poly [default: {example.power:g} for inv]" in text
