"""Caffe's CPU convolution, deconvolution, pooling, PReLU, BatchNorm and Scale against numpy, on
real Fashion-MNIST batches.

The installed Caffe (patched or stock) runs forward and backward through one layer; an
independent float64 numpy computation of Caffe's definitions (zero padding, CEIL-rounded pooling
windows, average divisors that count the padding, the first maximum of a window wins) must agree.
The speed patches batch several images per GEMM within a column budget and split images over
threads, so each case also runs with one image per batch and a few per batch, and in child
processes with 1 and 3 threads, every loop threaded however small (the other layers split planes
or channels over threads and sum each channel in a fixed order). Child processes also run every
check with float convolutions through oneDNN (CAFFE_CONV_DNNL: the layout it picks, blocked
where the channels fill blocks of 16 or the input has under 4, else NHWC; and each layout
forced). A stock build has no oneDNN; there those settings change nothing.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import FASHION


def conv(num_output, kernel, pad=(0, 0), stride=(1, 1), dilation=1, group=1, bias=True):
    return dict(
        num_output=num_output,
        kernel=kernel,
        pad=pad,
        stride=stride,
        dilation=dilation,
        group=group,
        bias=bias,
    )


def pool(method, kernel=None, pad=(0, 0), stride=(1, 1)):
    return dict(method=method, kernel=kernel, pad=pad, stride=stride)


# (name, layer type, geometry, input channels)
CASES = [
    ("lenet_conv1", "Convolution", conv(20, (5, 5)), 1),
    ("lenet_conv2", "Convolution", conv(50, (5, 5)), 20),
    ("blocks_of_16", "Convolution", conv(32, (3, 3), pad=(1, 1)), 16),
    ("strided_grouped", "Convolution", conv(6, (3, 3), pad=(1, 1), stride=(2, 2), group=2), 4),
    ("dilated_no_bias", "Convolution", conv(5, (3, 3), pad=(2, 2), dilation=2, bias=False), 3),
    ("one_by_one", "Convolution", conv(3, (1, 1)), 4),
    ("rectangular", "Convolution", conv(4, (2, 4), pad=(1, 0), stride=(1, 3)), 2),
    ("deconv", "Deconvolution", conv(4, (4, 4), pad=(1, 1), stride=(2, 2)), 3),
    ("max_2x2", "Pooling", pool("MAX", (2, 2), stride=(2, 2)), 3),
    ("max_3x3_pad", "Pooling", pool("MAX", (3, 3), pad=(1, 1), stride=(2, 2)), 3),
    ("max_3x3_stride1", "Pooling", pool("MAX", (3, 3)), 2),
    ("ave_3x3_pad", "Pooling", pool("AVE", (3, 3), pad=(1, 1), stride=(2, 2)), 3),
    ("ave_2x2", "Pooling", pool("AVE", (2, 2), stride=(2, 2)), 2),
    ("ave_global", "Pooling", pool("AVE"), 3),
    ("max_global", "Pooling", pool("MAX"), 3),
    ("prelu", "PReLU", {"channel_shared": False}, 3),
    ("prelu_shared", "PReLU", {"channel_shared": True}, 2),
    ("batch_norm", "BatchNorm", {"use_global_stats": False}, 3),
    ("batch_norm_global", "BatchNorm", {"use_global_stats": True}, 3),
    ("scale", "Scale", {}, 3),
]
IMAGES = 7  # odd: batches and thread shares come out uneven
# CAFFE_CONV_BATCH_BYTES: the default, one image per batch, about three images per batch.
BUDGETS = [None, "1", "60000"]


def layer_param_text(layer_type, g):
    if layer_type == "PReLU":
        return f"prelu_param {{ channel_shared: {str(g['channel_shared']).lower()} }}"
    if layer_type == "BatchNorm":
        return f"batch_norm_param {{ use_global_stats: {str(g['use_global_stats']).lower()} }}"
    if layer_type == "Scale":
        return "scale_param { bias_term: false }"
    if layer_type == "Pooling":
        if g["kernel"] is None:
            return f"pooling_param {{ pool: {g['method']} global_pooling: true }}"
        (kh, kw), (ph, pw), (sh, sw) = g["kernel"], g["pad"], g["stride"]
        return (
            f"pooling_param {{ pool: {g['method']} kernel_h: {kh} kernel_w: {kw} "
            f"pad_h: {ph} pad_w: {pw} stride_h: {sh} stride_w: {sw} }}"
        )
    (kh, kw), (ph, pw), (sh, sw) = g["kernel"], g["pad"], g["stride"]
    return (
        f"convolution_param {{ num_output: {g['num_output']} kernel_h: {kh} kernel_w: {kw} "
        f"pad_h: {ph} pad_w: {pw} stride_h: {sh} stride_w: {sw} dilation: {g['dilation']} "
        f"group: {g['group']} bias_term: {str(g['bias']).lower()} }}"
    )


def fashion_batch(channels, start):
    """IMAGES x channels x 28 x 28 in [0, 1]: consecutive real test images as the channels."""
    import gzip

    raw = gzip.open(FASHION / "t10k-images-idx3-ubyte.gz").read()
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
    return (images[start : start + IMAGES * channels] / 255.0).reshape(IMAGES, channels, 28, 28)


def taps(x_shape, g, out_shape):
    """Per kernel tap (i, j): the input rows and columns each output reads, clipped into the
    image, and a 0/1 mask of the outputs whose tap falls inside (zero padding elsewhere)."""
    (kh, kw), (ph, pw), (sh, sw), d = g["kernel"], g["pad"], g["stride"], g["dilation"]
    for i in range(kh):
        rows = np.arange(out_shape[0]) * sh - ph + i * d
        for j in range(kw):
            cols = np.arange(out_shape[1]) * sw - pw + j * d
            inside = ((rows >= 0) & (rows < x_shape[0]))[:, None] & (
                (cols >= 0) & (cols < x_shape[1])
            )
            yield (
                i,
                j,
                np.clip(rows, 0, x_shape[0] - 1)[:, None],
                np.clip(cols, 0, x_shape[1] - 1),
                inside.astype(float),
            )


def conv_output_shape(shape, g):
    return tuple(
        (size + 2 * p - (g["dilation"] * (k - 1) + 1)) // s + 1
        for size, k, p, s in zip(shape, g["kernel"], g["pad"], g["stride"])
    )


def conv_forward(x, w, g):
    """out[n, m, y, x] = sum over c, i, j of w[m, c, i, j] * x[n, c, y*s-p + i*d, x*s-p + j*d]."""
    groups, rows, cols = g["group"], w.shape[0] // g["group"], w.shape[1]
    out_shape = conv_output_shape(x.shape[2:], g)
    out = np.zeros((x.shape[0], w.shape[0]) + out_shape)
    for k in range(groups):
        o, c = slice(k * rows, (k + 1) * rows), slice(k * cols, (k + 1) * cols)
        for i, j, hi, wi, inside in taps(x.shape[2:], g, out_shape):
            out[:, o] += np.einsum("mc,ncyx->nmyx", w[o, :, i, j], x[:, c][:, :, hi, wi] * inside)
    return out


def conv_backward(x_shape, x, w, dy, g):
    """Gradients of conv_forward: with respect to the input (of shape x_shape) and the weights."""
    groups, rows, cols = g["group"], w.shape[0] // g["group"], w.shape[1]
    dx, dw = np.zeros(x_shape), np.zeros_like(w)
    for k in range(groups):
        o, c = slice(k * rows, (k + 1) * rows), slice(k * cols, (k + 1) * cols)
        for i, j, hi, wi, inside in taps(x_shape[2:], g, dy.shape[2:]):
            np.add.at(
                dx,
                (slice(None), c, hi, wi),
                np.einsum("mc,nmyx->ncyx", w[o, :, i, j], dy[:, o]) * inside,
            )
            if x is not None:
                dw[o, :, i, j] += np.einsum(
                    "nmyx,ncyx->mc", dy[:, o], x[:, c][:, :, hi, wi] * inside
                )
    return dx, dw


def conv_reference(layer_type, x, w, b, dy, g):
    """(top, bottom diff, weight diff, bias diff) of Caffe's Convolution or Deconvolution; a
    Deconvolution runs the convolution that maps its top to its bottom backwards."""
    if layer_type == "Convolution":
        top = conv_forward(x, w, g)
        dx, dw = conv_backward(x.shape, x, w, dy, g)
    else:
        out_shape = tuple(
            s * (size - 1) + g["dilation"] * (k - 1) + 1 - 2 * p
            for size, k, p, s in zip(x.shape[2:], g["kernel"], g["pad"], g["stride"])
        )
        top_shape = (x.shape[0], w.shape[1] * g["group"]) + out_shape
        top, _ = conv_backward(top_shape, None, w, x, g)
        dx = conv_forward(dy, w, g)
        _, dw = conv_backward(top_shape, dy, w, x, g)
    if b is None:
        return top, dx, dw, None
    return top + b[None, :, None, None], dx, dw, dy.sum(axis=(0, 2, 3))


def pool_reference(x, top_diff, method, kernel, pad, stride):
    """Caffe's pooling: CEIL-rounded output size, the last window starting inside the image (or
    its padding), max over the clipped window (first maximum wins), average dividing by the
    window clipped to the padded image."""
    n, c, h, w = x.shape
    (kh, kw), (ph, pw), (sh, sw) = kernel, pad, stride
    oh = -(-(h + 2 * ph - kh) // sh) + 1
    ow = -(-(w + 2 * pw - kw) // sw) + 1
    if ph or pw:
        oh -= (oh - 1) * sh >= h + ph
        ow -= (ow - 1) * sw >= w + pw
    top = np.zeros((n, c, oh, ow))
    grad = np.zeros_like(x)
    for y in range(oh):
        for xx in range(ow):
            h0, w0 = y * sh - ph, xx * sw - pw
            h1, w1 = min(h0 + kh, h), min(w0 + kw, w)
            window = x[:, :, max(h0, 0) : h1, max(w0, 0) : w1]
            diff = top_diff[:, :, y, xx]
            if method == "MAX":
                flat = window.reshape(n, c, -1)
                first = flat.argmax(axis=2)  # the first maximum in scan order, as Caffe's strict >
                top[:, :, y, xx] = flat.max(axis=2)
                rows, cols = np.unravel_index(first, window.shape[2:])
                np.add.at(
                    grad,
                    (
                        np.arange(n)[:, None],
                        np.arange(c)[None, :],
                        rows + max(h0, 0),
                        cols + max(w0, 0),
                    ),
                    diff,
                )
            else:
                size = (min(h0 + kh, h + ph) - h0) * (min(w0 + kw, w + pw) - w0)
                top[:, :, y, xx] = window.sum(axis=(2, 3)) / size
                grad[:, :, max(h0, 0) : h1, max(w0, 0) : w1] += (diff / size)[:, :, None, None]
    return top, grad


def channel_wise_reference(layer_type, g, x, dy, params):
    """(top, bottom diff, parameter diffs) of PReLU, BatchNorm (eps 1e-5) or Scale over axis 1."""
    axes = (0, 2, 3)
    if layer_type == "PReLU":
        slope = params[0] if g["channel_shared"] else params[0][None, :, None, None]
        top = np.maximum(x, 0) + slope * np.minimum(x, 0)
        dx = np.where(x > 0, dy, slope * dy)
        d_slope = (dy * x * (x <= 0)).sum(axis=None if g["channel_shared"] else axes)
        return top, dx, [np.reshape(d_slope, params[0].shape)]
    if layer_type == "Scale":
        factor = params[0][None, :, None, None]
        return x * factor, dy * factor, [(dy * x).sum(axis=axes)]
    if g["use_global_stats"]:
        mean, var = params[0] / params[2][0], params[1] / params[2][0]
    else:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    std = np.sqrt(var + 1e-5)[None, :, None, None]
    top = (x - mean[None, :, None, None]) / std
    if g["use_global_stats"]:
        dx = dy / std
    else:
        dx = (
            dy - dy.mean(axis=axes, keepdims=True) - (dy * top).mean(axis=axes, keepdims=True) * top
        ) / std
    # The running statistics are no parameters: their diffs stay zero.
    return top, dx, [np.zeros_like(p) for p in params]


def train_net(text: str):
    """pycaffe's TRAIN net of a prototxt text."""
    import caffe

    with tempfile.NamedTemporaryFile("w", suffix=".prototxt", delete=False) as f:
        f.write(text)
    try:
        return caffe.Net(f.name, caffe.TRAIN)
    finally:
        os.unlink(f.name)


