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


def backend_at(path) -> str | None:
    """The backend of the database at `path`, or None when it holds none."""
    return next((backend for backend in BACKENDS if is_database(path, backend)), None)


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


def missing_data_source(net, cwd: Path, only_existing: bool = False) -> str | None:
    """What is wrong with the first Data layer source of `net` that is not a database of its
    layer's backend (relative sources start at `cwd`, as Caffe resolves them), or None.
    `only_existing`: a source that does not exist yet passes (gen-net: built later)."""
    for layer in net.layer:
        if layer.type != "Data":
            continue
        backend = layer_backend(layer)
        path = cwd / layer.data_param.source
        if not os.path.lexists(path):
            if only_existing:
                continue
            return f"data source of layer '{layer.name}' not found: {path}"
        if not is_database(path, backend):
            return (
                f"data source of layer '{layer.name}' is not a {backend} database: {path} "
                f"({_what_is_at(path)})"
            )
    return None


def check_existing_sources(net, cwd: Path):
    """DatabaseError when a Data layer's source exists and is not a database of its backend."""
    problem = missing_data_source(net, cwd, only_existing=True)
    if problem:
        raise DatabaseError(problem)


def _what_is_at(path: Path) -> str:
    """What holds `path` instead of a database, in a few words."""
    if not path.is_dir():
        kind = "a FIFO" if path.is_fifo() else "a file" if path.is_file() else "not a folder"
        return kind if path.exists() else "a dangling link"
    found = backend_at(path)
    return f"a database of the other backend, {found}" if found else "a folder with no database"
