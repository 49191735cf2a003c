"""Reading pair databases: the first record's shape, pairs in batches or all at once, a summary,
and the images per record that the manifest beside one records."""

from dataclasses import dataclass

import numpy as np

from caffesiam.data.datum import decode_datum
from caffesiam.data.manifest import MANIFEST_SCHEMA, manifest_path_for
from caffesiam.data.probe import detect_backend
from caffesiam.data.store import iter_records
from caffesiam.errors import DatabaseError
from caffesiam.schema import read_json_file


def _where(path, key: bytes) -> str:
    return f"{path}: record {key.decode(errors='replace')[:40]!r}"


@dataclass
class RecordShape:
    """Shape of a database's first record: Datum channels, height, width and label."""

    channels: int
    height: int
    width: int
    label: int


def peek_record(path) -> RecordShape:
    """Channels, height, width and label of the first record."""
    for key, value in iter_records(path):
        d = decode_datum(value, _where(path, key))
        return RecordShape(d.channels, d.height, d.width, d.label)
    raise DatabaseError(f"{path}: the database is empty")


def iter_pair_batches(path, batch_size: int = 1024, limit: int | None = None):
    """Yield (images_a, images_b, labels) batches: uint8 N x C x H x W twice and int64 sims."""
    a, b, labels, first = [], [], [], None
    for count, (key, value) in enumerate(iter_records(path)):
        if limit is not None and count >= limit:
            break
        d = decode_datum(value, _where(path, key))
        if d.channels % 2:
            raise DatabaseError(f"{path}: record with {d.channels} channels is not a pair")
        if not d.data:
            raise DatabaseError(
                f"{_where(path, key)}: float pixels (float_data); pair databases hold uint8 images"
            )
        first = first or (d.channels, d.height, d.width)
        if (d.channels, d.height, d.width) != first:
            raise DatabaseError(
                f"{_where(path, key)}: {d.channels}x{d.height}x{d.width}, but the "
                f"first record is {'x'.join(map(str, first))}"
            )
        half = d.channels // 2
        pixels = np.frombuffer(d.data, dtype=np.uint8).reshape(d.channels, d.height, d.width)
        a.append(pixels[:half])
        b.append(pixels[half:])
        labels.append(d.label)
        if len(labels) == batch_size:
            yield np.stack(a), np.stack(b), np.asarray(labels, dtype=np.int64)
            a, b, labels = [], [], []
    if labels:
        yield np.stack(a), np.stack(b), np.asarray(labels, dtype=np.int64)


def open_pairs(path, limit: int | None = None):
    """All (or the first `limit`) pairs as (images_a, images_b, labels) arrays."""
    batches = list(iter_pair_batches(path, limit=limit))
    if not batches:
        raise DatabaseError(f"{path}: the database is empty")
    return tuple(np.concatenate(parts) for parts in zip(*batches))


@dataclass
class DbSummary:
    """What inspect-db prints: backend, record count, record shape, positives and the first keys."""

    backend: str
    count: int
    shape: RecordShape
    positives: int
    first_keys: list[str]


def summarize_db(path, n_keys: int = 5) -> DbSummary:
    """Count, shape, positives and first keys of a pair database (one pass)."""
    count = positives = 0
    keys, shape = [], None
    for key, value in iter_records(path):
        d = decode_datum(value, _where(path, key))
        if shape is None:
            shape = RecordShape(d.channels, d.height, d.width, d.label)
        if count < n_keys:
            keys.append(key.decode(errors="replace"))
        count += 1
        positives += d.label == 1
    if shape is None:
        raise DatabaseError(f"{path}: the database is empty")
    return DbSummary(detect_backend(path), count, shape, positives, keys)


def images_per_record(db_path) -> int:
    """From the manifest next to the database; 2 (pairs) when there is none. DatabaseError when
    the manifest is damaged."""
    manifest = read_json_file(manifest_path_for(db_path), MANIFEST_SCHEMA, optional=True)
    return manifest["images_per_record"] if manifest else 2
