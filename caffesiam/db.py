"""Pair databases: Datum encoding, atomic LevelDB/LMDB writes with a manifest, and readers."""

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np

from caffesiam import __version__
from caffesiam.errors import DatabaseError, OutputExists

BACKENDS = ("leveldb", "lmdb")
BATCH = 512  # records per write batch: small, so memory stays flat whatever --pairs is
_LOCKED_HINT = "locked — is caffe training on it? wait or copy it"


# ---- Datum bytes -----------------------------------------------------------------------------

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def datum_prefix(channels: int, height: int, width: int) -> bytes:
    """Wire bytes of Datum fields 1-3 and the tag and length of field 4 (data)."""
    return (b"\x08" + _varint(channels) + b"\x10" + _varint(height) + b"\x18" + _varint(width)
            + b"\x22" + _varint(channels * height * width))


def encode_pair_datums(images_a: np.ndarray, images_b: np.ndarray, sims) -> np.ndarray:
    """Serialized caffe_pb2.Datum per pair: 2C channels, label = sim (1 = same class)."""
    return encode_stacked_datums((images_a, images_b), sims)


def encode_stacked_datums(stacks, labels) -> np.ndarray:
    """Serialized caffe_pb2.Datum per record, as rows of one uint8 array (the bytes Caffe writes).

    Record r stacks stacks[0][r], stacks[1][r], ... (C x H x W each) into k x C channels
    (pairs: k = 2; triplets: anchor, positive, negative); labels must be 0..127 (one varint byte).
    """
    n, c, h, w = stacks[0].shape
    k, size = len(stacks), c * h * w
    prefix = np.frombuffer(datum_prefix(k * c, h, w), dtype=np.uint8)
    rows = np.empty((n, len(prefix) + k * size + 2), dtype=np.uint8)
    rows[:, :len(prefix)] = prefix
    body = rows[:, len(prefix):len(prefix) + k * size]
    for part, images in enumerate(stacks):
        body[:, part * size:(part + 1) * size] = images.reshape(n, size)
    rows[:, -2] = 0x28  # field 5 (label), varint; 0 and 1 are one byte each
    rows[:, -1] = labels
    return rows


# ---- writing ---------------------------------------------------------------------------------

def write_pair_db(path, images: np.ndarray, plan: np.ndarray, backend: str = "leveldb",
                  force: bool = False, manifest: Optional[dict] = None,
                  progress: Optional[Callable[[int], None]] = None,
                  transform: Optional[Callable[[np.ndarray, int], np.ndarray]] = None) -> dict:
    """Write one record per plan row [i, j, sim] (triplets: [a, p, n, 0]) at `path`; return the manifest.

    `transform(images, key)`, if given, replaces each gathered batch of images before encoding
    (augmentation); `key` is unique to the batch and column, so it can seed the change.

    Built in a temporary sibling and renamed into place only when complete, so an interrupt or
    crash leaves nothing at `path` and any existing database untouched.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    path = Path(path)
    manifest_path = manifest_path_for(path)
    check_output(path, force)
    tmp = _make_temp_sibling(path)
    tmp_manifest = tmp.with_name(tmp.name + ".json")
    try:
        _write_records(tmp, backend, images, plan, progress, transform)
        record = _manifest(images, plan, backend, manifest or {})
        tmp_manifest.write_text(json.dumps(record, indent=2) + "\n")
        _replace(tmp, path)
        os.replace(tmp_manifest, manifest_path)
    except BaseException:  # KeyboardInterrupt and SystemExit (SIGTERM) too
        shutil.rmtree(tmp, ignore_errors=True)
        tmp_manifest.unlink(missing_ok=True)
        raise
    return record


def check_output(path, force: bool = False):
    """OutputExists when the database or its manifest is already there and not `force`."""
    path = Path(path)
    if (path.exists() or manifest_path_for(path).exists()) and not force:
        raise OutputExists(f"{path} already exists; pass --force to replace it")


def manifest_path_for(db_path) -> Path:
    """The JSON manifest that sits next to a database: <db>.json."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".json")


