"""caffesiam.files: bounded reads of input files, checked outputs, staged writes, plain names and
the cache folder, in process."""

import codecs
import fcntl
import os
import re
import stat
from pathlib import Path

import pytest
from conftest import REPO

from caffesiam import files
from caffesiam.errors import BadInput, CaffesiamError, SpecError


def test_read_file_returns_text_or_bytes(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_bytes(codecs.BOM_UTF8 + "name: tête\n".encode())
    assert files.read_file(path, SpecError) == "name: tête\n"  # the UTF-8 mark is dropped
    assert files.read_file(path, SpecError, binary=True).startswith(codecs.BOM_UTF8)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: None, "no such spec"),
        (lambda p: p.mkdir(), "is a directory, not a spec"),
        (lambda p: os.mkfifo(p), "is a FIFO (named pipe), not a spec"),
        (lambda p: p.write_bytes(codecs.BOM_UTF16_LE + "a".encode("utf-16-le")), "is UTF-16 text"),
        (lambda p: p.write_bytes(b"a: 1\nb: \0\n"), ":2: a NUL byte"),
        (lambda p: p.write_bytes(b"a: 1\n\nc: \xff\n"), ":3: byte 0xff is not UTF-8"),
        (lambda p: p.write_text("x" * 101), "larger than 100 B, more than any spec needs"),
    ],
)
def test_read_file_refuses_what_is_not_a_small_utf8_file(tmp_path, make, words):
    path = tmp_path / "in"
    make(path)
    with pytest.raises(SpecError) as caught:
        files.read_file(path, SpecError, "spec", limit=100)
    assert str(caught.value).startswith(str(path)) and words in str(caught.value)


def test_open_lines_splits_overlong_lines_and_replaces_bad_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "LOG_LINE_CHARS", 4)
    path = tmp_path / "log"
    path.write_bytes(b"abcdefg\n\xffz\n")
    with files.open_lines(path, BadInput) as lines:
        assert list(lines) == ["abcd", "efg\n", "\ufffdz\n"]


def test_check_output_accepts_a_new_or_existing_file(tmp_path):
    (tmp_path / "old.txt").write_text("")
    assert files.check_output(tmp_path / "new.txt") == tmp_path / "new.txt"
    assert files.check_output(tmp_path / "old.txt") == tmp_path / "old.txt"
    assert files.check_output(tmp_path / "a" / "b" / "c.txt", parents=True)


@pytest.mark.parametrize(
    "target, words",
    [
        ("folder", "it is a directory; give a file name"),
        ("missing/out.txt", "the folder {tmp}/missing does not exist"),
        ("plain/out.txt", "{tmp}/plain is not a folder"),
        ("fifo", "it is a FIFO (named pipe), not a file to replace"),
        ("/proc/self/out.txt", "it lies on /proc (proc), a kernel filesystem"),
    ],
)
def test_check_output_names_what_is_wrong(tmp_path, target, words):
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain").write_text("")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(BadInput) as caught:
        files.check_output(tmp_path / target)
    assert words.format(tmp=tmp_path) in str(caught.value)


def test_check_output_refuses_a_folder_without_write_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):
        pytest.skip("running as root: permissions do not bind")
    with pytest.raises(BadInput, match=f"no permission to write in {locked}"):
        files.check_output(locked / "out.txt")


def test_check_output_dir(tmp_path):
    (tmp_path / "file").write_text("")
    assert files.check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    with pytest.raises(BadInput, match="it exists and is not a directory"):
        files.check_output_dir(tmp_path / "file")
    with pytest.raises(BadInput, match="is not a folder"):
        files.check_output_dir(tmp_path / "file" / "sub")


