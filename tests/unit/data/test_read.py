"""data.read: databases written by an independent writer (conftest's, through caffe_pb2) read back
as pairs, batches, shapes and summaries; what is not a pair database is one DatabaseError."""

import json

import numpy as np
import plyvel
import pytest
from conftest import write_pair_db

from caffesiam.caffe.proto import caffe_pb2
from caffesiam.data.read import (
    RecordShape,
    images_per_record,
    iter_pair_batches,
    open_pairs,
    peek_record,
    summarize_db,
)
from caffesiam.errors import DatabaseError

pytestmark = pytest.mark.caffe  # the databases are written with caffe_pb2's Datum


@pytest.fixture
def pairs():
    rng = np.random.default_rng(7)
    first = rng.integers(0, 256, (5, 2, 3, 4), dtype=np.uint8)
    second = rng.integers(0, 256, (5, 2, 3, 4), dtype=np.uint8)
    return first, second, np.array([1, 0, 0, 1, 1])


@pytest.mark.parametrize("backend", ["leveldb", "lmdb"])
def test_pairs_read_back_as_written(tmp_path, pairs, backend):
    db = write_pair_db(tmp_path / "db", *pairs, backend=backend)
    for got, want in zip(open_pairs(db), pairs):
        assert np.array_equal(got, want)
    assert peek_record(db) == RecordShape(channels=4, height=3, width=4, label=1)
    summary = summarize_db(db, n_keys=2)
    assert (summary.backend, summary.count, summary.positives) == (backend, 5, 3)
    assert summary.first_keys == ["00000000", "00000001"]


def test_batches_and_limits(tmp_path, pairs):
    db = write_pair_db(tmp_path / "db", *pairs)
    batches = list(iter_pair_batches(db, batch_size=2, limit=3))
    assert [len(labels) for _, _, labels in batches] == [2, 1]
    assert np.array_equal(np.concatenate([b for _, b, _ in batches]), pairs[1][:3])
    first, _, labels = open_pairs(db, limit=4)
    assert len(first) == 4 and list(labels) == [1, 0, 0, 1]


def raw_db(path, *datums):
    """A LevelDB of the given Datums, as another tool could have written it."""
    db = plyvel.DB(str(path), create_if_missing=True)
    for k, datum in enumerate(datums):
        db.put(b"%08d" % k, datum.SerializeToString())
    db.close()
    return path


@pytest.mark.parametrize(
    "datums, words",
    [
        ([], "the database is empty"),
        (
            [dict(channels=3, height=1, width=1, data=b"abc")],
            "record with 3 channels is not a pair",
        ),
        (
            [dict(channels=2, height=1, width=1, float_data=[0.5, 1.0])],
            "record '00000000': float pixels (float_data)",
        ),
        (
            [
                dict(channels=2, height=1, width=1, data=b"ab"),
                dict(channels=2, height=1, width=2, data=b"abcd"),
            ],
            "record '00000001': 2x1x2, but the first record is 2x1x1",
        ),
        ([dict(channels=2, height=2, width=2, data=b"ab")], "with 2 values; the record is corrupt"),
    ],
)
def test_what_is_not_a_pair_database_is_refused(tmp_path, datums, words):
    db = raw_db(tmp_path / "db", *(caffe_pb2().Datum(**d) for d in datums))
    with pytest.raises(DatabaseError) as caught:
        open_pairs(db)
    assert str(caught.value).startswith(str(db)) and words in str(caught.value)


@pytest.mark.parametrize(
    "manifest, expected",
    [
        (None, 2),
        ({"images_per_record": 3}, 3),
        ({"images_per_record": 2}, 2),
        ({"backend": "leveldb", "records": 4}, 2),  # from before triplets: pairs
    ],
)
def test_images_per_record_comes_from_the_manifest_or_is_two(tmp_path, manifest, expected):
    if manifest is not None:
        (tmp_path / "db.json").write_text(json.dumps(manifest))
    assert images_per_record(tmp_path / "db") == expected


@pytest.mark.parametrize(
    "text, words",
    [
        ('{"images_per_record": 4}', "images_per_record is 4, expected an integer in [2, 3]"),
        ('{"images_per_record": true}', "images_per_record is true, expected an integer"),
        ('{"image_shape": [1, 0, 28]}', "image_shape[1] is 0, expected an integer >= 1"),
        ("not json", "not JSON"),
        ("[2]", "is a JSON list, expected a JSON object (database manifest)"),
    ],
)
def test_a_damaged_manifest_is_a_database_error_naming_it(tmp_path, text, words):
    (tmp_path / "db.json").write_text(text)
    with pytest.raises(DatabaseError) as caught:
        images_per_record(tmp_path / "db")
    assert str(caught.value).startswith(f"{tmp_path / 'db.json'}: ") and words in str(caught.value)
