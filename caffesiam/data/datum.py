"""caffe_pb2.Datum records: images stacked on channels, encoded straight to wire bytes (pure)."""

import numpy as np
from google.protobuf.message import DecodeError

from caffesiam.caffe.proto import caffe_pb2
from caffesiam.errors import DatabaseError


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def datum_prefix(channels: int, height: int, width: int) -> bytes:
    """Wire bytes of Datum fields 1-3 and the tag and length of field 4 (data)."""
    return (
        b"\x08"
        + _varint(channels)
        + b"\x10"
        + _varint(height)
        + b"\x18"
        + _varint(width)
        + b"\x22"
        + _varint(channels * height * width)
    )


def encode_stacked_datums(stacks, labels) -> np.ndarray:
    """Serialized caffe_pb2.Datum per record, as rows of one uint8 array (the bytes Caffe writes).

    Record r stacks stacks[0][r], stacks[1][r], ... (C x H x W each) into k x C channels
    (pairs: k = 2; triplets: anchor, positive, negative); labels must be 0..127 (one varint byte).
    """
    n, c, h, w = stacks[0].shape
    k, size = len(stacks), c * h * w
    prefix = np.frombuffer(datum_prefix(k * c, h, w), dtype=np.uint8)
    rows = np.empty((n, len(prefix) + k * size + 2), dtype=np.uint8)
    rows[:, : len(prefix)] = prefix
    body = rows[:, len(prefix) : len(prefix) + k * size]
    for part, images in enumerate(stacks):
        body[:, part * size : (part + 1) * size] = images.reshape(n, size)
    rows[:, -2] = 0x28  # field 5 (label), varint; 0 and 1 are one byte each
    rows[:, -1] = labels
    return rows


def decode_datum(value: bytes, where: str = "record"):
    """A parsed caffe_pb2.Datum; DatabaseError naming `where` when the bytes are not one or its
    pixels do not fill its channels x height x width."""
    datum = caffe_pb2().Datum()
    try:
        datum.ParseFromString(value)
    except DecodeError as e:
        raise DatabaseError(f"{where}: not a Caffe Datum ({e})") from e
    if datum.encoded:
        raise DatabaseError(
            f"{where}: an encoded (JPEG/PNG) Datum; caffesiam reads raw pixel records"
        )
    size = datum.channels * datum.height * datum.width
    found = len(datum.data) if datum.data else len(datum.float_data)
    if found != size or not size:
        raise DatabaseError(
            f"{where}: a Datum of {datum.channels}x{datum.height}x{datum.width} "
            f"with {found} values; the record is corrupt"
        )
    return datum
