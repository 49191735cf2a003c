"""Features from a deploy net with pycaffe, in batches, and the pair distances of a pair database.

Caffe aborts the whole process on a bad net or a mismatched blob, so FeatureNet.load checks the
files first (the net read with caffe_pb2, the weights against shapes that a child process
computes) and only then imports pycaffe, here alone, so the other commands start fast.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from caffesiam.caffe.glog import glog_env
from caffesiam.caffe.netload import load_net
from caffesiam.caffe.weights import check_weights_fit_net
from caffesiam.data.read import open_pairs, peek_record
from caffesiam.errors import DatabaseError, ModelError
from caffesiam.evaluate.embedding import FeatureTower, Preprocess, Progress
from caffesiam.evaluate.metrics import pair_distances
from caffesiam.evaluate.preprocess import SOURCE_LAYERS
from caffesiam.spec.load import net_inputs


def import_pycaffe():
    """pycaffe, with glog quiet unless the environment says otherwise (set before glog starts)."""
    for name, value in glog_env(full_log=False).items():
        os.environ.setdefault(name, value)
    import caffe

    return caffe


def check_deploy_net(model: Path):
    """ModelError when the net at `model` reads a database (a train net, not a deploy net);
    SpecError when an input has no blob or a dimension below 1, as gen-net checks a tower's."""
    net = load_net(model)
    data = [layer.name for layer in net.layer if layer.type in SOURCE_LAYERS]
    if data:
        raise ModelError(
            f"{model}: reads data from a database (layer '{data[0]}'); pass the "
            f"deploy net (caffesiam gen-net SPEC --deploy)"
        )
    net_inputs(net, str(model))


class FeatureNet(FeatureTower):
    """A pycaffe deploy net (one Input) and its feature blob; `features` runs it in batches."""

    def __init__(self, net, blob: str | None = None, name: str = "model"):
        self.net = net
        self.input = self._single(list(net.inputs), "input", name)
        self.blob = blob or self._single(list(net.outputs), "output blob", name)
        if self.blob not in net.blobs:
            raise ModelError(f"{name}: no blob '{self.blob}' (blobs: {', '.join(net.blobs)})")

    @classmethod
    def load(cls, model, weights, blob: str | None = None) -> "FeatureNet":
        """The deploy net at `model` with `weights`, both checked before pycaffe loads them."""
        model, weights = Path(model), Path(weights)
        check_deploy_net(model)
        check_weights_fit_net(model, weights)
        caffe = import_pycaffe()
        return cls(caffe.Net(str(model), str(weights), caffe.TEST), blob, str(model))

    @staticmethod
    def _single(names, what, model):
        if len(names) != 1:
            hint = "; choose one with --blob" if what == "output blob" else ""
            raise ModelError(
                f"{model}: {len(names)} {what}s ({', '.join(names) or 'none'}), expected one{hint}"
            )
        return names[0]

    @property
    def input_shape(self) -> tuple:
        """(channels, height, width) of one image."""
        return tuple(self.net.blobs[self.input].data.shape[1:])

    def _forward(self, chunk: np.ndarray) -> np.ndarray:
        data = self.net.blobs[self.input]
        if data.data.shape[0] != len(chunk):
            data.reshape(*chunk.shape)
            self.net.reshape()
        data.data[...] = chunk
        self.net.forward()
        return self.net.blobs[self.blob].data.copy()


def _dims(shape) -> str:
    return "x".join(map(str, shape))


@dataclass
class PairFeatures:
    """Both images' features of every pair, their sim labels (1 = same class) and distances."""

    features_a: np.ndarray
    features_b: np.ndarray
    sims: np.ndarray
    distances: np.ndarray


def check_pair_db(path, image_shape):
    """DatabaseError unless the first record is a pair of two `image_shape` images."""
    record = peek_record(path)  # empty or locked databases fail here, with their own message
    channels = image_shape[0]
    if record.channels != 2 * channels or (record.height, record.width) != tuple(image_shape[1:]):
        singles = record.channels == channels and (record.height, record.width) == tuple(
            image_shape[1:]
        )
        why = (
            "; this looks like a database of single images, not pairs (caffesiam build-db "
            "writes pairs)"
            if singles
            else ""
        )
        raise DatabaseError(
            f"{path}: records are {record.channels}x{record.height}x{record.width}"
            f" but a pair for this model is {2 * channels}x{_dims(image_shape[1:])}"
            f"{why}"
        )


def load_pairs(path, image_shape, limit: int | None = None, minimum: int = 1):
    """(images_a, images_b, sims) of a pair database checked to fit images of `image_shape` and
    to hold at least `minimum` pairs."""
    check_pair_db(path, image_shape)
    images_a, images_b, sims = open_pairs(path, limit=limit)
    if len(sims) < minimum:
        raise DatabaseError(
            f"{path}: {len(sims)} pair{'s' if len(sims) != 1 else ''}; evaluating needs at "
            f"least {minimum} (the threshold is chosen on one half and scored on the other)"
        )
    strange = sorted(set(np.unique(sims).tolist()) - {0, 1})
    if strange:
        raise DatabaseError(
            f"{path}: labels {strange[:5]} are not sim 0/1 (1 = same class); "
            f"is this a database of single images with class labels?"
        )
    return images_a, images_b, sims


def pair_features(
    net: FeatureNet,
    images_a,
    images_b,
    sims,
    preprocess: Preprocess,
    batch_size: int = 256,
    progress: Progress = None,
) -> PairFeatures:
    """Features of both images of every pair, and their Euclidean distances."""
    fa = net.features(images_a, preprocess, batch_size, progress)
    fb = net.features(images_b, preprocess, batch_size, progress)
    return PairFeatures(fa, fb, sims, pair_distances(fa, fb))
