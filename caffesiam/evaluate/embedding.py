"""Images to features, whatever runs the net: Caffe's test-time transform and the batch loop.

Pure numpy, no Caffe: pycaffe's FeatureNet and the ONNX runtime's tower both use it.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from caffesiam.errors import ModelError

Progress = Callable[[int], None] | None


@dataclass
class Preprocess:
    """Caffe's DataTransformer at test time: (pixel - mean) * scale, per channel."""

    scale: float
    mean: Sequence[float] = ()
    source: str = "default"

    def apply(self, images: np.ndarray) -> np.ndarray:
        """float32 N x C x H x W input for the net, from uint8 images."""
        x = images.astype(np.float32)
        if len(self.mean):
            x -= np.asarray(self.mean, dtype=np.float32).reshape(1, -1, 1, 1)
        return x * np.float32(self.scale)


class FeatureTower:
    """What every runtime's tower shares (pycaffe's FeatureNet, onnxruntime's OnnxTower): an
    input shape (C, H, W) and features in batches through the subclass's `_forward`."""

    input_shape: tuple

    def check_images(self, shape, where: str):
        """ModelError when images of `shape` (C, H, W) cannot go into this tower."""
        if tuple(shape) != tuple(self.input_shape):
            raise ModelError(
                f"{where}: images are {'x'.join(map(str, shape))} but the model takes "
                f"{'x'.join(map(str, self.input_shape))}"
            )

    def features(
        self,
        images: np.ndarray,
        preprocess: "Preprocess",
        batch_size: int = 256,
        progress: Progress = None,
    ) -> np.ndarray:
        """float32 N x D features (the output flattened) of uint8 N x C x H x W images."""
        self.check_images(images.shape[1:], "input")
        return batched_features(self._forward, images, preprocess, batch_size, progress)

    def _forward(self, chunk: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def batched_features(
    forward: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    preprocess: Preprocess,
    batch_size: int = 256,
    progress: Progress = None,
) -> np.ndarray:
    """float32 N x D features (`forward`'s output flattened per image) of uint8 N x C x H x W
    images, `batch_size` at a time; ModelError when a feature is not finite."""
    out = []
    for start in range(0, len(images), batch_size):
        chunk = preprocess.apply(images[start : start + batch_size])
        features = np.asarray(forward(chunk), dtype=np.float32).reshape(len(chunk), -1)
        if not np.isfinite(features).all():
            raise ModelError(
                f"the features of images {start} to {start + len(chunk) - 1} are "
                f"not finite (nan or inf); are the weights from a training that "
                f"diverged?"
            )
        out.append(features)
        if progress:
            progress(len(chunk))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def save_npz(path, **arrays) -> Path:
    """Write arrays to a compressed .npz at `path` (numpy adds no suffix: it ends in .npz)."""
    np.savez_compressed(path, **arrays)
    return Path(path)