def run_case(name, layer_type, g, channels):
    """Run one layer in Caffe: its results, and numpy's, as dicts of arrays."""

    rng = np.random.default_rng(sum(map(ord, name)))
    x = fashion_batch(channels, start=channels * 100)
    spec = (
        f'name: "{name}" force_backward: true\n'
        f'layer {{ name: "data" type: "Input" top: "data" '
        f"input_param {{ shape {{ dim: {IMAGES} dim: {channels} dim: 28 dim: 28 }} }} }}\n"
        f'layer {{ name: "{name}" type: "{layer_type}" bottom: "data" top: "out" '
        f"{layer_param_text(layer_type, g)} }}\n"
    )
    net = train_net(spec)
    layer = net.layers[1]
    for blob in layer.blobs:
        blob.data[...] = rng.standard_normal(blob.data.shape) * 0.3
        blob.diff[...] = 0
    if layer_type == "BatchNorm":  # running sums of the variance, and their positive weight
        layer.blobs[1].data[...] = np.abs(layer.blobs[1].data) + 0.1
        layer.blobs[2].data[...] = 1.5
    params = [blob.data.astype(np.float64) for blob in layer.blobs]
    net.blobs["data"].data[...] = x
    top = net.forward()["out"].copy()
    net.blobs["out"].diff[...] = rng.standard_normal(top.shape)
    net.backward()
    got = {"top": top, "bottom_diff": net.blobs["data"].diff.copy()}
    got.update({f"param{i}_diff": blob.diff.copy() for i, blob in enumerate(layer.blobs)})
    # numpy in float64, from the float32 values Caffe saw.
    x, dy = net.blobs["data"].data.astype(np.float64), net.blobs["out"].diff.astype(np.float64)
    if layer_type in ("PReLU", "BatchNorm", "Scale"):
        top, dx, param_diffs = channel_wise_reference(layer_type, g, x, dy, params)
        want = {"top": top, "bottom_diff": dx}
        want.update({f"param{i}_diff": d for i, d in enumerate(param_diffs)})
        return got, want
    if layer_type == "Pooling":
        window = (
            ((28, 28), (0, 0), (1, 1))
            if g["kernel"] is None
            else (g["kernel"], g["pad"], g["stride"])
        )
        top, dx = pool_reference(x, dy, g["method"], *window)
        return got, {"top": top, "bottom_diff": dx}
    w = layer.blobs[0].data.astype(np.float64)
    b = layer.blobs[1].data.astype(np.float64) if g["bias"] else None
    top, dx, dw, db = conv_reference(layer_type, x, w, b, dy, g)
    want = {"top": top, "bottom_diff": dx, "param0_diff": dw}
    if b is not None:
        want["param1_diff"] = db
    return got, want


