"""Class: crashes and concurrency, with real processes. kill -9 mid-build, a build frozen while
another replaces its output, two builds racing for one output, --force onto a database another
process holds open, an interrupted replace, a full disk, and reading that must never create."""

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, VENV_BIN

from caffesiam.data.store import iter_records
from hostile.helpers import changes, refused, run, snapshot

pytestmark = [pytest.mark.caffe, pytest.mark.slow]  # real processes racing, crashing, holding

NAME = "fashion_mnist_siamese_test_"


def build(out, pairs, *extra):
    return [
        str(VENV_BIN / "caffesiam"),
        "build-db",
        "fashion-mnist",
        "--split",
        "test",
        "--out",
        str(out),
        "--test-pairs",
        str(pairs),
        *map(str, extra),
    ]


def start(argv):
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def temporaries(out: Path):
    return sorted(p.name for p in out.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def writing(out: Path, backend: str):
    """True once a build's temporary holds records (LevelDB's log, LMDB's data file)."""
    marker = "*.log" if backend == "leveldb" else "data.mdb"
    return any(p.stat().st_size > (1 << 20) for p in out.glob(f".*.tmp-*/{marker}"))


@pytest.mark.parametrize("backend", ["leveldb", "lmdb"])
def test_kill_9_leaves_a_temporary_that_the_next_build_removes(backend, tmp_path):
    out = tmp_path / "out"
    proc = start(build(out, 3_000_000, "--backend", backend))
    wait_for(lambda: out.is_dir() and writing(out, backend))
    proc.kill()
    proc.wait()
    assert len(temporaries(out)) == 2  # the database's and its manifest's; their locks died too
    done = run(*build(out, 10, "--backend", backend)[1:])
    assert done.returncode == 0, done.stderr
    assert temporaries(out) == [] and sorted(p.name for p in out.iterdir()) == [
        NAME + backend,
        NAME + backend + ".json",
    ]


def test_a_live_build_is_never_touched(tmp_path):
    """A frozen build keeps its temporary while another build replaces the output; thawed, it
    finds the output taken and, without --force, gives up with exit 2 naming it."""
    out = tmp_path / "out"
    slow = start(build(out, 60_000))
    wait_for(lambda: out.is_dir() and writing(out, "leveldb"))
    slow.send_signal(signal.SIGSTOP)
    try:
        theirs = temporaries(out)  # the database's and its manifest's
        done = run(*build(out, 10, "--force")[1:])
        assert done.returncode == 0, done.stderr
        assert len(theirs) == 2 and temporaries(out) == theirs
    finally:
        slow.send_signal(signal.SIGCONT)
    try:
        _, err = slow.communicate(timeout=300)
    finally:
        slow.kill()
    assert slow.returncode == 2 and err.count("\n") == 1, err
    assert f"{out / (NAME + 'leveldb')} already exists; pass --force" in err
    assert temporaries(out) == [] and len(list(iter_records(out / (NAME + "leveldb")))) == 10


@pytest.mark.parametrize("backend", ["leveldb", "lmdb"])
def test_two_builds_racing_without_force_one_wins(backend, tmp_path):
    """Both pass the early check while the folder is locked, then race to rename: one wins, the
    other exits 2 naming the output and leaves nothing."""
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    procs = [start(build(out, 2000, "--backend", backend, "--seed", seed)) for seed in (1, 2)]
    time.sleep(3)  # both reach the folder lock (their early checks are done by then)
    os.close(fd)
    results = [(p.wait(timeout=300), p.stderr.read(), p.stdout.read()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err, _ in results if code == 2)
    assert loser.count("\n") == 1 and f"{NAME}{backend} already exists" in loser
    winner = next(k for k, (code, _, _) in enumerate(results) if code == 0)
    manifest = (out / f"{NAME}{backend}.json").read_text()
    assert f'"seed": {winner + 1}' in manifest  # database and manifest are the winner's
    assert temporaries(out) == []


HOLDERS = {  # a second process holding a database open, as a running `caffe train` does
    "leveldb": "import plyvel, sys, time; db = plyvel.DB(sys.argv[1]); "
    "print('open', flush=True); time.sleep(60)",
    "lmdb": "import lmdb, sys, time; env = lmdb.open(sys.argv[1], readonly=True); "
    "print('open', flush=True); time.sleep(60)",
}


@pytest.mark.parametrize("backend,lock", [("leveldb", "LOCK"), ("lmdb", "lock.mdb")])
def test_force_refuses_a_database_open_elsewhere(backend, lock, tmp_path):
    out = tmp_path / "out"
    assert run(*build(out, 10, "--backend", backend)[1:]).returncode == 0
    db = out / (NAME + backend)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDERS[backend], str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "open\n"
        before = snapshot(out)  # after the holder's own open, which rewrites LevelDB's files
        refused(
            run(*build(out, 20, "--force", "--backend", backend)[1:]),
            2,
            f"{db} is open in another process",
            f"{db / lock} is locked",
        )
        assert changes(before, out) == set()
    finally:
        holder.kill()
        holder.wait()
    assert run(*build(out, 20, "--force", "--backend", backend)[1:]).returncode == 0  # free again


def test_force_replaces_only_databases(tmp_path):
    out = tmp_path / "out"
    (out / (NAME + "leveldb")).mkdir(parents=True)
    (out / (NAME + "leveldb") / "thesis.tex").write_text("years of work")
    before = snapshot(tmp_path)
    refused(run(*build(out, 10, "--force")[1:]), 2, "exists and is not a database")
    assert changes(before, tmp_path) == set()


def test_a_replace_killed_between_its_renames_is_undone(tmp_path):
    """A build killed after moving the old database aside and before moving the new one in: the
    next build puts the old one back (and, without --force, leaves it)."""
    out = tmp_path / "out"
    assert run(*build(out, 10)[1:]).returncode == 0
    db = out / (NAME + "leveldb")
    records = list(iter_records(db))
    aside = out / f".{db.name}.old-x1y2z3"
    aside.mkdir()
    db.rename(aside / "db")
    refused(run(*build(out, 20)[1:]), 2, f"{db} already exists")
    assert list(iter_records(db)) == records and temporaries(out) == []


@pytest.mark.parametrize("backend", ["leveldb", "lmdb"])
def test_disk_full_mid_write(backend, small_disk):
    """The records fit the disk but the database's working room does not: exit 1, one line with
    what was needed and what was free, the temporary removed, the old database untouched."""
    disk = small_disk(6 * 1024 if backend == "leveldb" else 3 * 1024)
    assert run(*build(disk, 10, "--backend", backend)[1:]).returncode == 0
    before = snapshot(disk)
    pairs = 3500 if backend == "leveldb" else 1700
    refused(
        run(*build(disk, pairs, "--backend", backend, "--force")[1:]),
        1,
        f"disk full while writing {disk / (NAME + backend)}",
        "take about",
        "was free when it started",
    )
    assert changes(before, disk) == set()


@pytest.mark.parametrize("command", ["draw --shapes", "inspect-db", "evaluate", "embed --db"])
def test_reading_never_creates(command, tmp_path, model):
    """A missing database named as a source is reported; nothing appears at its path (Caffe's
    LevelDB reader and plyvel both create one while they fail)."""
    deploy, weights = model
    missing = tmp_path / "missing_leveldb"
    net = tmp_path / "net.prototxt"
    assert (
        run(
            "gen-net",
            REPO / "templates/lenet.yaml",
            "--train-source",
            missing,
            "--test-source",
            missing,
            "-o",
            net,
        ).returncode
        == 0
    )
    args = {
        "draw --shapes": ["draw", net, "-o", tmp_path / "net.png", "--shapes"],
        "inspect-db": ["inspect-db", missing],
        "evaluate": ["evaluate", "--model", deploy, "--weights", weights, "--db", missing],
        "embed --db": [
            "embed",
            "--model",
            deploy,
            "--weights",
            weights,
            "--db",
            missing,
            "-o",
            tmp_path / "e.npz",
        ],
    }[command]
    done = run(*args)
    if command == "draw --shapes":  # draws without shapes, and says why
        assert done.returncode == 0 and done.stderr.count("\n") == 1
        assert f"data source of layer 'pair_data' not found: {missing}" in done.stderr
    else:
        refused(done, 2, str(missing), "no such database")
    assert not missing.exists()


def _leveldb(path, records):
    import plyvel

    db = plyvel.DB(str(path), create_if_missing=True)
    for key, value in records:
        db.put(key, value)
    db.close()
    return path


@pytest.mark.parametrize(
    "case,words",
    [
        ("garbage record", "record '00000000': not a Caffe Datum"),
        ("pixels missing", "a Datum of 2x100000x100000 with 2 values; the record is corrupt"),
        ("encoded record", "an encoded (JPEG/PNG) Datum"),
        ("empty database", "the database is empty"),
        ("a file", "no such database directory"),
    ],
)
def test_inspect_db_of_what_is_not_a_pair_database(case, words, tmp_path):
    from caffesiam.caffe.proto import caffe_pb2

    datum = caffe_pb2().Datum
    db = tmp_path / "x_leveldb"
    if case == "a file":
        db.write_text("not a database")
    else:
        records = {
            "garbage record": [(b"00000000", b"\xff\xff\xff garbage")],
            "pixels missing": [
                (
                    b"00000000",
                    datum(
                        channels=2, height=100000, width=100000, data=b"ab", label=1
                    ).SerializeToString(),
                )
            ],
            "encoded record": [
                (
                    b"00000000",
                    datum(encoded=True, data=b"\xff\xd8jpeg", label=1).SerializeToString(),
                )
            ],
            "empty database": [],
        }[case]
        _leveldb(db, records)
    refused(run("inspect-db", db, "--show", 2, tmp_path / "pairs.png"), 2, str(db), words)
    assert not (tmp_path / "pairs.png").exists()


def test_a_manifest_that_is_a_fifo_is_not_read(tmp_path, pair_db):
    """The manifest beside a database is read by the same rules as every input: a FIFO there
    would block forever; it is refused, naming it, without a wait."""
    db = tmp_path / pair_db.name
    shutil.copytree(pair_db, db)
    os.mkfifo(tmp_path / f"{db.name}.json")
    refused(run("inspect-db", db, timeout=60), 2, f"{db.name}.json", "FIFO")
