"""caffe_pb2 loading and prototxt text: errors name the place, text round-trips."""

import pytest

from caffesiam.caffe import proto
from caffesiam.errors import SolverError, SpecError

pytestmark = pytest.mark.caffe


def test_caffe_pb2_is_loaded_once_under_pycaffes_name():
    import sys

    assert proto.caffe_pb2() is proto.caffe_pb2() is sys.modules["caffe.proto.caffe_pb2"]


def test_a_parse_error_names_source_line_and_column_once():
    text = 'name: "n"\nlayer { name: "a" typo: 1 }\n'
    with pytest.raises(SpecError) as e:
        proto.parse_text(text, proto.caffe_pb2().NetParameter(), source="net.prototxt")
    message = str(e.value)
    assert message.startswith("net.prototxt:2:")
    assert '"typo"' in message and message.count("layer {") == 0  # the line is not repeated


def test_the_error_class_is_the_callers():
    with pytest.raises(SolverError, match="^s.prototxt:1:"):
        proto.parse_text(
            "base_lr: [", proto.caffe_pb2().SolverParameter(), "s.prototxt", SolverError
        )


def test_read_text_names_a_missing_file(tmp_path):
    with pytest.raises(SolverError, match="no such file"):
        proto.read_text(
            tmp_path / "nope.prototxt", proto.caffe_pb2().SolverParameter(), SolverError
        )


def test_text_round_trips(tmp_path):
    pb = proto.caffe_pb2()
    net = pb.NetParameter(name="n")
    layer = net.layer.add(name="ip", type="InnerProduct", bottom=["data"], top=["ip"])
    layer.inner_product_param.num_output = 3
    layer.param.add(name="w", lr_mult=2.0)
    path = tmp_path / "net.prototxt"
    path.write_text(proto.to_text(net))
    assert proto.read_text(path, pb.NetParameter()) == net
    assert 'name: "ip"' in proto.to_text(net) and "num_output: 3" in proto.to_text(net)
