"""LevelDB and LMDB opened: a batched writer tuned for building, and read-only record iteration.

The one module (with doctor's version check) that imports plyvel and lmdb. Keys are
"%08d" % record index, as Caffe's converters write them, so both backends read back in order.
"""

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lmdb
import numpy as np
import plyvel

from caffesiam.data.backends import LOCKED_ADVICE
from caffesiam.data.probe import detect_backend, open_elsewhere
from caffesiam.errors import DatabaseError
from caffesiam.limits import free_space


def leveldb_write_buffer(image_bytes: int, rows: int) -> int:
    """LevelDB memtable size: 1/4 of the image bytes less the plan's (<= 16 a row), 4-64 MiB.

    Each memtable flush fsyncs a table and the writer stalls behind it, so bigger is faster
    (Caffe's db_leveldb.cpp uses 256 MiB and never flushes), but LevelDB holds two while one
    flushes: images + plan + 2 x 1/4 keeps peak RSS growth under 2x the images.
    """
    return min(64 << 20, max(4 << 20, (image_bytes - 16 * rows) // 4))


_ERRNO_WORDS = (
    (errno.ENOSPC, "No space left"),
    (errno.ENOSPC, "MDB_MAP_FULL"),
    (errno.EDQUOT, "quota"),
    (errno.EROFS, "Read-only file system"),
    (errno.EACCES, "Permission denied"),
)


@contextmanager
def _as_os_error(errors, target: Path, writing: int = 0):
    """`errors` (plyvel's or lmdb's) raised as OSError with the errno their text names, so a
    full disk looks the same from either backend. LMDB reports a short write as EIO: with less
    free space than the `writing` bytes, that is a full disk."""
    try:
        yield
    except errors as e:
        text = (
            e.args[0].decode(errors="replace")
            if e.args and isinstance(e.args[0], bytes)
            else str(e)
        )
        code = next((c for c, words in _ERRNO_WORDS if words in text), errno.EIO)
        if code == errno.EIO and free_space(target) < writing:
            code = errno.ENOSPC
        raise OSError(code, f"{os.strerror(code)} ({text})", str(target)) from e


class RecordWriter:
    """Context manager yielding put_batch(first_index, encoded_rows) for the chosen backend;
    the backends' errors come out as OSError (a full disk: errno ENOSPC)."""

    def __init__(
        self, target: Path, backend: str, images: np.ndarray, rows: int, per_record: int = 2
    ):
        self.target, self.backend = target, backend
        record = per_record * images[0].nbytes + 64
        self.map_size = max(1 << 24, 2 * rows * (record + 64))  # LMDB's file only grows as used
        self.write_buffer = leveldb_write_buffer(images.nbytes, rows)

    def __enter__(self):
        if self.backend == "leveldb":
            self.errors = plyvel.Error
            # Big memtables (fewer fsynced flushes), big blocks and few open tables: a writer
            # never reads back, and small table indexes keep mmapped RSS flat for huge builds.
            # No snappy: it cost ~0.1 s CPU for 30% less disk on Fashion-MNIST; Caffe's converter
            # leaves an uncompressed log of the same size.
            with _as_os_error(self.errors, self.target):
                self.db = plyvel.DB(
                    str(self.target),
                    create_if_missing=True,
                    error_if_exists=False,
                    write_buffer_size=self.write_buffer,
                    block_size=64 << 10,
                    max_open_files=100,
                    compression=None,
                )
            return self._put_leveldb
        self.errors = lmdb.Error
        with _as_os_error(self.errors, self.target):
            self.db = lmdb.open(
                str(self.target), map_size=self.map_size, subdir=True, sync=False, metasync=False
            )
        return self._put_lmdb

    def __exit__(self, *exc):
        with _as_os_error(self.errors, self.target):
            try:
                if self.backend == "lmdb" and exc[0] is None:
                    self.db.sync(True)
            finally:
                self.db.close()
            if self.backend == "leveldb" and exc[0] is None:
                # LevelDB drops the error of a background memtable flush (a full disk) on close;
                # opening replays the last log into a table, as Caffe's first open would, so the
                # error shows here and Caffe opens a database that needs no more disk.
                plyvel.DB(str(self.target), create_if_missing=False).close()

    def _put_leveldb(self, first, encoded):
        with _as_os_error(self.errors, self.target), self.db.write_batch() as batch:
            for k, row in enumerate(encoded):
                batch.put(b"%08d" % (first + k), row.tobytes())

    def _put_lmdb(self, first, encoded):
        with (
            _as_os_error(self.errors, self.target, encoded.nbytes),
            self.db.begin(write=True) as txn,
        ):
            for k, row in enumerate(encoded):
                txn.put(b"%08d" % (first + k), row.tobytes(), append=True)


def iter_records(path) -> Iterator[tuple[bytes, bytes]]:
    """(key, serialized Datum) in key order; the database is only read."""
    path = Path(path)
    if detect_backend(path) == "lmdb":
        try:
            env = lmdb.open(str(path), readonly=True, lock=False, subdir=True)
        except lmdb.Error as e:
            raise DatabaseError(f"{path}: cannot open LMDB ({e})") from e
        with env, env.begin(buffers=False) as txn:
            yield from txn.cursor()
        return
    if open_elsewhere(path):  # refused before LevelDB's open, which rotates LOG even when locked
        raise DatabaseError(f"{path}: locked — {LOCKED_ADVICE}")
    try:
        db = plyvel.DB(str(path), create_if_missing=False)
    except plyvel.IOError as e:
        if "lock" in str(e).lower():
            raise DatabaseError(f"{path}: locked — {LOCKED_ADVICE}") from e
        raise DatabaseError(f"{path}: cannot open LevelDB ({e})") from e
    except plyvel.Error as e:
        raise DatabaseError(f"{path}: cannot open LevelDB ({e})") from e
    try:
        yield from db.iterator()
    finally:
        db.close()
