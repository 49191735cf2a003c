"""The ONNX runtime path (deploy.runtime, the compare command) imports neither Caffe, pycaffe
nor caffe_pb2, read from the source: every import, at the top or inside a function."""

import pytest
from conftest import REPO
from test_import_rules import ImportGraph

CAFFE_FREE = ["caffesiam.deploy.runtime", "caffesiam.deploy.metadata", "caffesiam.commands.compare"]


@pytest.fixture(scope="module")
def graph():
    return ImportGraph(REPO / "caffesiam")


def closure(graph: ImportGraph, start: str) -> set[str]:
    """Every caffesiam module that importing `start` may import."""
    seen, todo = {start}, [start]
    while todo:
        for module in graph.internal[todo.pop()] - seen:
            seen.add(module)
            todo.append(module)
    return seen


@pytest.mark.parametrize("start", CAFFE_FREE)
def test_the_runtime_path_reaches_no_caffe_module(graph, start):
    reached = closure(graph, start)
    assert sorted(m for m in reached if m.startswith("caffesiam.caffe")) == []
    assert graph.reach(start, {"caffe", "onnx"}) is None  # onnx: the exporter's library


def test_the_check_sees_the_exporter_reach_caffe_pb2(graph):
    assert "caffesiam.caffe.proto" in closure(graph, "caffesiam.deploy.export")
