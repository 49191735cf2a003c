"""ImageSet: what every image source returns."""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ImageSet:
    """Decoded images (uint8 N x C x H x W), their integer labels and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str
    class_names: list[str] = field(default_factory=list)
    skipped: int = 0

    def subset(self, index: np.ndarray) -> "ImageSet":
        """The images at `index`, same class names and source."""
        return ImageSet(
            self.images[index], self.labels[index], self.source, self.class_names, self.skipped
        )

    def class_name(self, label: int) -> str:
        """Printable name of class `label`."""
        return self.class_names[label] if label < len(self.class_names) else str(label)
