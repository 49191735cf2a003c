"""The transform and margin that evaluation reads back from a train net."""

import numpy as np
import pytest

from caffesiam.errors import ModelError
from caffesiam.evaluate.preprocess import (
    Preprocess,
    margin_from_train_net,
    preprocess_from_train_net,
)
from caffesiam.spec.tower import INPUT_SCALE

pytestmark = pytest.mark.caffe


def test_apply_subtracts_the_mean_per_channel_then_scales():
    images = np.arange(2 * 3 * 2 * 2, dtype=np.uint8).reshape(2, 3, 2, 2)
    x = Preprocess(scale=0.5, mean=(1, 2, 3)).apply(images)
    expected = (images.astype(np.float64) - np.array([1, 2, 3]).reshape(1, 3, 1, 1)) * 0.5
    assert x.dtype == np.float32 and np.array_equal(x, expected.astype(np.float32))
    plain = Preprocess(INPUT_SCALE).apply(images)
    assert np.allclose(plain, images * np.float32(INPUT_SCALE))


def data_layer(name, phase=None, transform=""):
    include = f"include {{ phase: {phase} }}" if phase else ""
    return (
        f'layer {{ name: "{name}" type: "Data" top: "pair_data" top: "sim" {include} '
        f'transform_param {{ {transform} }} data_param {{ source: "{name}_db" batch_size: 2 }} }}\n'
    )


def write(tmp_path, text):
    path = tmp_path / "train_test.prototxt"
    path.write_text(text)
    return path


def test_the_test_phases_data_layer_is_read(tmp_path):
    net = write(
        tmp_path,
        data_layer("train_data", "TRAIN", "scale: 0.5")
        + data_layer("test_data", "TEST", "scale: 0.25 mean_value: 3 mean_value: 4"),
    )
    p = preprocess_from_train_net(net)
    assert (p.scale, tuple(p.mean)) == (0.25, (3.0, 4.0))
    assert p.source == f"{net}, layer 'test_data'"


def test_without_a_scale_caffes_default_of_one_applies(tmp_path):
    p = preprocess_from_train_net(write(tmp_path, data_layer("data")))
    assert (p.scale, tuple(p.mean)) == (1.0, ())


@pytest.mark.parametrize(
    "text, words",
    [
        ('layer { name: "data" type: "Input" top: "data" }', "no Data layer"),
        (data_layer("d", transform='mean_file: "m.binaryproto"'), "mean_file/crop_size"),
        (data_layer("d", transform="crop_size: 20"), "mean_file/crop_size"),
    ],
)
def test_what_evaluation_cannot_reproduce_asks_for_scale(tmp_path, text, words):
    with pytest.raises(ModelError, match=f"{words}.*pass --scale"):
        preprocess_from_train_net(write(tmp_path, text))


def test_the_margin_of_the_contrastive_loss(tmp_path):
    loss = (
        'layer { name: "loss" type: "ContrastiveLoss" bottom: "a" bottom: "b" bottom: "sim" '
        "contrastive_loss_param { margin: 2.5 } }\n"
    )
    assert margin_from_train_net(write(tmp_path, data_layer("d") + loss)) == 2.5
    assert margin_from_train_net(write(tmp_path, data_layer("d"))) is None
