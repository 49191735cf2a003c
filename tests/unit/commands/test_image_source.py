"""commands.image_source: the dataset images that embed and evaluate read, split and classes."""

import gzip

import click
import numpy as np
import pytest

from caffesiam.commands.image_source import load_images
from caffesiam.data.classes import parse_class_list
from caffesiam.data.sources import idx


def write_idx(folder, split, labels):
    """MNIST-format files of 2x2 images whose pixels hold their label and index."""
    images = np.array([[[label, k], [k, label]] for k, label in enumerate(labels)], np.uint8)
    stems = idx.SPLIT_FILES[split]
    header = idx.IMAGES_MAGIC.to_bytes(4, "big") + b"".join(
        d.to_bytes(4, "big") for d in images.shape
    )
    label_header = idx.LABELS_MAGIC.to_bytes(4, "big") + len(labels).to_bytes(4, "big")
    folder.mkdir(exist_ok=True)
    (folder / f"{stems[0]}.gz").write_bytes(gzip.compress(header + images.tobytes()))
    (folder / f"{stems[1]}.gz").write_bytes(gzip.compress(label_header + bytes(labels)))


@pytest.fixture
def mnist(tmp_path):
    write_idx(tmp_path / "m", "train", [0, 1, 2, 3, 1])
    write_idx(tmp_path / "m", "test", [3, 2, 1])
    return {"mnist": tmp_path / "m", "fashion_mnist": False, "digits": False, "images": None}


def test_a_split_or_both_then_the_classes_asked(mnist):
    assert load_images(mnist, "test", None, (1, 2, 2)).labels.tolist() == [3, 2, 1]
    both = load_images(mnist, "all", None, (1, 2, 2))
    assert both.labels.tolist() == [0, 1, 2, 3, 1, 3, 2, 1]
    assert both.images[:, 0, 0, 1].tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    some = load_images(mnist, "all", parse_class_list("1,3"), (1, 2, 2))
    assert some.labels.tolist() == [1, 3, 1, 3, 1] and some.class_name(3) == "3"


@pytest.mark.parametrize("classes, message", [("12", "no class named 12"), ("7", "no image of")])
def test_classes_not_in_the_images_are_the_options_error(mnist, classes, message):
    with pytest.raises(click.BadParameter, match=message) as caught:
        load_images(mnist, "test", parse_class_list(classes), (1, 2, 2))
    assert caught.value.param_hint == "--classes"
