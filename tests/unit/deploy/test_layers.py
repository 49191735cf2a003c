"""Single-layer nets exported and run by onnxruntime against numpy transcriptions of Caffe's
Forward_cpu loops (pooling, LRN, BatchNorm, Power), and the layers the export refuses."""

import math

import numpy as np
import pytest

from caffesiam.caffe.netload import parse_net
from caffesiam.deploy.export import feature_blob, tower_to_onnx
from caffesiam.deploy.layers import caffe_pooled_size
from caffesiam.deploy.metadata import TowerMetadata
from caffesiam.errors import ExportError

ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.caffe  # caffe_pb2 parses the nets

RNG = np.random.default_rng(0)


def one_layer_net(shape, layer: str) -> str:
    dims = " ".join(f"dim: {d}" for d in shape)
    return (
        f'layer {{ name: "data" type: "Input" top: "data" input_param {{ shape {{ {dims} }} }} }}\n'
        f'layer {{ name: "out" bottom: "data" top: "out" {layer} }}'
    )


def export(text: str, weights=None):
    net = parse_net(text)
    meta = TowerMetadata(1.0, feature_blob=feature_blob(net.layer, None, "test"))
    return tower_to_onnx(net, weights or {}, meta)


def run(text: str, x: np.ndarray, weights=None) -> np.ndarray:
    model = export(text, weights)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"data": x.astype(np.float32)})[0]


def caffe_pool(x, kernel, stride, pad, method, ceil=True):
    """PoolingLayer::Reshape and Forward_cpu, loop for loop (square kernels)."""
    n, c, height, width = x.shape
    rounding = math.ceil if ceil else math.floor

    def pooled(size):
        out = int(rounding((size + 2 * pad - kernel) / stride)) + 1
        if pad and (out - 1) * stride >= size + pad:
            out -= 1
        return out

    ph_n, pw_n = pooled(height), pooled(width)
    y = np.zeros((n, c, ph_n, pw_n), np.float64)
    for ph in range(ph_n):
        for pw in range(pw_n):
            hs, ws = ph * stride - pad, pw * stride - pad
            if method == "MAX":
                he, we = min(hs + kernel, height), min(ws + kernel, width)
                hs, ws = max(hs, 0), max(ws, 0)
                y[:, :, ph, pw] = x[:, :, hs:he, ws:we].max(axis=(2, 3))
            else:
                he, we = min(hs + kernel, height + pad), min(ws + kernel, width + pad)
                size = (he - hs) * (we - ws)
                hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, height), min(we, width)
                y[:, :, ph, pw] = x[:, :, hs:he, ws:we].sum(axis=(2, 3)) / size
    return y


GEOMETRIES = [
    (size, kernel, stride, pad)
    for size in (6, 7, 12)
    for kernel in (2, 3)
    for stride in (1, 2, 3)
    for pad in range(kernel)
    if (math.ceil((size + 2 * pad - kernel) / stride)) * stride - pad < size  # no empty window
]


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("ceil", [True, False], ids=["ceil", "floor"])
def test_pooling_matches_caffes_loops_for_every_small_geometry(method, ceil):
    x = RNG.normal(size=(2, 3, 13, 13))
    for size, kernel, stride, pad in GEOMETRIES:
        part = x[:, :, :size, :size]
        rounding = "" if ceil else "round_mode: FLOOR"
        layer = (
            f'type: "Pooling" pooling_param {{ pool: {method} kernel_size: {kernel} '
            f"stride: {stride} pad: {pad} {rounding} }}"
        )
        got = run(one_layer_net(part.shape, layer), part)
        want = caffe_pool(part, kernel, stride, pad, method, ceil)
        assert got.shape == want.shape, (size, kernel, stride, pad)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=str((size, kernel)))


def test_caffe_rounds_pooled_sizes_up_and_never_starts_a_window_in_the_padding():
    assert caffe_pooled_size(24, 3, 0, 2, ceil=True) == 12  # floor rounding: 11
    assert caffe_pooled_size(24, 3, 0, 2, ceil=False) == 11
    assert (
        caffe_pooled_size(7, 2, 1, 2, ceil=True) == 4
    )  # ceil gives 5; the 5th starts at 8 >= 7 + 1


def test_ave_pooling_divides_the_clipped_border_window_by_its_clipped_size():
    x = np.ones((1, 1, 12, 12))
    layer = 'type: "Pooling" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }'
    got = run(one_layer_net(x.shape, layer), x)
    assert got.shape == (1, 1, 7, 7)
    # row 0 covers one padding row of three: 2/3; the last covers input row 11 and one
    # padding row only, and Caffe divides it by 2, not by 3
    assert got[0, 0, 0, 3] == pytest.approx(2 / 3)
    assert got[0, 0, 6, 3] == pytest.approx(1 / 2)
    assert got[0, 0, 3, 3] == pytest.approx(1.0)


