"""data.sources.imageset: the subsets and joins that splits by class and --split all make."""

import numpy as np

from caffesiam.data.sources.imageset import ImageSet


def numbered(labels, source="src", skipped=0):
    """Images whose single pixel is their index in `labels`."""
    n = len(labels)
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1)
    return ImageSet(images, np.asarray(labels), source, ["a", "b", "c"], skipped)


def test_of_classes_keeps_those_classes_images_in_order():
    kept = numbered([2, 0, 1, 2, 0]).of_classes((0, 2))
    assert kept.images[:, 0, 0, 0].tolist() == [0, 1, 3, 4]
    assert kept.labels.tolist() == [2, 0, 2, 0] and kept.class_names == ["a", "b", "c"]
    assert numbered([0, 1]).of_classes(()).labels.tolist() == []


def test_joined_sets_follow_each_other():
    joined = ImageSet.joined([numbered([0, 1], skipped=1), numbered([2], "other", skipped=2)])
    assert joined.images[:, 0, 0, 0].tolist() == [0, 1, 0]
    assert joined.labels.tolist() == [0, 1, 2]
    assert (joined.source, joined.skipped) == ("src", 3)
