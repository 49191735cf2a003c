import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from caffesiam.caffe.glog import glog_env
from caffesiam.cli import main
from caffesiam.data.sources.mnist import FASHION_MNIST_DIR

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
# glog would otherwise flood the test output.
for _name, _value in glog_env(full_log=False).items():
    os.environ.setdefault(_name, _value)


DOCKER_IMAGE = "caffesiam:cpu"  # what `make docker-cpu` builds and the docker tests train in


def docker_engine(image: str = DOCKER_IMAGE) -> tuple[str | None, str]:
    """(DOCKER_HOST of an engine that holds `image` ('' for the client's default), '') or (None,
    why there is none): DOCKER_HOST, else this project's own engine (make docker-engine), else
    the client's default."""
    docker = shutil.which("docker")
    if docker is None:
        return None, "no docker client on PATH"
    own = Path(os.environ.get("CAFFESIAM_DOCKER_ROOT", "/var/lib/caffesiam-docker"), "docker.sock")
    for host in (os.environ.get("DOCKER_HOST"), f"unix://{own}" if own.exists() else None, ""):
        if host is None:
            continue
        env = dict(os.environ, DOCKER_HOST=host) if host else os.environ
        if subprocess.run([docker, "version"], capture_output=True, env=env).returncode != 0:
            continue
        found = subprocess.run([docker, "image", "inspect", image], capture_output=True, env=env)
        if found.returncode != 0:
            return None, f"the Docker engine at {host or 'the default socket'} has no {image} image"
        return host, ""
    return None, "no Docker engine reachable (make docker-check starts one and builds the image)"


@pytest.fixture
def cli():
    """Invoke the click app; stdout and stderr kept apart."""
    runner = CliRunner()

    def invoke(*args, **kwargs):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)

    return invoke


def run_tool(*args, **kwargs):
    """Run the installed console script as a user would, as a separate process."""
    return subprocess.run(
        [str(VENV_BIN / "caffesiam"), *map(str, args)], capture_output=True, text=True, **kwargs
    )


@pytest.fixture(scope="session")
def caffe_src():
    from caffesiam.caffe.locate import caffe_source

    return caffe_source()


FASHION = FASHION_MNIST_DIR


def read_idx(path):
    """Minimal IDX reader for tests, independent of caffesiam's own."""
    import gzip

    import numpy as np

    raw = gzip.open(path).read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.fixture(scope="session")
def fashion_test():
    """The real Fashion-MNIST test split: (images N×28×28 uint8, labels N)."""
    return read_idx(FASHION / "t10k-images-idx3-ubyte.gz"), read_idx(
        FASHION / "t10k-labels-idx1-ubyte.gz"
    )


def read_net(path):
    """A NetParameter prototxt parsed with caffe_pb2."""
    from caffesiam.caffe.proto import caffe_pb2, read_text

    return read_text(path, caffe_pb2().NetParameter())


def dot_source(net, **options) -> str:
    """The DOT text of the diagram of `net`."""
    from caffesiam.draw.graph import build_graph

    return build_graph(net, **options).source


def write_pair_db(path, first, second, sims, backend="leveldb"):
    """Pair Datums through caffe_pb2 and plyvel/lmdb: a writer independent of build-db's."""
    from caffesiam.caffe.proto import caffe_pb2

    pb = caffe_pb2()
    records = []
    for i, (a, b, sim) in enumerate(zip(first, second, sims)):
        a, b = (x[None] if x.ndim == 2 else x for x in (a, b))
        datum = pb.Datum(
            channels=a.shape[0] * 2,
            height=a.shape[1],
            width=a.shape[2],
            data=a.tobytes() + b.tobytes(),
            label=int(sim),
        )
        records.append((b"%08d" % i, datum.SerializeToString()))
    if backend == "leveldb":
        import plyvel

        db = plyvel.DB(str(path), create_if_missing=True)
        for key, value in records:
            db.put(key, value)
        db.close()
    else:
        import lmdb

        env = lmdb.open(str(path), map_size=1 << 30)
        with env.begin(write=True) as txn:
            for key, value in records:
                txn.put(key, value)
        env.close()
    return path


def fashion_pairs(root, images, labels, backend: str, seed: int):
    """Train (512) and test (200) pair databases of real Fashion-MNIST images, half same-class."""
    import numpy as np

    rng = np.random.default_rng(seed)
    dbs = {}
    for split, n in (("train", 512), ("test", 200)):
        i = rng.integers(0, len(labels), n)
        j = np.array(
            [
                rng.choice(np.flatnonzero((labels == labels[a]) == bool(k % 2)))
                for k, a in enumerate(i)
            ]
        )
        dbs[split] = write_pair_db(
            root / f"{split}_{backend}",
            images[i],
            images[j],
            (labels[i] == labels[j]).astype(int),
            backend,
        )
    return dbs


@pytest.fixture(scope="session")
def fashion_pair_dbs(tmp_path_factory, fashion_test):
    """Small train/test pair LevelDBs of real Fashion-MNIST images (half same-class)."""
    return fashion_pairs(tmp_path_factory.mktemp("pairs"), *fashion_test, "leveldb", seed=0)


@pytest.fixture(scope="session")
def lmdb_pairs(tmp_path_factory, fashion_test):
    """The same in LMDB, which several trainings can read at once."""
    return fashion_pairs(tmp_path_factory.mktemp("lmdb_pairs"), *fashion_test, "lmdb", seed=1)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """Debian's slurm-wlm and munge, as make test's scripts/test_deps.sh installs them (a test
    installs nothing): munged, slurmctld and slurmd on 127.0.0.1 as children of this test
    process, one node with this machine's CPUs."""
    sys.path.insert(0, str(REPO / "scripts"))
    import local_slurm

    reason = local_slurm.why_unavailable(install=False)
    if reason:
        pytest.skip(f"cannot run a local Slurm: {reason}")
    cluster = local_slurm.LocalSlurm(tmp_path_factory.mktemp("slurm"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
