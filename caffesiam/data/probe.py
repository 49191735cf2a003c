"""Databases on disk: which backend a folder holds, whether another process has it open, and
whether the Data layers of a net read databases that are there."""

import fcntl
import os
from pathlib import Path

from caffesiam.data.backends import BACKENDS, MARKER_FILE, OPEN_LOCK_FILE, layer_backend
from caffesiam.errors import DatabaseError


def is_database(path, backend: str) -> bool:
    """True when the directory at `path` holds a database of `backend`."""
    return (Path(path) / MARKER_FILE[backend]).is_file()


def open_elsewhere(path) -> Path | None:
    """The lock file proving that another process has the database at `path` open (a running
    `caffe train`, say), or None. Tested with the fcntl lock LevelDB and LMDB themselves take."""
    for name in OPEN_LOCK_FILE.values():
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
