"""spec.params: the learnable blobs of each layer type, in Caffe's blob order."""

import pytest

from caffesiam.spec.params import (
    PARAM_MESSAGE,
    SHAPE_FIELDS,
    param_count,
    param_roles,
    shared_param_names,
)

pytestmark = pytest.mark.caffe


@pytest.fixture
def pb():
    from caffesiam.caffe.proto import caffe_pb2

    return caffe_pb2()


def make(pb, kind, bottoms=1, params=0, **fields):
    layer = pb.LayerParameter(name="x", type=kind, bottom=[f"b{i}" for i in range(bottoms)])
    for _ in range(params):
        layer.param.add()
    for path, value in fields.items():
        message, name = path.split("__")
        setattr(getattr(layer, message), name, value)
    return layer


@pytest.mark.parametrize(
    "kind, bottoms, params, fields, roles",
    [
        ("Convolution", 1, 0, {}, ["w", "b"]),
        ("Convolution", 1, 0, {"convolution_param__bias_term": False}, ["w"]),
        ("Deconvolution", 1, 0, {}, ["w", "b"]),
        ("InnerProduct", 1, 0, {"inner_product_param__bias_term": False}, ["w"]),
        ("Embed", 1, 0, {}, ["w", "b"]),
        ("BatchNorm", 1, 0, {}, ["mean", "var", "factor"]),
        ("Scale", 1, 0, {}, ["w"]),
        ("Scale", 1, 0, {"scale_param__bias_term": True}, ["w", "b"]),
        ("Scale", 2, 0, {"scale_param__bias_term": True}, ["b"]),  # the scale is a bottom
        ("Bias", 1, 0, {}, ["b"]),
        ("Bias", 2, 0, {}, []),
        ("PReLU", 1, 0, {}, ["slope"]),
        ("ReLU", 1, 0, {}, []),
        ("LSTM", 1, 3, {}, ["0", "1", "2"]),  # unknown to this table: one role per param spec
    ],
)
def test_roles_follow_caffes_blob_order(pb, kind, bottoms, params, fields, roles):
    layer = make(pb, kind, bottoms, params, **fields)
    assert param_roles(layer) == roles
    assert param_count(layer) == len(roles)


def test_shape_fields_are_fields_of_the_param_message(pb):
    for kind, message in PARAM_MESSAGE.items():
        fields = getattr(pb.LayerParameter(), message).DESCRIPTOR.fields_by_name
        assert set(SHAPE_FIELDS[kind]) <= set(fields), kind


def test_shared_names_are_those_used_more_than_once(pb):
    net = pb.NetParameter()
    for layer, names in (("a", ["w", "b"]), ("b", ["w", "b2"]), ("c", ["w", ""]), ("d", ["b2"])):
        net.layer.add(name=layer).param.extend(pb.ParamSpec(name=n) for n in names)
    assert shared_param_names(net) == {"w": 3, "b2": 2}