def test_global_pooling_is_one_value_per_channel():
    x = RNG.normal(size=(2, 4, 5, 7))
    for method, want in (("MAX", x.max(axis=(2, 3))), ("AVE", x.mean(axis=(2, 3)))):
        layer = f'type: "Pooling" pooling_param {{ pool: {method} global_pooling: true }}'
        got = run(one_layer_net(x.shape, layer), x)
        np.testing.assert_allclose(got[:, :, 0, 0], want, rtol=1e-5)


def caffe_lrn_across(x, size, alpha, beta, k):
    """LRNLayer::CrossChannelForward_cpu: scale = k + alpha / size * sum of squares."""
    pad = (size - 1) // 2
    squares = np.pad(x**2, ((0, 0), (pad, pad), (0, 0), (0, 0)))
    sums = np.stack([squares[:, c : c + size].sum(axis=1) for c in range(x.shape[1])], axis=1)
    return x * (k + alpha / size * sums) ** -beta


def caffe_lrn_within(x, size, alpha, beta):
    """LRNLayer's WITHIN_CHANNEL net: x * (1 + alpha * avgpool(x^2, padded, / size^2))^-beta."""
    pad = (size - 1) // 2
    squares = np.pad(x**2, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    height, width = x.shape[2:]
    means = np.zeros_like(x)
    for h in range(height):
        for w in range(width):
            means[:, :, h, w] = squares[:, :, h : h + size, w : w + size].sum(axis=(2, 3))
    return x * (1 + alpha * means / size**2) ** -beta


def test_lrn_across_channels_divides_alpha_by_the_size_as_caffe_does():
    x = RNG.normal(size=(2, 7, 4, 4)) * 3
    layer = 'type: "LRN" lrn_param { local_size: 5 alpha: 0.5 beta: 0.75 k: 2 }'
    got = run(one_layer_net(x.shape, layer), x)
    np.testing.assert_allclose(got, caffe_lrn_across(x, 5, 0.5, 0.75, 2), rtol=1e-5)


def test_lrn_within_channel_matches_caffes_composed_net():
    x = RNG.normal(size=(2, 3, 6, 5)) * 3
    layer = (
        'type: "LRN" lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 5 '
        "norm_region: WITHIN_CHANNEL }"
    )
    got = run(one_layer_net(x.shape, layer), x)  # k is unused: Caffe's Power shift is 1
    np.testing.assert_allclose(got, caffe_lrn_within(x, 3, 0.5, 0.75), rtol=1e-5)


@pytest.mark.parametrize("factor", [4.0, 0.0])
def test_batch_norm_divides_its_statistics_by_the_moving_average_factor(factor):
    x = RNG.normal(size=(3, 2, 4, 4))
    mean, var = np.array([0.5, -1.0]), np.array([2.0, 0.5])
    blobs = [mean.astype(np.float32), var.astype(np.float32), np.array([factor], np.float32)]
    got = run(one_layer_net(x.shape, 'type: "BatchNorm"'), x, {"out": blobs})
    scale = 0 if factor == 0 else 1 / factor
    mean, var = (mean * scale).reshape(1, 2, 1, 1), (var * scale).reshape(1, 2, 1, 1)
    np.testing.assert_allclose(got, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "power, scale, shift",
    [(2, 0.5, 1), (-0.5, 1, 3), (1, -2, 0.5), (0, 3, 2), (3, 0, 2)],
)
def test_power_is_shift_plus_scale_x_to_the_power(power, scale, shift):
    x = RNG.uniform(0.1, 2, size=(2, 5))
    layer = f'type: "Power" power_param {{ power: {power} scale: {scale} shift: {shift} }}'
    got = run(one_layer_net(x.shape, layer), x)
    np.testing.assert_allclose(got, (shift + scale * x) ** power, rtol=1e-5)


def test_the_batch_axis_is_dynamic():
    model = export(one_layer_net((1, 3, 4, 4), 'type: "ReLU"'))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        x = RNG.normal(size=(batch, 3, 4, 4)).astype(np.float32)
        np.testing.assert_array_equal(session.run(None, {"data": x})[0], np.maximum(x, 0))


@pytest.mark.parametrize(
    "layer, message",
    [
        ('type: "Deconvolution"', "layer 'out' (Deconvolution): no ONNX converter"),
        (
            'type: "Pooling" pooling_param { pool: STOCHASTIC kernel_size: 2 }',
            "layer 'out' (Pooling): STOCHASTIC pooling",
        ),
        (
            'type: "BatchNorm" batch_norm_param { use_global_stats: false }',
            "layer 'out' (BatchNorm): use_global_stats: false",
        ),
        (
            'type: "Eltwise" eltwise_param { coeff: 1 coeff: 2 coeff: 3 }',
            "layer 'out' (Eltwise): 3 coefficients for 1 bottoms",
        ),
        (
            'type: "Pooling" pooling_param { pool: MAX kernel_size: 1 stride: 2 }',
            "layer 'out' (Pooling): its last window lies wholly outside the input",
        ),
    ],
)
def test_what_cannot_be_converted_is_an_export_error_naming_the_layer(layer, message):
    with pytest.raises(ExportError) as caught:
        export(one_layer_net((1, 2, 4, 4), layer))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