def check_case(case, budget):
    if budget is None:
        os.environ.pop("CAFFE_CONV_BATCH_BYTES", None)
    else:
        os.environ["CAFFE_CONV_BATCH_BYTES"] = budget
    try:
        got, want = run_case(*case)
    finally:
        os.environ.pop("CAFFE_CONV_BATCH_BYTES", None)
    assert got.keys() == want.keys()
    for key in want:
        scale = np.abs(want[key]).max()
        np.testing.assert_allclose(
            got[key],
            want[key],
            rtol=1e-4,
            atol=1e-5 * scale,
            err_msg=f"{case[0]}, budget {budget}: {key}",
        )


@pytest.mark.parametrize("budget", BUDGETS, ids=["default-budget", "one-image", "few-images"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_numpy(case, budget):
    check_case(case, budget)


CHILD_SETTINGS = {
    "1-thread": {"OMP_NUM_THREADS": "1", "CAFFE_CPU_MIN_THREADED_WORK": "0"},
    "3-threads": {"OMP_NUM_THREADS": "3", "CAFFE_CPU_MIN_THREADED_WORK": "0"},
    "onednn": {"CAFFE_CONV_DNNL": "1"},
    "onednn-nhwc": {"CAFFE_CONV_DNNL": "nhwc"},
    "onednn-blocked": {"CAFFE_CONV_DNNL": "blocked"},
}


@pytest.mark.parametrize("setting", CHILD_SETTINGS, ids=list(CHILD_SETTINGS))
def test_layers_match_numpy_in_other_settings(setting):
    """The same checks in a child process: Caffe reads its threads and its convolution settings
    once, at load."""
    done = subprocess.run(
        [sys.executable, __file__],
        capture_output=True,
        text=True,
        env=dict(os.environ, **CHILD_SETTINGS[setting]),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_the_patched_build_runs_convolutions_through_onednn_when_asked():
    """The oneDNN settings above test something only where libcaffe links oneDNN: every patched
    CPU build does."""
    libcaffe = Path(sys.prefix) / "caffe" / "lib" / "libcaffe.so"
    if b"caffe_cpu_threads" not in libcaffe.read_bytes():
        pytest.skip("a stock build: no speed patches, no oneDNN")
    linked = subprocess.run(["ldd", str(libcaffe)], capture_output=True, text=True).stdout
    assert "libdnnl.so" in linked


def test_shared_convolution_weights_sum_the_gradients_of_both_towers():
    """A siamese pair of Convolution layers sharing their weights by name: the shared gradient
    is the sum of what numpy gives for each tower (each layer adds to it; none overwrites)."""

    g = conv(50, (5, 5))
    x_a, x_b = fashion_batch(20, start=0), fashion_batch(20, start=5000)
    tower = (
        'layer {{ name: "conv{s}" type: "Convolution" bottom: "data{s}" top: "out{s}" '
        'param {{ name: "w" }} param {{ name: "b" }} {conv} }}\n'
    )
    spec = 'name: "pair" force_backward: true\n' + "".join(
        f'layer {{ name: "in{s}" type: "Input" top: "data{s}" '
        f"input_param {{ shape {{ dim: {IMAGES} dim: 20 dim: 28 dim: 28 }} }} }}\n"
        + tower.format(s=s, conv=layer_param_text("Convolution", g))
        for s in ("", "_p")
    )
    net = train_net(spec)
    rng = np.random.default_rng(7)
    weights, bias = net.params["conv"]
    weights.data[...] = rng.standard_normal(weights.data.shape) * 0.3
    bias.data[...] = rng.standard_normal(bias.data.shape) * 0.3
    net.blobs["data"].data[...], net.blobs["data_p"].data[...] = x_a, x_b
    net.forward()
    for s in ("", "_p"):
        net.blobs["out" + s].diff[...] = rng.standard_normal(net.blobs["out" + s].diff.shape)
    net.backward()
    w, b = weights.data.astype(np.float64), bias.data.astype(np.float64)
    want_dw, want_db = 0, 0
    for s in ("", "_p"):
        x = net.blobs["data" + s].data.astype(np.float64)
        dy = net.blobs["out" + s].diff.astype(np.float64)
        _, _, dw, db = conv_reference("Convolution", x, w, b, dy, g)
        want_dw, want_db = want_dw + dw, want_db + db
    for got, want in ((weights.diff, want_dw), (bias.diff, want_db)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


if __name__ == "__main__":
    for budget in BUDGETS:
        for case in CASES:
            check_case(case, budget)
    test_shared_convolution_weights_sum_the_gradients_of_both_towers()
    print(f"{len(CASES) * len(BUDGETS) + 1} checks passed")