def _make_temp_sibling(path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    except OSError as e:
        raise DatabaseError(f"cannot write to {path.parent}: {e.strerror}") from e


def _replace(tmp: Path, path: Path):
    """Move the finished database into place; the old one is only removed after the swap."""
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        os.replace(path, old / "db")
    os.replace(tmp, path)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def _write_records(target: Path, backend, images, plan, progress, transform=None):
    rows, per_record = len(plan), plan.shape[1] - 1
    with _open_writer(target, backend, images, rows, per_record) as put_batch:
        for start in range(0, rows, BATCH):
            part = plan[start:start + BATCH]
            # plan rows: image indices (2 for a pair, 3 for a triplet), then the label
            stacks = [images[col] for col in part[:, :-1].T]
            if transform:
                stacks = [transform(stack, start * per_record + k) for k, stack in enumerate(stacks)]
            encoded = encode_stacked_datums(stacks, part[:, -1])
            put_batch(start, encoded)
            if progress:
                progress(len(part))


def leveldb_write_buffer(image_bytes: int, rows: int) -> int:
    """LevelDB memtable size: 1/4 of the image bytes less the plan's (<= 16 a row), 4-64 MiB.

    Each memtable flush fsyncs a table and the writer stalls behind it, so bigger is faster
    (Caffe's db_leveldb.cpp uses 256 MiB and never flushes), but LevelDB holds two while one
    flushes: images + plan + 2 x 1/4 keeps peak RSS growth under 2x the images.
    """
    return min(64 << 20, max(4 << 20, (image_bytes - 16 * rows) // 4))


class _open_writer:
    """Context manager yielding put_batch(first_index, encoded_rows) for the chosen backend."""

    def __init__(self, target: Path, backend: str, images: np.ndarray, rows: int, per_record: int = 2):
        self.target, self.backend = target, backend
        record = per_record * images[0].nbytes + 64
        self.map_size = max(1 << 24, 2 * rows * (record + 64))  # LMDB's file only grows as used
        self.write_buffer = leveldb_write_buffer(images.nbytes, rows)

    def __enter__(self):
        if self.backend == "leveldb":
            import plyvel

            # Big memtables (fewer fsynced flushes), big blocks and few open tables: a writer
            # never reads back, and small table indexes keep mmapped RSS flat for huge builds.
            # No snappy: it cost ~0.1 s CPU for 30% less disk on Fashion-MNIST; Caffe's converter
            # leaves an uncompressed log of the same size.
            self.db = plyvel.DB(str(self.target), create_if_missing=True, error_if_exists=False,
                                write_buffer_size=self.write_buffer, block_size=64 << 10,
                                max_open_files=100, compression=None)
            return self._put_leveldb
        import lmdb

        self.db = lmdb.open(str(self.target), map_size=self.map_size, subdir=True, sync=False,
                            metasync=False)
        return self._put_lmdb

    def __exit__(self, *exc):
        if self.backend == "lmdb" and exc[0] is None:
            self.db.sync(True)
        self.db.close()

    def _put_leveldb(self, first, encoded):
        with self.db.write_batch() as batch:
            for k, row in enumerate(encoded):
                batch.put(b"%08d" % (first + k), row.tobytes())

    def _put_lmdb(self, first, encoded):
        with self.db.begin(write=True) as txn:
            for k, row in enumerate(encoded):
                txn.put(b"%08d" % (first + k), row.tobytes(), append=True)


def _manifest(images, plan, backend, extra: dict) -> dict:
    sims, per_record = plan[:, -1], plan.shape[1] - 1
    labels = ({"positives": int(sims.sum()), "negatives": int(len(plan) - sims.sum()),
               "label_convention": "sim=1 means the two images show the same class"}
              if per_record == 2 else
              {"label_convention": "unused (0); channels hold anchor, positive (same class), "
                                   "negative (another class)"})
    return {
        **extra,
        "backend": backend,
        "records": int(len(plan)),
        "images_per_record": per_record,
        "image_shape": [int(d) for d in images.shape[1:]],
        "record_shape": [per_record * int(images.shape[1])] + [int(d) for d in images.shape[2:]],
        **labels,
        "caffesiam_version": __version__,
    }


# ---- reading ---------------------------------------------------------------------------------

@dataclass
class RecordShape:
    """Shape of a database's first record: Datum channels, height, width and label."""

    channels: int
    height: int
    width: int
    label: int


def detect_backend(path) -> str:
    """'leveldb' or 'lmdb', from the files inside the database directory."""
    path = Path(path)
    if not path.is_dir():
        raise DatabaseError(f"{path}: no such database directory")
    if (path / "data.mdb").is_file():
        return "lmdb"
    if (path / "CURRENT").is_file():
        return "leveldb"
    raise DatabaseError(f"{path}: neither a LevelDB nor an LMDB database")


def iter_records(path) -> Iterator[Tuple[bytes, bytes]]:
    """(key, serialized Datum) in key order; the database is only read."""
    path = Path(path)
    if detect_backend(path) == "lmdb":
        import lmdb

        try:
            env = lmdb.open(str(path), readonly=True, lock=False, subdir=True)
        except lmdb.Error as e:
            raise DatabaseError(f"{path}: cannot open LMDB ({e})") from e
        with env, env.begin(buffers=False) as txn:
            yield from txn.cursor()
        return
    import plyvel

    try:
        db = plyvel.DB(str(path), create_if_missing=False)
    except plyvel.IOError as e:
        if "lock" in str(e).lower():
            raise DatabaseError(f"{path}: {_LOCKED_HINT}") from e
        raise DatabaseError(f"{path}: cannot open LevelDB ({e})") from e
    except plyvel.Error as e:
        raise DatabaseError(f"{path}: cannot open LevelDB ({e})") from e
    try:
        yield from db.iterator()
    finally:
        db.close()


def decode_datum(value: bytes):
    """A parsed caffe_pb2.Datum."""
    from caffesiam.proto import caffe_pb2

    datum = caffe_pb2().Datum()
    datum.ParseFromString(value)
    return datum


def peek_record(path) -> RecordShape:
    """Channels, height, width and label of the first record."""
    for _, value in iter_records(path):
        d = decode_datum(value)
        return RecordShape(d.channels, d.height, d.width, d.label)
    raise DatabaseError(f"{path}: the database is empty")


def iter_pair_batches(path, batch_size: int = 1024, limit: Optional[int] = None):
    """Yield (images_a, images_b, labels) batches: uint8 N x C x H x W twice and int64 sims."""
    a, b, labels = [], [], []
    for count, (_, value) in enumerate(iter_records(path)):
        if limit is not None and count >= limit:
            break
        d = decode_datum(value)
        if d.channels % 2:
            raise DatabaseError(f"{path}: record with {d.channels} channels is not a pair")
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


def open_pairs(path, limit: Optional[int] = None):
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
    first_keys: List[str]


def summarize_db(path, n_keys: int = 5) -> DbSummary:
    """Count, shape, positives and first keys of a pair database (one pass)."""
    count = positives = 0
    keys, shape = [], None
    for key, value in iter_records(path):
        d = decode_datum(value)
        if shape is None:
            shape = RecordShape(d.channels, d.height, d.width, d.label)
        if count < n_keys:
            keys.append(key.decode(errors="replace"))
        count += 1
        positives += d.label == 1
    if shape is None:
        raise DatabaseError(f"{path}: the database is empty")
    return DbSummary(detect_backend(path), count, shape, positives, keys)
