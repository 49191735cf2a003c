"""data.swap: a database appears whole or not at all; temporaries of dead builds are cleared,
those of live ones never; what is replaced goes only after the swap."""

import fcntl
import os
import stat

import pytest

from caffesiam.data.swap import check_db_output, clear_stale, folder_lock, swapped_in
from caffesiam.errors import DatabaseError, OutputExists


def a_leveldb(path, content="x"):
    """A folder that looks like a LevelDB to the checks (its CURRENT marker)."""
    path.mkdir()
    (path / "CURRENT").write_text(content)
    return path


@pytest.fixture
def held():
    """held(path): flock the temporary as a live writer would; released after the test."""
    fds = []

    def hold(path):
        fd = os.open(path, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fds.append(fd)

    yield hold
    for fd in fds:
        os.close(fd)


def test_a_free_path_and_a_missing_folder_pass(tmp_path):
    check_db_output(tmp_path / "db")
    check_db_output(tmp_path / "missing" / "db")


@pytest.mark.parametrize("existing", ["db", "db.json"])
def test_a_database_or_its_manifest_needs_force(tmp_path, existing):
    (tmp_path / existing).mkdir() if existing == "db" else (tmp_path / existing).write_text("{}")
    with pytest.raises(OutputExists, match=r"db already exists; pass --force to replace it"):
        check_db_output(tmp_path / "db")
    check_db_output(tmp_path / "db", force=True)


def test_force_replaces_only_databases(tmp_path):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "notes.txt").write_text("mine")
    with pytest.raises(OutputExists, match="exists and is not a database"):
        check_db_output(tmp_path / "db", force=True)
    check_db_output(a_leveldb(tmp_path / "real"), force=True)


def test_dead_temporaries_go_live_ones_stay(tmp_path, held):
    dead = tmp_path / ".db.tmp-deadbeef"
    live = tmp_path / ".db.tmp-live_000"
    other = tmp_path / ".other.png.tmp-dead_000.png"  # another output's, whose writer died too
    for folder in (dead, live):
        folder.mkdir()
    other.write_bytes(b"half a picture")
    live_manifest = tmp_path / ".db.json.tmp-live_000.json"
    (tmp_path / ".db.json.tmp-orphan00.json").write_text("{}")  # a manifest whose build died
    live_manifest.write_text("{}")
    (tmp_path / ".db.tmp-notes").write_text("not a name caffesiam gives a temporary")
    held(live)
    held(live_manifest)
    with folder_lock(tmp_path):
        removed = clear_stale(tmp_path / "db")
    assert sorted(p.name for p in removed) == [
        ".db.json.tmp-orphan00.json",
        ".db.tmp-deadbeef",
        ".other.png.tmp-dead_000.png",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".db.json.tmp-live_000.json",
        ".db.tmp-live_000",
        ".db.tmp-notes",
    ]


def test_a_replace_killed_between_its_renames_is_put_back(tmp_path):
    old = tmp_path / ".db.old-abc"
    old.mkdir()
    a_leveldb(old / "db", "the old database")
    with folder_lock(tmp_path):
        clear_stale(tmp_path / "db")
    assert (tmp_path / "db" / "CURRENT").read_text() == "the old database"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db"]


def test_swapped_in_publishes_the_database_and_manifest_together(tmp_path):
    target = tmp_path / "sub" / "db"
    with swapped_in(target) as (tmp, manifest):
        assert tmp.parent == target.parent and tmp.name.startswith(".db.tmp-")
        assert not target.exists()
        (tmp / "CURRENT").write_text("new")
        manifest.write_text("{}")
    assert (target / "CURRENT").read_text() == "new"
    assert (tmp_path / "sub" / "db.json").read_text() == "{}"
    assert sorted(p.name for p in target.parent.iterdir()) == ["db", "db.json"]
    mode = stat.S_IMODE(target.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o777 & ~umask  # not mkdtemp's private 0700


def test_a_failed_build_leaves_the_old_database_and_no_temporary(tmp_path):
    a_leveldb(tmp_path / "db", "old")
    (tmp_path / "db.json").write_text("old manifest")
    with pytest.raises(KeyboardInterrupt), swapped_in(tmp_path / "db", force=True) as (tmp, man):
        (tmp / "CURRENT").write_text("half")
        man.write_text("half")
        raise KeyboardInterrupt
    assert (tmp_path / "db" / "CURRENT").read_text() == "old"
    assert (tmp_path / "db.json").read_text() == "old manifest"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "db.json"]


def test_force_replaces_and_a_build_that_finished_first_wins_without_it(tmp_path):
    a_leveldb(tmp_path / "db", "old")
    with swapped_in(tmp_path / "db", force=True) as (tmp, manifest):
        (tmp / "CURRENT").write_text("new")
        manifest.write_text("{}")
    assert (tmp_path / "db" / "CURRENT").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "db.json"]
    with pytest.raises(OutputExists), swapped_in(tmp_path / "late") as (tmp, manifest):
        a_leveldb(tmp_path / "late", "the other build's")  # another build finished meanwhile
    assert (tmp_path / "late" / "CURRENT").read_text() == "the other build's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "db.json", "late"]


def test_an_unwritable_folder_is_a_database_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(DatabaseError, match="cannot write to"):
        with swapped_in(tmp_path / "file" / "db"):
            pass
