"""data.builder.gather: outputs are checked before any source is read, then the sources load."""

import gzip
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from caffesiam.data.builder.gather import (
    Decoding,
    check_outputs,
    gather_idx,
    gather_images,
    gather_pair_list,
)
from caffesiam.data.builder.plan import ALL, BuildRequest
from caffesiam.data.classes import parse_class_list
from caffesiam.errors import BadOption, DatasetError, OutputExists


def write_idx(folder, split, images, labels):
    """Gzipped MNIST-format files, written here from the format's header layout."""
    stems = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")}.get(
        split, ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    )
    header = b"\0\0\x08\x03" + b"".join(d.to_bytes(4, "big") for d in images.shape)
    folder.mkdir(exist_ok=True)
    (folder / f"{stems[0]}.gz").write_bytes(gzip.compress(header + images.tobytes()))
    labels_header = b"\0\0\x08\x01" + len(labels).to_bytes(4, "big")
    (folder / f"{stems[1]}.gz").write_bytes(gzip.compress(labels_header + labels.tobytes()))


def folder_of_images(root, per_class=5, classes=("cat", "dog")):
    """PNGs whose gray value is 10 x (class, index), so each decoded image names its file."""
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for k in range(per_class):
            Image.new("L", (3, 2), 100 * c + 10 * k).save(root / name / f"{k}.png")
    return root


class Recorder:
    def __init__(self):
        self.calls, self.done = [], 0

    @contextmanager
    def __call__(self, length, label):
        self.calls.append((length, label))
        yield self.advance

    def advance(self, n):
        self.done += n


def test_an_existing_output_is_refused_before_the_source_is_read(tmp_path):
    request = BuildRequest("m", tmp_path / "out")
    request.target("test").mkdir(parents=True)
    with pytest.raises(OutputExists, match="m_siamese_test_leveldb already exists; pass --force"):
        gather_idx(request, tmp_path / "no such folder", ["0", "1"])


def test_force_lets_an_empty_folder_be_replaced(tmp_path):
    request = BuildRequest("m", tmp_path, splits=("train",), force=True)
    request.target("train").mkdir()
    check_outputs(request)


def test_idx_splits_load_as_asked(tmp_path):
    rng = np.random.default_rng(1)
    train = rng.integers(0, 256, (6, 4, 5), dtype=np.uint8)
    test = rng.integers(0, 256, (3, 4, 5), dtype=np.uint8)
    write_idx(tmp_path / "src", "train", train, np.array([0, 1, 2, 0, 1, 2], np.uint8))
    write_idx(tmp_path / "src", "test", test, np.array([2, 1, 0], np.uint8))
    names = ["zero", "one", "two"]
    both = gather_idx(BuildRequest("m", tmp_path / "o"), tmp_path / "src", names)
    assert list(both) == ["train", "test"]
    assert np.array_equal(both["train"].images[:, 0], train)
    assert np.array_equal(both["test"].labels, [2, 1, 0])
    assert both["test"].class_name(0) == "zero"
    only_test = gather_idx(
        BuildRequest("m", tmp_path / "o", splits=("test",)), tmp_path / "src", names
    )
    assert list(only_test) == ["test"]


def classes(train=None, test=None):
    return dict(
        train_classes=train and parse_class_list(train),
        test_classes=test and parse_class_list(test),
    )


def test_idx_splits_keep_their_classes_with_class_lists(tmp_path):
    write_idx(tmp_path / "src", "train", np.zeros((6, 2, 2), np.uint8), np.uint8([0, 1, 2] * 2))
    write_idx(tmp_path / "src", "test", np.zeros((3, 2, 2), np.uint8), np.uint8([2, 1, 0]))
    names = ["zero", "one", "two"]
    request = BuildRequest("m", tmp_path / "o", **classes(test="two"))
    sets = gather_idx(request, tmp_path / "src", names)
    assert sets["train"].labels.tolist() == [0, 1, 0, 1] and sets["test"].labels.tolist() == [2]
    with pytest.raises(BadOption, match="--test-classes: no class named 'three'"):
        gather_idx(BuildRequest("m", tmp_path / "p", **classes(test="three")), tmp_path, names)


