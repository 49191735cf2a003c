"""data.write: batches, keys, the transform's seeds, progress and a full disk, in process."""

import errno

import numpy as np
import pytest

from caffesiam.caffe.proto import caffe_pb2
from caffesiam.data import write
from caffesiam.data.store import iter_records
from caffesiam.errors import DiskFull

pytestmark = pytest.mark.caffe  # records are parsed with the caffe_pb2 that setup generated


def images(n=6):
    """n gray 2x2 images whose pixels are all the image's index."""
    return np.repeat(np.arange(n, dtype=np.uint8), 4).reshape(n, 1, 2, 2)


def datums(path):
    return [caffe_pb2().Datum.FromString(value) for _, value in iter_records(path)]


def test_db_bytes_counts_pixels_and_overhead():
    assert write.db_bytes(784, 10, 2) == 10 * (2 * 784 + write.RECORD_OVERHEAD)


def test_batches_keep_keys_in_order_and_the_transform_sees_unique_keys(tmp_path, monkeypatch):
    monkeypatch.setattr(write, "BATCH", 4)
    plan = np.array([[i % 6, (i + 1) % 6, i % 2] for i in range(10)])
    keys, advanced = [], []

    def invert(batch, key):
        keys.append((key, len(batch)))
        return 255 - batch

    manifest = write.write_pair_db(
        tmp_path / "db", images(), plan, progress=advanced.append, transform=invert
    )
    assert keys == [(0, 4), (1, 4), (8, 4), (9, 4), (16, 2), (17, 2)]  # start * 2 + column
    assert advanced == [4, 4, 2]
    found = datums(tmp_path / "db")
    assert [d.label for d in found] == list(plan[:, 2])
    assert [d.data for d in found] == [bytes([255 - i] * 4 + [255 - j] * 4) for i, j, _ in plan]
    assert (manifest["records"], manifest["positives"], manifest["negatives"]) == (10, 5, 5)


def test_a_full_disk_is_one_message_and_leaves_nothing(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(write, "_write_records", full)
    plan = np.array([[0, 1, 1]] * 1000)
    with pytest.raises(DiskFull) as caught:
        write.write_pair_db(tmp_path / "db", images(), plan)
    message = str(caught.value)
    assert message.startswith(f"disk full while writing {tmp_path / 'db'}: its 1,000 records")
    assert "take about 56.0 KB" in message and "nothing was left behind" in message
    assert list(tmp_path.iterdir()) == []


def test_other_os_errors_pass_through(tmp_path, monkeypatch):
    def denied(*args):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(write, "_write_records", denied)
    with pytest.raises(PermissionError):
        write.write_pair_db(tmp_path / "db", images(), np.array([[0, 1, 1]]))
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_backend_is_a_programming_error(tmp_path):
    with pytest.raises(ValueError, match="backend must be one of"):
        write.write_pair_db(tmp_path / "db", images(), np.array([[0, 1, 1]]), backend="rocks")
