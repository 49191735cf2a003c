"""data.recordcheck: a net's Slice against the first record of its databases, before Caffe."""

import numpy as np
import pytest
from conftest import write_pair_db

from caffesiam.caffe.proto import caffe_pb2
from caffesiam.data.recordcheck import check_record_channels, sliced_sources
from caffesiam.errors import DatabaseError

pytestmark = pytest.mark.caffe  # nets are caffe_pb2 messages


def net_slicing(images: int, channels: int = 1, source="db"):
    """Data -> Slice into `images` tops of `channels` each, as gen-net writes it."""
    net = caffe_pb2().NetParameter()
    data = net.layer.add(name="pair_data", type="Data", top=["stack", "sim"])
    data.data_param.source = source
    cut = net.layer.add(name="slice_pair", type="Slice", bottom=["stack"])
    cut.top.extend([f"part{k}" for k in range(images)])
    cut.slice_param.slice_point.extend([channels * (k + 1) for k in range(images - 1)])
    return net


def test_sliced_sources_finds_evenly_spaced_channel_slices():
    assert sliced_sources(net_slicing(2)) == [("db", "slice_pair", 2, 1)]
    assert sliced_sources(net_slicing(3, channels=3)) == [("db", "slice_pair", 3, 3)]
    uneven = net_slicing(3)
    uneven.layer[1].slice_param.slice_point[:] = [1, 3]
    assert sliced_sources(uneven) == []
    on_height = net_slicing(2)
    on_height.layer[1].slice_param.axis = 2
    assert sliced_sources(on_height) == []


@pytest.fixture
def pair_db(tmp_path):
    gray = np.zeros((2, 1, 3, 3), np.uint8)
    return write_pair_db(tmp_path / "pairs", gray, gray, [1, 0])


def test_a_pair_database_fits_a_pair_net(pair_db):
    check_record_channels(net_slicing(2), lambda source: pair_db)


def test_a_pair_database_for_a_triplet_net_is_named(pair_db):
    with pytest.raises(DatabaseError) as caught:
        check_record_channels(net_slicing(3), lambda source: pair_db)
    assert str(caught.value) == (
        f"{pair_db}: records have 2 channels, but Slice 'slice_pair' cuts 3 images of "
        "1 channel(s) = 3; this is a pair database: build triplets with "
        "`caffesiam build-db ... --triplets`"
    )


def test_only_existing_skips_what_cannot_be_read(tmp_path):
    net = net_slicing(3)
    check_record_channels(net, lambda source: tmp_path / "missing", only_existing=True)
    (tmp_path / "not_a_db").mkdir()
    check_record_channels(net, lambda source: tmp_path / "not_a_db", only_existing=True)
    with pytest.raises(DatabaseError, match="neither a LevelDB nor an LMDB"):
        check_record_channels(net, lambda source: tmp_path / "not_a_db")
