"""Class: data named by a path that holds something else. A symbolic link loop in an image
folder, and a net's --train-source or --test-source that exists but is no database (a file, a
FIFO, a folder of other things, the other backend): one line naming the path, exit 2, nothing
written."""

import os

import pytest
from conftest import REPO

from hostile.helpers import changes, refused, run, snapshot

pytestmark = [pytest.mark.caffe, pytest.mark.slow]  # one process per case


@pytest.fixture
def images(tmp_path, images_dir):
    """A copy of the two-class image folder that a case may add links to."""
    import shutil

    root = tmp_path / "images"
    shutil.copytree(images_dir, root)
    return root


@pytest.mark.parametrize(
    "where",
    ["an image", "a class folder", "two links in a ring"],
    ids=lambda w: w.replace(" ", "_"),
)
def test_a_symlink_loop_in_an_image_folder_is_bad_input(where, images, tmp_path):
    if where == "an image":
        loop = images / "cats" / "loop.png"
        loop.symlink_to("loop.png")
    elif where == "a class folder":
        loop = images / "birds"
        loop.symlink_to("birds")
    else:
        loop = images / "dogs" / "a.png"
        loop.symlink_to("b.png")
        (images / "dogs" / "b.png").symlink_to("a.png")
    before = snapshot(tmp_path)
    refused(
        run("build-db", "images", images, "--out", tmp_path / "out"),
        2,
        str(loop),
        "symbolic link",
    )
    assert changes(before, tmp_path) == set()


def _not_a_database(tmp_path, kind):
    path = tmp_path / "source_leveldb"
    if kind == "a file":
        path.write_text("pairs, I promise\n")
    elif kind == "a FIFO":
        os.mkfifo(path)
    elif kind == "a folder of other files":
        path.mkdir()
        (path / "notes.txt").write_text("not a database\n")
    else:  # an LMDB where the net reads LevelDB
        assert (
            run("build-db", "digits", "--backend", "lmdb", "--out", tmp_path / "l").returncode == 0
        )
        (tmp_path / "l" / "digits_siamese_train_lmdb").rename(path)
    return path


@pytest.mark.parametrize(
    "kind", ["a file", "a FIFO", "a folder of other files", "the other backend"]
)
@pytest.mark.parametrize("option", ["--train-source", "--test-source"])
def test_gen_net_refuses_a_source_that_is_no_database(option, kind, tmp_path):
    source = _not_a_database(tmp_path, kind)
    out = tmp_path / "net.prototxt"
    before = snapshot(tmp_path)
    line = refused(
        run("gen-net", REPO / "templates/lenet.yaml", option, source, "-o", out, timeout=60),
        2,
        str(source),
        "is not a leveldb database",
    )
    assert "pair_data" in line
    assert changes(before, tmp_path) == set()


def test_gen_net_takes_a_source_that_does_not_exist_yet(tmp_path):
    """A database may be built after its net: only a path that holds something else is refused."""
    done = run(
        "gen-net",
        REPO / "templates/lenet.yaml",
        "--train-source",
        tmp_path / "later_leveldb",
        "-o",
        tmp_path / "net.prototxt",
    )
    assert done.returncode == 0, done.stderr
