"""OnnxTower and compare on a small exported tower whose features numpy computes by hand."""

import numpy as np
import pytest
from PIL import Image

from caffesiam.caffe.netload import parse_net
from caffesiam.deploy.export import tower_to_onnx
from caffesiam.deploy.metadata import TowerMetadata
from caffesiam.deploy.runtime import OnnxTower, Verdict, compare
from caffesiam.errors import ModelError

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.caffe  # caffe_pb2 parses the net that is exported

NET = """
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 1 dim: 4 dim: 3 } } }
layer { name: "feat" type: "InnerProduct" bottom: "data" top: "feat"
        inner_product_param { num_output: 2 } }
"""
WEIGHT = np.arange(24, dtype=np.float32).reshape(2, 12) / 10
BIAS = np.array([0.5, -1.0], np.float32)
META = TowerMetadata(0.5, (10.0,), "test", "feat", "contrastive", 1.0, 30.0, 0.9, "eval.json")


@pytest.fixture
def tower(tmp_path):
    model = tower_to_onnx(parse_net(NET), {"feat": [WEIGHT, BIAS]}, META)
    path = tmp_path / "t.onnx"
    path.write_bytes(model.SerializeToString())
    return OnnxTower.load(path)


def by_hand(images: np.ndarray) -> np.ndarray:
    x = (images.reshape(len(images), -1).astype(np.float64) - 10) * 0.5
    return x @ WEIGHT.T + BIAS


def test_features_follow_the_stored_scaling_in_any_batch_size(tower):
    images = np.random.default_rng(0).integers(0, 256, (7, 1, 4, 3), dtype=np.uint8)
    assert tower.input_shape == (1, 4, 3) and tower.blob == "feat"
    assert tower.preprocess.scale == 0.5 and tuple(tower.preprocess.mean) == (10.0,)
    features = tower.features(images, tower.preprocess, batch_size=3)
    np.testing.assert_allclose(features, by_hand(images), rtol=1e-5)


def test_compare_reads_resizes_and_judges_at_the_stored_or_given_threshold(tower, tmp_path):
    a = np.full((8, 6), 40, np.uint8)  # resized to 3 x 4, still all 40
    b = np.full((4, 3), 200, np.uint8)
    Image.fromarray(a).convert("RGB").save(tmp_path / "a.png")  # RGB: made gray
    Image.fromarray(b).save(tmp_path / "b.png")
    distance = float(np.linalg.norm(by_hand(a[None, None, :4, :3]) - by_hand(b[None, None])))
    verdict = compare(tower, tmp_path / "a.png", tmp_path / "b.png")
    assert verdict.distance == pytest.approx(distance, rel=1e-5)
    assert verdict == Verdict(verdict.distance, 30.0) and verdict.same is (distance < 30)
    assert compare(tower, tmp_path / "a.png", tmp_path / "b.png", distance * 2).same is True
    assert Verdict(1.0, None).same is None


def test_images_of_another_size_are_refused(tower):
    with pytest.raises(ModelError, match="images are 1x5x5 but the model takes 1x4x3"):
        tower.features(np.zeros((1, 1, 5, 5), np.uint8), tower.preprocess)


def test_a_file_that_is_no_onnx_model_is_a_model_error(tmp_path):
    path = tmp_path / "x.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not an ONNX model onnxruntime can run"):
        OnnxTower.load(path)
