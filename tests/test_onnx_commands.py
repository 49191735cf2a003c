"""caffesiam export, compare and embed --onnx as a user runs them, against pycaffe computed here."""

import json

import numpy as np
import onnx
import pytest
from conftest import REPO, run_tool
from PIL import Image

pytestmark = [pytest.mark.caffe, pytest.mark.slow]

SCALE = 0.00390625


def _ok(done):
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def lenet(tmp_path_factory, fashion_test):
    """lenet_relu's deploy and train nets, seeded weights, an evaluation report, an image folder."""
    import caffe

    work = tmp_path_factory.mktemp("onnxcli")
    spec = REPO / "templates/lenet_relu.yaml"
    _ok(run_tool("gen-net", spec, "--deploy", "-o", work / "deploy.prototxt"))
    _ok(run_tool("gen-net", spec, "-o", work / "net.prototxt"))
    caffe.set_random_seed(3)
    caffe.Net(str(work / "deploy.prototxt"), caffe.TEST).save(str(work / "w.caffemodel"))
    report = {"best_threshold_all_pairs": 0.35, "best_threshold_accuracy": 0.9, "auc": 0.95}
    (work / "evaluation.json").write_text(json.dumps(report))
    images, labels = fashion_test
    for i in range(12):
        folder = work / "images" / f"class{labels[i]}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(folder / f"{i}.png")
    return work


def export(work, *extra):
    return run_tool(
        "export", work / "deploy.prototxt", work / "w.caffemodel", "-o", work / "t.onnx", *extra
    )


def pycaffe_features(work, images: np.ndarray) -> np.ndarray:
    import caffe

    net = caffe.Net(str(work / "deploy.prototxt"), str(work / "w.caffemodel"), caffe.TEST)
    x = images.astype(np.float32)[:, None] * np.float32(SCALE)
    net.blobs["data"].reshape(*x.shape)
    net.blobs["data"].data[...] = x
    net.forward()
    return net.blobs["feat"].data.copy()


def test_export_stores_the_scale_loss_margin_and_threshold(lenet):
    done = _ok(
        export(
            lenet, "--train-net", lenet / "net.prototxt", "--evaluation", lenet / "evaluation.json"
        )
    )
    assert done.stdout.startswith(
        f"wrote {lenet / 't.onnx'}: input 'data' N x 1x28x28, output 'feat'"
    )
    model = onnx.load(lenet / "t.onnx")
    onnx.checker.check_model(model, full_check=True)
    props = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert props["caffesiam.input_scale"] == SCALE
    assert props["caffesiam.feature_blob"] == "feat"
    assert (props["caffesiam.loss"], props["caffesiam.margin"]) == ("contrastive", 1.0)
    assert (props["caffesiam.threshold"], props["caffesiam.threshold_accuracy"]) == (0.35, 0.9)
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "batch"


def test_compare_gives_pycaffes_distance_and_the_verdict_at_the_threshold(lenet, fashion_test):
    _ok(
        export(
            lenet, "--train-net", lenet / "net.prototxt", "--evaluation", lenet / "evaluation.json"
        )
    )
    a, b = sorted((lenet / "images").rglob("*.png"))[:2]
    features = pycaffe_features(lenet, np.stack([np.asarray(Image.open(p)) for p in (a, b)]))
    distance = float(np.linalg.norm(features[0] - features[1]))
    stored = _ok(run_tool("compare", a, b, "--onnx", lenet / "t.onnx")).stdout
    verdict = "same" if distance < 0.35 else "different"
    assert stored == f"distance {distance:.4f}: {verdict} (threshold 0.35)\n"
    flipped = 2 * distance if verdict == "different" else distance / 2
    other = _ok(run_tool("compare", a, b, "--onnx", lenet / "t.onnx", "--threshold", flipped))
    assert ("same" if verdict == "different" else "different") in other.stdout


def test_compare_without_a_threshold_is_one_line_and_exit_2(lenet):
    _ok(export(lenet))
    a, b = sorted((lenet / "images").rglob("*.png"))[:2]
    done = run_tool("compare", a, b, "--onnx", lenet / "t.onnx")
    assert done.returncode == 2
    assert "stores no threshold" in done.stderr and len(done.stderr.splitlines()) == 1


def test_embed_onnx_gives_the_features_embed_gives_with_pycaffe(lenet):
    _ok(export(lenet, "--train-net", lenet / "net.prototxt"))
    _ok(
        run_tool(
            "embed", "--onnx", lenet / "t.onnx", "--images", lenet / "images", "-o", lenet / "o.npz"
        )
    )
    model = ["--model", lenet / "deploy.prototxt", "--weights", lenet / "w.caffemodel"]
    _ok(run_tool("embed", *model, "--images", lenet / "images", "-o", lenet / "c.npz"))
    ours, theirs = np.load(lenet / "o.npz"), np.load(lenet / "c.npz")
    np.testing.assert_array_equal(ours["labels"], theirs["labels"])
    scale = np.abs(theirs["features"]).max()
    assert np.abs(ours["features"] - theirs["features"]).max() <= 1e-5 * scale


def test_embed_takes_onnx_or_a_caffe_model_not_both(lenet):
    done = run_tool(
        "embed",
        "--onnx",
        lenet / "t.onnx",
        "--model",
        lenet / "deploy.prototxt",
        "--images",
        lenet / "images",
        "-o",
        lenet / "x.npz",
    )
    assert done.returncode == 2 and "--onnx alone" in done.stderr


def test_an_unconvertible_layer_is_named_exit_2_and_nothing_is_written(lenet):
    deploy = lenet / "deploy.prototxt"
    odd = lenet / "odd.prototxt"
    odd.write_text(
        deploy.read_text() + 'layer { name: "up" type: "Deconvolution" bottom: "feat" top: "up" '
        "convolution_param { num_output: 1 kernel_size: 1 } }\n"
    )
    out = lenet / "odd.onnx"
    done = run_tool("export", odd, lenet / "w.caffemodel", "-o", out, "--blob", "up")
    assert done.returncode == 2
    assert done.stderr.startswith("caffesiam: error: layer 'up' (Deconvolution): no ONNX converter")
    assert len(done.stderr.splitlines()) == 1
    assert not out.exists() and not list(lenet.glob(".odd.onnx*"))


def test_weights_that_are_no_caffemodel_are_one_line_and_exit_2(lenet):
    out = lenet / "bad.onnx"
    done = run_tool("export", lenet / "deploy.prototxt", lenet / "net.prototxt", "-o", out)
    assert done.returncode == 2, done.stderr
    assert "not a Caffe .caffemodel" in done.stderr and len(done.stderr.splitlines()) == 1
    assert not out.exists()
