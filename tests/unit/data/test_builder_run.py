"""data.builder.run: every planned database written whole, checked for room, cleaned up when
interrupted; records read back with caffe_pb2 directly, not with caffesiam's reader."""

import json
import os
import signal
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from caffesiam.caffe.proto import caffe_pb2
from caffesiam.data.augment import Jitter
from caffesiam.data.builder.plan import BuildRequest, draw_rows, plan_sets
from caffesiam.data.builder.run import write_databases
from caffesiam.data.sources.imageset import ImageSet
from caffesiam.data.store import iter_records
from caffesiam.errors import BadInput, DatasetError

pytestmark = pytest.mark.caffe  # records are parsed with the caffe_pb2 that setup generated


def shapes(labels) -> ImageSet:
    """4x3 images whose every pixel is the image's index."""
    n = len(labels)
    images = np.repeat(np.arange(n, dtype=np.uint8), 12).reshape(n, 1, 4, 3)
    return ImageSet(images, np.asarray(labels, dtype=np.int64), "shapes", ["a", "b", "c"])


def records(path: Path) -> list[tuple[bytes, np.ndarray, int]]:
    """(key, pixels as channels x H x W, label) of every record."""
    out = []
    for key, value in iter_records(path):
        datum = caffe_pb2().Datum.FromString(value)
        pixels = np.frombuffer(datum.data, np.uint8).reshape(datum.channels, datum.height, -1)
        out.append((key, pixels, datum.label))
    return out


class Bars:
    """A progress factory that records each bar's length, label and advances."""

    def __init__(self, on_advance=None):
        self.bars = []
        self.on_advance = on_advance

    @contextmanager
    def __call__(self, length, label):
        bar = {"length": length, "label": label, "done": 0}
        self.bars.append(bar)

        def advance(n):
            bar["done"] += n
            if self.on_advance:
                self.on_advance(bar)

        yield advance


def test_each_database_holds_its_drawn_pairs_and_its_manifest(tmp_path):
    labels = [0, 1, 2] * 8
    request = BuildRequest("s", tmp_path, pairs=700, test_pairs=5, seed=3)
    plan = plan_sets(request, {"train": shapes(labels), "test": shapes(labels[:6])})
    bars = Bars()
    written = list(write_databases(plan, bars))
    assert [target.name for target, _ in written] == [
        "s_siamese_train_leveldb",
        "s_siamese_test_leveldb",
    ]
    for (target, manifest), db in zip(written, plan.databases):
        rows = draw_rows(request, db)
        found = records(target)
        assert [key for key, _, _ in found] == [b"%08d" % k for k in range(len(rows))]
        for (_, pixels, label), (i, j, sim) in zip(found, rows):
            assert (pixels[0, 0, 0], pixels[1, 0, 0], label) == (i, j, sim)
            assert (labels[i] == labels[j]) == (sim == 1)
        assert json.loads(Path(f"{target}.json").read_text()) == manifest
        assert (manifest["records"], manifest["split"], manifest["seed"]) == (
            len(rows),
            db.split,
            3,
        )
    assert [(b["length"], b["label"], b["done"]) for b in bars.bars] == [
        (700, "writing s_siamese_train_leveldb", 700),
        (5, "writing s_siamese_test_leveldb", 5),
    ]


def test_triplets_and_lmdb(tmp_path):
    labels = [0, 0, 1, 1, 2, 2]
    request = BuildRequest("t", tmp_path, splits=("train",), backend="lmdb", triplets=True)
    ((target, manifest),) = write_databases(plan_sets(request, {"train": shapes(labels)}))
    assert target == tmp_path / "t_triplet_train_lmdb" and (target / "data.mdb").is_file()
    for _, pixels, label in records(target):
        anchor, positive, negative = pixels[:, 0, 0]
        assert labels[anchor] == labels[positive] != labels[negative] and anchor != positive
        assert label == 0
    assert manifest["images_per_record"] == 3


def test_augment_changes_the_train_images_only(tmp_path):
    rng = np.random.default_rng(0)
    source = shapes([0, 1, 2] * 4)
    source.images[:] = rng.integers(0, 256, source.images.shape, dtype=np.uint8)
    sets = {"train": source, "test": source}
    plain = BuildRequest("p", tmp_path / "plain")
    jittered = BuildRequest("p", tmp_path / "aug", augment=True, jitter=Jitter(2, 30, 0.2))
    for request in (plain, jittered):
        list(write_databases(plan_sets(request, sets)))
    plain_train, jittered_train = (records(r.target("train")) for r in (plain, jittered))
    assert [label for *_, label in plain_train] == [label for *_, label in jittered_train]
    assert any(not np.array_equal(p[1], j[1]) for p, j in zip(plain_train, jittered_train))
    test_dbs = (list(iter_records(r.target("test"))) for r in (plain, jittered))
    assert next(test_dbs) == next(test_dbs)


def test_too_many_records_are_refused_before_any_is_drawn(tmp_path):
    request = BuildRequest("big", tmp_path, pairs=10**12, splits=("train",), triplets=True)
    plan = plan_sets(request, {"train": shapes([0, 1])})
    with pytest.raises(BadInput) as caught:
        list(write_databases(plan))
    message = str(caught.value)
    assert message.startswith("--pairs 1,000,000,000,000: 1,000,000,000,000 records of 3 images")
    assert "of 1x4x3 needs" in message and "of memory" in message
    assert list(tmp_path.iterdir()) == []


def test_labels_that_cannot_pair_write_no_database(tmp_path):
    request = BuildRequest("one", tmp_path)
    plan = plan_sets(request, {"train": shapes([0, 1, 2] * 2), "test": shapes([1, 1, 1])})
    with pytest.raises(DatasetError, match="all images are of one class"):
        list(write_databases(plan))
    assert list(tmp_path.iterdir()) == []


def _signal_midway(signum):
    def send(bar):
        if bar["done"] >= 1024:
            os.kill(os.getpid(), signum)

    return send


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_midway_removes_the_half_built_database(tmp_path, signum):
    source = shapes([0, 1, 2] * 10)
    first = BuildRequest("s", tmp_path, pairs=10, splits=("train",))
    list(write_databases(plan_sets(first, {"train": source})))
    before = list(iter_records(first.target("train")))
    again = BuildRequest("s", tmp_path, pairs=5000, splits=("train",), force=True)

    def reached_the_old_handler(signum, frame):
        raise AssertionError("SIGTERM reached the handler from before the build")

    before_int = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a script's background job
    before_term = signal.signal(signal.SIGTERM, reached_the_old_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            list(write_databases(plan_sets(again, {"train": source}), Bars(_signal_midway(signum))))
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # handlers are put back
        assert signal.getsignal(signal.SIGTERM) == reached_the_old_handler
    finally:
        signal.signal(signal.SIGINT, before_int)
        signal.signal(signal.SIGTERM, before_term)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "s_siamese_train_leveldb",
        "s_siamese_train_leveldb.json",
    ]
    assert list(iter_records(first.target("train"))) == before
