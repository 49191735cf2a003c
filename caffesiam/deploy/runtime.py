"""An exported tower run by onnxruntime: features and pair verdicts without Caffe.

Nothing on this path imports Caffe, pycaffe or caffe_pb2 (a test reads the imports), so
`caffesiam compare` and `embed --onnx` work where only `pip install caffesiam[deploy]` ran.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from caffesiam.data.sources.folders import decode_images
from caffesiam.deploy.metadata import TowerMetadata, tower_metadata
from caffesiam.errors import ModelError, ToolMissing
from caffesiam.evaluate.embedding import FeatureTower, Preprocess
from caffesiam.evaluate.metrics import pair_distances
from caffesiam.files import read_file


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as e:
        raise ToolMissing("onnxruntime is not installed; pip install 'caffesiam[deploy]'") from e
    onnxruntime.set_default_logger_severity(3)  # errors only
    return onnxruntime


class OnnxTower(FeatureTower):
    """An ONNX tower that caffesiam export wrote; `features` runs it in batches, as FeatureNet."""

    def __init__(self, session, meta: TowerMetadata, source: str):
        self.session = session
        self.meta = meta
        self.source = source
        (self.input,) = (i.name for i in session.get_inputs())
        self.blob = session.get_outputs()[0].name
        self.input_shape = tuple(session.get_inputs()[0].shape[1:])

    @classmethod
    def load(cls, path) -> "OnnxTower":
        """The tower at `path`; ModelError when it is not an ONNX model that caffesiam exported."""
        ort = _onnxruntime()
        data = read_file(path, ModelError, "ONNX model", binary=True)
        try:
            session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf for a bad file
            raise ModelError(f"{path}: not an ONNX model onnxruntime can run ({e})") from e
        meta = tower_metadata(session.get_modelmeta().custom_metadata_map, str(path))
        if len(session.get_inputs()) != 1 or len(session.get_outputs()) != 1:
            raise ModelError(f"{path}: expected one input and one output, as caffesiam exports")
        return cls(session, meta, str(path))

    @property
    def preprocess(self) -> Preprocess:
        """The input transform that training used, as the model's metadata records it."""
        return Preprocess(self.meta.input_scale, self.meta.input_mean, f"{self.source} metadata")

    def _forward(self, chunk: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: chunk})[0]


def read_images(paths, input_shape) -> np.ndarray:
    """uint8 N x C x H x W images from files, converted and resized to `input_shape` (C, H, W)."""
    channels, height, width = input_shape
    images, _ = decode_images([Path(p) for p in paths], (width, height), channels == 1, True)
    return images


@dataclass(frozen=True)
class Verdict:
    """The distance of two images' features and what it says at `threshold`."""

    distance: float
    threshold: float | None

    @property
    def same(self) -> bool | None:
        """True when the distance is below the threshold (Caffe's sim = 1), None without one."""
        return None if self.threshold is None else self.distance < self.threshold


def compare(tower: OnnxTower, image_a, image_b, threshold: float | None = None) -> Verdict:
    """The Verdict on two image files, at `threshold` or else the model's stored one."""
    images = read_images([image_a, image_b], tower.input_shape)
    features = tower.features(images, tower.preprocess)
    distance = float(pair_distances(features[:1], features[1:])[0])
    return Verdict(distance, tower.meta.threshold if threshold is None else threshold)
