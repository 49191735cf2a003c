"""Class: paths that leave their place. A name that becomes part of an output path is one plain
path component (files.safe_name), given or derived; nothing is written anywhere."""

import shutil

import pytest

from hostile.helpers import changes, refused, run, snapshot

pytestmark = [
    pytest.mark.caffe,
    pytest.mark.slow,
]  # one process per case: the battery as a whole is slow


@pytest.mark.parametrize(
    "name", ["../../x", "/tmp/abs", "a/b", ".hidden", "..", "", "-rf", "two\nlines", "x" * 101]
)
def test_bad_names_are_refused(name, tmp_path, images_dir):
    before = snapshot(tmp_path)  # '../../x' from --out would land in tmp_path
    refused(
        run("build-db", "images", images_dir, "--out", tmp_path / "a/b/out", "--name", name),
        2,
        "--name",
        "is not a plain name",
    )
    assert changes(before, tmp_path) == set()


def test_pair_list_name(tmp_path, pair_list):
    refused(
        run("build-db", "pairs", pair_list, "--out", tmp_path, "--name", "../escape"),
        2,
        "--name",
        "'../escape' is not a plain name",
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("source", ["images", "pairs"])
def test_derived_names_are_names_too(source, tmp_path, images_dir, pair_list):
    """A folder or list whose own name is not a plain name needs --name."""
    if source == "images":
        odd = tmp_path / "my photos"
        shutil.copytree(images_dir, odd)
    else:
        odd = tmp_path / "-list.txt"
        odd.write_text(pair_list.read_text().replace("images/", f"{images_dir}/"))
    refused(run("build-db", source, odd, "--out", tmp_path / "out"), 2, "--name", "pass --name")
    assert not (tmp_path / "out").exists()


def test_a_good_name_writes_inside_out_only(tmp_path, images_dir):
    done = run(
        "build-db",
        "images",
        images_dir,
        "--out",
        tmp_path / "out",
        "--name",
        "pets.v2",
        "--test-fraction",
        0,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "pets.v2_siamese_train_leveldb",
        "pets.v2_siamese_train_leveldb.json",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