def test_a_named_class_without_images_in_its_split_is_refused(tmp_path):
    write_idx(tmp_path / "src", "train", np.zeros((2, 2, 2), np.uint8), np.uint8([0, 1]))
    write_idx(tmp_path / "src", "test", np.zeros((2, 2, 2), np.uint8), np.uint8([0, 2]))
    names = ["zero", "one", "two"]
    sets = gather_idx(BuildRequest("m", tmp_path / "o", **classes("0")), tmp_path / "src", names)
    assert sets["test"].labels.tolist() == [2]  # one, left over, has no test image: fine
    request = BuildRequest("m", tmp_path / "o", **classes("0", "1-2"))
    with pytest.raises(BadOption) as caught:
        gather_idx(request, tmp_path / "src", names)
    assert str(caught.value).startswith("--test-classes: no test image of ")
    assert str(caught.value).endswith(" is of class one")


def test_class_lists_split_a_folder_by_class_and_refuse_a_test_fraction(tmp_path):
    root = folder_of_images(tmp_path / "pets", classes=("cat", "dog", "eel"))
    request = BuildRequest("pets", tmp_path, **classes("eel,0"))
    sets = gather_images(request, root, None, Decoding())
    pixels = {split: sorted(images.images[:, 0, 0, 0] // 100) for split, images in sets.items()}
    assert pixels == {"train": [0] * 5 + [2] * 5, "test": [1] * 5}  # every image of each class
    progress = Recorder()
    with pytest.raises(BadOption, match="--test-fraction: does not apply with --train-classes"):
        gather_images(request, root, 0.2, Decoding(), progress)
    assert progress.calls == []  # refused before decoding


def test_images_are_decoded_with_progress_and_split_by_image(tmp_path):
    root = folder_of_images(tmp_path / "pets")
    progress = Recorder()
    sets = gather_images(BuildRequest("pets", tmp_path), root, 0.4, Decoding(), progress)
    assert gather_images(BuildRequest("pets", tmp_path), root, None, Decoding()).keys() == {
        "train",
        "test",
    }  # None: the default fraction
    assert progress.calls == [(10, "decoding")] and progress.done == 10
    train, test = sets["train"], sets["test"]
    assert (len(train.labels), len(test.labels)) == (6, 4)
    values = sorted(int(v) for v in np.concatenate([train.images, test.images])[:, 0, 0, 0])
    assert values == [0, 10, 20, 30, 40, 100, 110, 120, 130, 140]
    for images in (train, test):
        assert np.array_equal(images.labels, images.images[:, 0, 0, 0] // 100)
    assert train.images.shape[1:] == (1, 2, 3)


def test_no_test_images_means_train_alone_and_decoding_options_apply(tmp_path):
    root = folder_of_images(tmp_path / "pets")
    request = BuildRequest("pets", tmp_path, splits=("train",))
    sets = gather_images(request, root, 0.0, Decoding(size=(4, 5), gray=False))
    assert list(sets) == ["train"] and sets["train"].images.shape == (10, 3, 5, 4)


def test_a_folder_without_classes_fails_before_outputs_are_checked(tmp_path):
    (tmp_path / "flat").mkdir()
    request = BuildRequest("flat", tmp_path)
    request.target("train").mkdir()  # would be refused, but the folder is wrong first
    with pytest.raises(DatasetError, match="no class sub-folders"):
        gather_images(request, tmp_path / "flat", 0.2, Decoding())


def test_pair_list_rows_skip_an_unreadable_image(tmp_path):
    folder_of_images(tmp_path / "imgs", per_class=2)
    (tmp_path / "imgs" / "cat" / "bad.png").write_bytes(b"not a png")
    (tmp_path / "list.txt").write_text(
        "imgs/cat/0.png imgs/dog/1.png 0\nimgs/cat/bad.png imgs/cat/1.png 1\n"
        "imgs/cat/1.png imgs/cat/0.png 1\n"
    )
    request = BuildRequest("list", tmp_path / "o", splits=(ALL,))
    images, rows = gather_pair_list(request, tmp_path / "list.txt", Decoding())
    assert images.skipped == 1
    pixels = images.images[:, 0, 0, 0]
    assert [(pixels[i], pixels[j], sim) for i, j, sim in rows] == [(0, 110, 0), (10, 0, 1)]
