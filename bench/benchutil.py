"""What the bench scripts share: running the installed caffesiam as a whole process; the patched
and the stock Caffe builds; siamese train nets on real or dummy data; the sgemm floor."""

import ctypes
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from caffesiam.caffe.glog import glog_env

TOOL = str(Path(sys.executable).parent / "caffesiam")


def tool(*args, cwd):
    """Run `caffesiam ARGS` in cwd; exit with its stderr if it fails; returns (result, seconds)."""
    started = time.time()
    done = subprocess.run(
        [TOOL, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=dict(os.environ, **glog_env(full_log=False)),
    )
    if done.returncode:
        sys.exit(f"caffesiam {' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}")
    return done, time.time() - started


REPO = Path(__file__).resolve().parents[1]
STOCK_VENV = REPO / "build" / "stock-venv"


def patched_caffe() -> Path:
    """This checkout's Caffe prefix (the one `make setup` linked into the venv), checked to hold
    the speed patches."""
    prefix = (Path(sys.prefix) / "caffe").resolve()
    if b"caffe_cpu_threads" not in (prefix / "lib" / "libcaffe.so").read_bytes():
        sys.exit(
            f"{prefix} is a stock build; run `make setup` without CAFFESIAM_CAFFE_PATCHES=stock"
        )
    return prefix


def stock_caffe() -> Path:
    """Stock Caffe (no speed patches), built by install_caffe.sh --stock beside this checkout's
    venv, in a venv of its own (build/stock-venv); cached after the first time (a build takes
    some 20 minutes on two cores)."""
    print("stock Caffe: install_caffe.sh --stock (cached after the first build) ...", flush=True)
    done = subprocess.run(
        [
            "bash",
            str(REPO / "scripts/install_caffe.sh"),
            "--stock",
            "--skip-system-packages",
            "--venv",
            str(STOCK_VENV),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"install_caffe.sh --stock failed:\n{done.stderr[-3000:]}")
    return (STOCK_VENV / "caffe").resolve()


GEMM_LAYERS = ("Convolution", "Deconvolution", "InnerProduct")


def siamese_train_net(work: Path, spec: Path, data: str) -> Path:
    """The siamese train net of a spec, reading Fashion-MNIST pairs (data "fashion", a database
    built once in work) or DummyData (data "dummy": uniform pixels, every pair similar)."""
    from google.protobuf import text_format

    from caffesiam.caffe.proto import caffe_pb2

    if data == "fashion" and not (work / "fashion_mnist_siamese_train_leveldb").exists():
        tool(
            "build-db",
            "fashion-mnist",
            "--out",
            work,
            "--pairs",
            40000,
            "--test-pairs",
            200,
            cwd=work,
        )
    text, _ = tool(
        "gen-net",
        spec,
        "--train-source",
        work / "fashion_mnist_siamese_train_leveldb",
        "--test-source",
        work / "fashion_mnist_siamese_test_leveldb",
        cwd=work,
    )
    pb = caffe_pb2()
    net = text_format.Parse(text.stdout, pb.NetParameter())
    if data == "dummy":
        import yaml

        d = yaml.safe_load(spec.read_text())["data"]
        layers = [layer for layer in net.layer if layer.type != "Data"]
        dummy = pb.LayerParameter(name="pair_data", type="DummyData", top=["pair_data", "sim"])
        dummy.dummy_data_param.shape.add(
            dim=[d["batch_size"], 2 * d["channels"], d["height"], d["width"]]
        )
        dummy.dummy_data_param.shape.add(dim=[d["batch_size"]])
        dummy.dummy_data_param.data_filler.add(type="uniform")
        dummy.dummy_data_param.data_filler.add(type="constant", value=1)
        del net.layer[:]
        net.layer.extend([dummy] + layers)
    path = work / f"{spec.stem}_{data}.prototxt"
    path.write_text(text_format.MessageToString(net))
    return path


def multiply_adds(net_path: Path) -> int:
    """Multiply-adds of one training iteration: per convolution, deconvolution and inner product,
    forward, the weight gradient, and the input gradient where Caffe computes one (not for a
    layer fed by data alone)."""
    from google.protobuf import text_format

    from caffesiam.caffe.proto import caffe_pb2
    from caffesiam.caffe.shapes import compute_shapes

    blobs, params, why = compute_shapes(str(net_path), ["TRAIN"])
    if blobs is None:
        sys.exit(f"{net_path}: {why}")
    net = text_format.Parse(net_path.read_text(), caffe_pb2().NetParameter())
    needs_gradient, total = set(), 0
    for layer in net.layer:
        if any(r.phase == 1 for r in layer.include):  # TEST-only layers
            continue
        learnable = layer.name in params and layer.type not in ("BatchNorm",)
        if learnable or any(b in needs_gradient for b in layer.bottom):
            needs_gradient.update(layer.top)
        if layer.type not in GEMM_LAYERS:
            continue
        weights = int(np.prod(params[layer.name][0]))
        if layer.type == "Deconvolution":
            bottom = blobs[layer.bottom[0]][0]
            forward = int(np.prod(bottom)) * weights // bottom[1]
        else:
            top = blobs[layer.top[0]][0]
            outputs = layer.convolution_param.num_output or layer.inner_product_param.num_output
            forward = int(np.prod(top)) * weights // outputs
        total += forward * (2 + (layer.bottom[0] in needs_gradient))
    return total


def sgemm_rate(threads: int, size=2048, reps=5) -> float:
    """GFLOP/s of the system OpenBLAS (the library Caffe links) on size^3 sgemm with this many
    threads, best of reps."""
    blas = ctypes.CDLL("libopenblas.so.0")
    blas.openblas_set_num_threads(threads)
    a, b = (np.random.default_rng(0).random((size, size), dtype=np.float32) for _ in range(2))
    c = np.empty((size, size), np.float32)
    ptr = lambda x: x.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        blas.cblas_sgemm(
            101,
            111,
            111,
            size,
            size,
            size,
            ctypes.c_float(1),
            ptr(a),
            size,
            ptr(b),
            size,
            ctypes.c_float(0),
            ptr(c),
            size,
        )  # row-major, no transposes
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def sgemm_floor_ms(net_path: Path, rate: float) -> tuple:
    """(floor ms, GFLOP) of one training iteration of the net at rate GFLOP/s."""
    flops = multiply_adds(net_path) * 2
    return flops / (rate * 1e9) * 1000, flops / 1e9
