"""draw.labels: the one-line summary and colour group of each layer."""

import pytest

from caffesiam.draw.labels import category, dims, summary

pytestmark = pytest.mark.caffe


def layer(text: str):
    from caffesiam.caffe.proto import caffe_pb2, parse_text

    return parse_text(text, caffe_pb2().LayerParameter(), "layer")


@pytest.mark.parametrize(
    "text, line",
    [
        (
            'type: "Convolution" '
            "convolution_param { num_output: 8 kernel_size: 3 stride: 2 pad: 1 }",
            "kernel 3×3  stride 2  pad 1  → 8",
        ),
        (
            'type: "Deconvolution" convolution_param { num_output: 4 kernel_h: 3 kernel_w: 5 '
            "stride_h: 1 stride_w: 2 group: 2 }",
            "kernel 3×5  stride 1×2  pad 0  → 4  group 2",
        ),
        (
            'type: "Convolution" convolution_param { num_output: 2 kernel_size: 3 kernel_size: 1 }',
            "kernel 3×1  stride 1  pad 0  → 2",
        ),
        ('type: "Pooling" pooling_param { pool: AVE kernel_size: 3 }', "AVE  kernel 3×3  stride 1"),
        ('type: "Pooling" pooling_param { pool: MAX global_pooling: true }', "MAX global"),
        ('type: "InnerProduct" inner_product_param { num_output: 10 }', "→ 10"),
        ('type: "ContrastiveLoss" contrastive_loss_param { margin: 2.5 }', "margin 2.5"),
        (
            'type: "ContrastiveLoss" contrastive_loss_param { legacy_version: true }',
            "margin 1  legacy",
        ),
        ('type: "Data" data_param { batch_size: 64 }', "batch 64"),
        ('type: "ImageData" image_data_param { batch_size: 8 }', "batch 8"),
        (
            'type: "Input" input_param { shape { dim: 1 dim: 3 } shape { dim: 2 } }',
            "1×3, 2",
        ),
        (
            'type: "Slice" slice_param { slice_dim: 1 slice_point: 1 slice_point: 2 }',
            "axis 1 at 1, 2",
        ),
        ('type: "Slice" slice_param { axis: 2 }', "axis 2"),
        ('type: "Dropout" dropout_param { dropout_ratio: 0.25 }', "0.25"),
        ('type: "LRN" lrn_param { local_size: 3 }', "size 3"),
        ('type: "Eltwise" eltwise_param { operation: SUM coeff: 1 coeff: -1 }', "SUM  coeff 1, -1"),
        ('type: "Eltwise" eltwise_param { operation: PROD }', "PROD"),
        ('type: "Reduction" reduction_param { operation: SUMSQ axis: 1 }', "SUMSQ axis 1"),
        ('type: "Reduction" reduction_param { operation: MEAN coeff: 0.5 }', "MEAN axis 0  ×0.5"),
        ('type: "Power" power_param { scale: -1 shift: 1 }', "1 - x"),
        ('type: "Power" power_param { shift: 1e-12 power: 0.5 }', "(1e-12 + x)^0.5"),
        ('type: "Power" power_param { scale: 0.4 }', "0.4·x"),
        ('type: "Exp" exp_param { scale: -0.554 }', "e^(-0.554·x)"),
        ('type: "Exp" exp_param { base: 2 shift: 1 }', "2^(1 + x)"),
        ('type: "ReLU"', ""),
    ],
)
def test_summaries(text, line):
    assert summary(layer(text)) == line


@pytest.mark.parametrize(
    "text, group",
    [
        ('type: "Data"', "data"),
        ('type: "HDF5Data"', "data"),
        ('type: "Input"', "data"),
        ('type: "Slice"', "data"),
        ('type: "Deconvolution"', "conv"),
        ('type: "Pooling"', "pool"),
        ('type: "InnerProduct"', "ip"),
        ('type: "SoftmaxWithLoss"', "loss"),
        ('type: "Accuracy"', "loss"),
        ('type: "Reduction" loss_weight: 1', "loss"),
        ('type: "Reduction"', "other"),
        ('type: "ReLU"', "other"),
    ],
)
def test_categories(text, group):
    assert category(layer(text)) == group


def test_dims():
    assert dims([64, 1, 28, 28]) == "64×1×28×28"
    assert dims([]) == ""
