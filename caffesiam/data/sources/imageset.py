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

    @staticmethod
    def joined(parts: list["ImageSet"]) -> "ImageSet":
        """The images of `parts` one after another, with the first's source and class names."""
        return ImageSet(
            np.concatenate([part.images for part in parts]),
            np.concatenate([part.labels for part in parts]),
            parts[0].source,
            parts[0].class_names,
            sum(part.skipped for part in parts),
        )

    def of_classes(self, classes) -> "ImageSet":
        """The images whose label is one of `classes`, in their order."""
        return self.subset(np.flatnonzero(np.isin(self.labels, list(classes))))

    def class_name(self, label: int) -> str:
        """Printable name of class `label`."""
        return self.class_names[label] if label < len(self.class_names) else str(label)
