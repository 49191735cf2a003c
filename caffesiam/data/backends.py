"""LevelDB or LMDB: the two formats Caffe's Data layer reads, their names, and how each is
recognised on disk and named in a DataParameter (no database module is imported here)."""

import fcntl
import os
from pathlib import Path

from caffesiam.caffe.proto import caffe_pb2
from caffesiam.errors import DatabaseError

BACKENDS = ("leveldb", "lmdb")
DEFAULT_BACKEND = "leveldb"  # DataParameter.backend's default
_MARKER = {"lmdb": "data.mdb", "leveldb": "CURRENT"}  # a file that only this backend writes
# The file each library fcntl-locks while a process has the database open (LevelDB: the whole
# LOCK file, exclusively; LMDB: byte 0 of lock.mdb, shared by every process that opened it).
_OPEN_LOCK = {"leveldb": "LOCK", "lmdb": "lock.mdb"}
# What to do about a LevelDB that another process holds (LevelDB admits one, e.g. a training caffe).
LOCKED_ADVICE = "is another caffe training on it? wait, or copy it"


def is_database(path, backend: str) -> bool:
    """True when the directory at `path` holds a database of `backend`."""
    return (Path(path) / _MARKER[backend]).is_file()


def open_elsewhere(path) -> Path | None:
    """The lock file proving that another process has the database at `path` open (a running
    `caffe train`, say), or None. Tested with the fcntl lock LevelDB and LMDB themselves take."""
    for name in _OPEN_LOCK.values():
        lock = Path(path) / name
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)
        except OSError:
            return lock
        finally:
            os.close(fd)  # also drops the test lock
    return None


def detect_backend(path) -> str:
    """'leveldb' or 'lmdb', from the files inside the database directory."""
    path = Path(path)
    if not path.is_dir():
        raise DatabaseError(f"{path}: no such database directory")
    for backend in BACKENDS:
        if is_database(path, backend):
            return backend
    raise DatabaseError(f"{path}: neither a LevelDB nor an LMDB database")


def missing_data_source(net, cwd: Path) -> str | None:
    """What is wrong with the first Data layer source of `net` that is not a database of its
    layer's backend (relative sources start at `cwd`, as Caffe resolves them), or None."""
    for layer in net.layer:
        if layer.type != "Data":
            continue
        backend = layer_backend(layer)
        path = cwd / layer.data_param.source
        if not path.exists():
            return f"data source of layer '{layer.name}' not found: {path}"
        if not is_database(path, backend):
            return f"data source of layer '{layer.name}' is not a {backend} database: {path}"
    return None


def layer_backend(layer) -> str:
    """The backend name a Data layer reads (its DataParameter.DB value)."""
    return caffe_pb2().DataParameter.DB.Name(layer.data_param.backend).lower()


def caffe_backend(backend: str) -> int:
    """The DataParameter.DB value of a backend name."""
    return caffe_pb2().DataParameter.DB.Value(backend.upper())