def test_staged_publishes_every_file_at_once_with_the_umask_mode(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    with files.staged() as stage:
        stage(tmp_path / "a.txt").write_text("new a")
        stage(tmp_path / "b.png").write_text("new b")
        assert (tmp_path / "a.txt").read_text() == "old a"  # nothing is replaced before the end
        assert stage.targets == [tmp_path / "a.txt", tmp_path / "b.png"]
    assert [(tmp_path / n).read_text() for n in ("a.txt", "b.png")] == ["new a", "new b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.png"]
    assert stat.S_IMODE((tmp_path / "b.png").stat().st_mode) == files.default_mode()


def test_staged_leaves_everything_as_it_was_when_the_block_fails(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    with pytest.raises(KeyError), files.staged() as stage:
        stage(tmp_path / "a.txt").write_text("new a")
        stage(tmp_path / "b.txt").write_text("new b")
        raise KeyError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    assert (tmp_path / "a.txt").read_text() == "old a"


def test_a_failed_write_names_the_target(tmp_path):
    with pytest.raises(CaffesiamError, match=f"cannot write {tmp_path / 'out.txt'}: No space"):
        with files.staged() as stage:
            tmp = stage(tmp_path / "out.txt")
            raise OSError(28, "No space left on device", str(tmp))
    assert list(tmp_path.iterdir()) == []


def test_staged_replaces_nothing_when_a_target_has_become_a_directory(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    with pytest.raises(BadInput, match=f"cannot write {tmp_path / 'b'}: it is a directory"):
        with files.staged() as stage:
            stage(tmp_path / "a.txt").write_text("new a")
            stage(tmp_path / "b").write_text("new b")
            (tmp_path / "b").mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b"]
    assert (tmp_path / "a.txt").read_text() == "old a"


def test_staged_joins_an_outer_staging_and_gives_each_target_its_mode(tmp_path):
    with files.staged() as outer:
        with files.staged(outer) as inner:
            assert inner is outer
            inner(tmp_path / "run.sh", mode=0o750).write_text("#!/bin/sh\n")
        assert not (tmp_path / "run.sh").exists()  # published with the outer block
    assert stat.S_IMODE((tmp_path / "run.sh").stat().st_mode) == 0o750


def holders(path) -> bool:
    """Whether some descriptor holds the flock of `path` (another open cannot take it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@pytest.mark.parametrize("directory", [False, True])
def test_a_temporary_is_a_hidden_sibling_held_by_its_writer(tmp_path, directory):
    tmp, hold = files.make_temporary(tmp_path / "out.png", directory=directory)
    try:
        assert tmp.parent == tmp_path and tmp.is_dir() == directory
        assert re.fullmatch(
            r"\.out\.png\.tmp-[a-z0-9_]{8}" + ("" if directory else r"\.png"), tmp.name
        )
        assert holders(tmp)
    finally:
        files.release_temporary(hold)
    assert not holders(tmp)


def test_dead_temporaries_are_cleared_and_live_ones_and_other_files_stay(tmp_path):
    dead_file, file_hold = files.make_temporary(tmp_path / "a.csv")
    dead_dir, dir_hold = files.make_temporary(tmp_path / "sweep", directory=True)
    (dead_dir / "inside").write_text("x")
    live, live_hold = files.make_temporary(tmp_path / "b.csv")
    files.release_temporary(file_hold)  # as a kill -9 would
    files.release_temporary(dir_hold)
    (tmp_path / ".notes.tmp-abcdefgh.txt").symlink_to("/etc/passwd")  # not a file we made
    os.mkfifo(tmp_path / ".pipe.tmp-abcdefgh")
    (tmp_path / "a.csv.tmp-abcdefgh").write_text("not hidden: not a temporary")
    try:
        with files.folder_lock(tmp_path):
            removed = files.clear_dead_temporaries(tmp_path)
        assert sorted(removed) == sorted([dead_file, dead_dir])
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [live.name, ".notes.tmp-abcdefgh.txt", ".pipe.tmp-abcdefgh", "a.csv.tmp-abcdefgh"]
        )
    finally:
        files.release_temporary(live_hold)


def test_this_processs_own_temporaries_are_never_probed(tmp_path, monkeypatch):
    """Over NFS a flock is a POSIX lock, which a probe from the holder's own process takes: a
    temporary this process holds must stay whatever a probe would say."""
    live, hold = files.make_temporary(tmp_path / "a.csv")
    monkeypatch.setattr(files, "_writer_gone", lambda path: True)
    try:
        with files.folder_lock(tmp_path):
            assert files.clear_dead_temporaries(tmp_path) == []
        assert live.exists()
    finally:
        files.release_temporary(hold)


def test_the_next_write_in_a_folder_clears_what_a_dead_writer_left(tmp_path):
    dead, hold = files.make_temporary(tmp_path / "report.json")
    files.release_temporary(hold)
    files.write_text_atomic(tmp_path / "other.txt", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt"]


def test_a_temporary_inside_a_held_temporary_directory_is_made_without_waiting(tmp_path):
    """The sweep directory being made is held by its flock: files are staged in it without the
    folder lock, which that flock would block."""
    folder, hold = files.make_temporary(tmp_path / "sweep", directory=True)
    try:
        files.write_text_atomic(folder / "sweep.json", "{}")
        assert (folder / "sweep.json").read_text() == "{}"
    finally:
        files.release_temporary(hold)


def test_write_text_atomic(tmp_path):
    files.write_text_atomic(tmp_path / "t.txt", "text\n")
    assert (tmp_path / "t.txt").read_text() == "text\n"


@pytest.mark.parametrize("name", ["pets", "pets.v2", "a_b-c+d", "x" * 100])
def test_plain_names_pass(name):
    assert files.safe_name(name) == name


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "-rf", "", "two\nlines", "x" * 101])
def test_names_that_are_not_one_plain_component_are_refused(name):
    with pytest.raises(BadInput, match=r"folder name .* is not a plain name"):
        files.safe_name(name, "folder name")


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"CAFFESIAM_CACHE": "/c", "XDG_CACHE_HOME": "/x"}, "/c"),
        ({"CAFFESIAM_CACHE": "", "XDG_CACHE_HOME": "/x"}, "/x/caffesiam"),
        ({"XDG_CACHE_HOME": "/x"}, "/x/caffesiam"),
        ({"XDG_CACHE_HOME": ""}, "/home/u/.cache/caffesiam"),
        ({}, "/home/u/.cache/caffesiam"),
    ],
)
def test_cache_dir_follows_the_setup_scripts_rule(monkeypatch, env, expected):
    """${CAFFESIAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caffesiam}: empty counts as unset."""
    for name in ("CAFFESIAM_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/home/u")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert files.cache_dir() == Path(expected)


def test_the_scripts_state_the_same_cache_rule():
    rule = "${CAFFESIAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caffesiam}"
    assert rule in (REPO / "scripts" / "install_caffe.sh").read_text()
    setup = (REPO / "scripts" / "setup.sh").read_text()  # sources install_caffe.sh: one rule
    assert ". scripts/install_caffe.sh" in setup and "CAFFESIAM_CACHE:-" not in setup


@pytest.mark.parametrize("name", ["out", "out\nwith a newline", "out $(x) 100%"])
def test_a_temporary_made_inside_a_held_temporary_folder_does_not_wait_on_itself(tmp_path, name):
    """A sweep's run directories are written inside its held temporary folder: staging there
    must neither lock that folder again (which would wait forever) nor clear it."""
    import signal

    folder, hold = files.make_temporary(tmp_path / name, directory=True)
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("make_temporary waited on its own lock"))
    signal.alarm(10)
    try:
        with files.staged() as stage:
            stage(folder / "net.prototxt").write_text("x")
    finally:
        signal.alarm(0)
        files.release_temporary(hold)
    assert (folder / "net.prototxt").read_text() == "x"
