"""Features per second of the demo tower (templates/lenet_relu.yaml, deploy), batch 256, on
pycaffe and on its ONNX export in onnxruntime, side by side in one process; prints the ratio.

Weights: the ones `make demo` trained when it has run, else seeded random ones (the speed is
the same). Images: the Fashion-MNIST test split. Both runtimes use every core they find.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
REPO = Path(__file__).resolve().parents[1]
CAFFESIAM = Path(sys.executable).parent / "caffesiam"
BATCH = 256
BATCHES = 20  # per timed round
ROUNDS = 5


def _tool(*args):
    done = subprocess.run([str(CAFFESIAM), *map(str, args)], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"caffesiam {' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}")


def tower(work: Path) -> tuple[Path, Path, Path]:
    """(deploy, weights, exported .onnx) of the demo tower."""
    import caffe

    deploy = work / "deploy.prototxt"
    _tool("gen-net", REPO / "templates/lenet_relu.yaml", "--deploy", "-o", deploy)
    trained = sorted((REPO / "demo/snapshots").glob("lenet_relu_iter_*.caffemodel"))
    weights = trained[-1] if trained else work / "random.caffemodel"
    if not trained:
        caffe.set_random_seed(0)
        caffe.Net(str(deploy), caffe.TEST).save(str(weights))
    _tool("export", deploy, weights, "-o", work / "tower.onnx")
    return deploy, weights, work / "tower.onnx"


def images_per_second(forward, batches) -> float:
    started = time.perf_counter()
    for x in batches:
        forward(x)
    return BATCH * len(batches) / (time.perf_counter() - started)


def main():
    import caffe
    import onnxruntime

    from caffesiam.data.sources.idx import load_idx_dir
    from caffesiam.data.sources.mnist import FASHION_MNIST_DIR

    images = load_idx_dir(FASHION_MNIST_DIR, "test").images[: BATCH * BATCHES]
    batches = [x for x in (images.astype(np.float32) / 256).reshape(BATCHES, BATCH, 1, 28, 28)]
    with tempfile.TemporaryDirectory() as tmp:
        deploy, weights, onnx_path = tower(Path(tmp))
        net = caffe.Net(str(deploy), str(weights), caffe.TEST)
        net.blobs["data"].reshape(BATCH, 1, 28, 28)
        net.reshape()

        def pycaffe(x):
            net.blobs["data"].data[...] = x
            net.forward()

        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        runtimes = {"pycaffe": pycaffe, "onnxruntime": lambda x: session.run(None, {"data": x})}
        for forward in runtimes.values():  # warm up: allocation, thread pools
            forward(batches[0])
        rates = {name: [] for name in runtimes}
        for _ in range(ROUNDS):  # interleaved, so that a busy moment hits both
            for name, forward in runtimes.items():
                rates[name].append(images_per_second(forward, batches))
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(f"demo tower {weights.name}, batch {BATCH}, {os.cpu_count()} cores, median of {ROUNDS}:")
    for name, rate in median.items():
        print(f"  {name:>12}: {rate:>9,.0f} images/s")
    print(f"  onnxruntime / pycaffe: {median['onnxruntime'] / median['pycaffe']:.2f}x")


if __name__ == "__main__":
    main()
