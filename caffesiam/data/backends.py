"""LevelDB or LMDB: the two formats Caffe's Data layer reads, their names, the files that mark
each on disk, and how each is named in a DataParameter (pure; data.probe looks at the disk)."""

BACKENDS = ("leveldb", "lmdb")
DEFAULT_BACKEND = "leveldb"  # DataParameter.backend's default
MARKER_FILE = {"lmdb": "data.mdb", "leveldb": "CURRENT"}  # a file that only this backend writes
# The file each library fcntl-locks while a process has the database open (LevelDB: the whole
# LOCK file, exclusively; LMDB: byte 0 of lock.mdb, shared by every process that opened it).
OPEN_LOCK_FILE = {"leveldb": "LOCK", "lmdb": "lock.mdb"}
# What to do about a LevelDB that another process holds (LevelDB admits one, e.g. a training caffe).
LOCKED_ADVICE = "is another caffe training on it? wait, or copy it"


# caffe_pb2 loads on first use: build-db and gen-net read BACKENDS while their options are defined.
def layer_backend(layer) -> str:
    """The backend name a Data layer reads (its DataParameter.DB value)."""
    from caffesiam.caffe.proto import caffe_pb2

    return caffe_pb2().DataParameter.DB.Name(layer.data_param.backend).lower()


def caffe_backend(backend: str) -> int:
    """The DataParameter.DB value of a backend name."""
    from caffesiam.caffe.proto import caffe_pb2

    return caffe_pb2().DataParameter.DB.Value(backend.upper())
