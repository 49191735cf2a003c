"""LevelDB or LMDB: the two formats Caffe's Data layer reads, their names, and how each is
recognised on disk and named in a DataParameter (no database module is imported here)."""

from pathlib import Path

from caffesiam.errors import DatabaseError

BACKENDS = ("leveldb", "lmdb")
DEFAULT_BACKEND = "leveldb"  # DataParameter.backend's default
_MARKER = {"lmdb": "data.mdb", "leveldb": "CURRENT"}  # a file that only this backend writes
# What to do about a LevelDB that another process holds (LevelDB admits one, e.g. a training caffe).
LOCKED_ADVICE = "is another caffe training on it? wait, or copy it"


def is_database(path, backend: str) -> bool:
    """True when the directory at `path` holds a database of `backend`."""
    return (Path(path) / _MARKER[backend]).is_file()


def detect_backend(path) -> str:
    """'leveldb' or 'lmdb', from the files inside the database directory."""
    path = Path(path)
    if not path.is_dir():
        raise DatabaseError(f"{path}: no such database directory")
    for backend in BACKENDS:
        if is_database(path, backend):
            return backend
    raise DatabaseError(f"{path}: neither a LevelDB nor an LMDB database")


# caffe_pb2 loads on first use: build-db and gen-net read BACKENDS while their options are defined.
def layer_backend(layer) -> str:
    """The backend name a Data layer reads (its DataParameter.DB value)."""
    from caffesiam.caffe.proto import caffe_pb2

    return caffe_pb2().DataParameter.DB.Name(layer.data_param.backend).lower()


def caffe_backend(backend: str) -> int:
    """The DataParameter.DB value of a backend name."""
    from caffesiam.caffe.proto import caffe_pb2

    return caffe_pb2().DataParameter.DB.Value(backend.upper())
