"""GPU peer: `caffe time -gpu 0` against PyTorch on the same GPU, side by side, as ratios.

Two siamese nets at batch 64, each as caffesiam gen-net builds it (two towers with shared
weights, Slice, ContrastiveLoss; sim = 1 means same class, Caffe's convention), fed by an Input
layer so no database is read: the demo's LeNet-ReLU tower (templates/lenet_relu.yaml, 28x28x1)
and the colour BatchNorm tower (templates/color_bn.yaml) at 64x64x3. Caffe runs with its cuDNN
engine (a cuDNN build) and with its own CAFFE engine; PyTorch runs the same layers in FP32
(TF32 off, as Caffe's patch keeps cuDNN at FMA math). Both time forward plus backward, no solver
update, after a warm-up, rounds alternating; medians reported. Not in `make bench` (needs a
GPU): scripts/offline_gpu_check.sh bench runs it on a GPU host.
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from caffesiam.caffe import locate  # noqa: E402
from caffesiam.caffe.proto import to_text  # noqa: E402
from caffesiam.net.siamese import build_siamese  # noqa: E402
from caffesiam.spec.load import load_tower  # noqa: E402

BATCH, ITERS, WARMUP, ROUNDS = 64, 200, 20, 3
NETS = {
    "lenet_relu 28x28x1": ("lenet_relu.yaml", 1, 28),
    "color_bn 64x64x3": ("color_bn.yaml", 3, 64),
}
ENGINE_FIELDS = {
    "Convolution": "convolution_param",
    "Pooling": "pooling_param",
    "ReLU": "relu_param",
}
_AVERAGE = re.compile(r"Average Forward-Backward: ([\d.]+) ms")


def caffe_net(template: str, channels: int, size: int, engine: str) -> str:
    """The siamese train net with an Input layer in place of the pair Data layers."""
    net = build_siamese(load_tower(REPO / "templates" / template), batch_size=BATCH)
    layers = [layer for layer in net.layer if layer.type != "Data"]
    del net.layer[:]
    data = net.layer.add(name="pair_data", type="Input", top=["pair_data", "sim"])
    data.input_param.shape.add(dim=[BATCH, 2 * channels, size, size])
    data.input_param.shape.add(dim=[BATCH])
    net.layer.extend(layers)
    if engine == "CAFFE":
        for layer in net.layer:
            field = ENGINE_FIELDS.get(layer.type)
            if field:
                param = getattr(layer, field)
                param.engine = param.CAFFE
    return to_text(net)


def caffe_ms(prototxt: str, work: Path) -> float:
    path = work / "net.prototxt"
    path.write_text(prototxt)
    out = subprocess.run(
        [
            locate.caffe_binary(),
            "time",
            "-model",
            str(path),
            "-gpu",
            "0",
            "-iterations",
            str(ITERS),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, GLOG_logtostderr="1"),
    )
    match = _AVERAGE.search(out.stdout + out.stderr)
    if out.returncode != 0 or not match:
        sys.exit(f"gpu_peer: caffe time failed:\n{(out.stdout + out.stderr)[-2000:]}")
    return float(match.group(1))


def torch_tower(template: str, channels: int):
    from torch import nn

    if template == "lenet_relu.yaml":
        return nn.Sequential(
            nn.Conv2d(channels, 20, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(800, 500),
            nn.ReLU(),
            nn.Linear(500, 32),
        )
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False),
        nn.BatchNorm2d(64),
        nn.PReLU(64),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 16),
    )


def torch_ms(template: str, channels: int, size: int) -> float:
    import torch

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    tower = torch_tower(template, channels).cuda()
    a = torch.randn(BATCH, channels, size, size, device="cuda")
    b = torch.randn(BATCH, channels, size, size, device="cuda")
    sim = (torch.rand(BATCH, device="cuda") < 0.5).float()  # 1 = same class, Caffe's convention

    def step():
        d = torch.norm(tower(a) - tower(b), dim=1)
        loss = (sim * d**2 + (1 - sim) * torch.clamp(1 - d, min=0) ** 2).sum() / (2 * BATCH)
        tower.zero_grad(set_to_none=False)
        loss.backward()

    for _ in range(WARMUP):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(ITERS):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / ITERS * 1000


def main():
    import torch

    if not torch.cuda.is_available():
        sys.exit("gpu_peer: no CUDA GPU visible to PyTorch")
    print(
        f"GPU {torch.cuda.get_device_name(0)}, PyTorch {torch.__version__} "
        f"(CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}), "
        f"caffe {locate.caffe_binary()}"
    )
    print(f"forward+backward ms per iteration, batch {BATCH}, median of {ROUNDS} rounds of {ITERS}")
    print(
        f"{'net':20} {'caffe cuDNN':>12} {'caffe CAFFE':>12} {'PyTorch':>9} "
        f"{'PyTorch/cuDNN':>14} {'PyTorch/CAFFE':>14}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for label, (template, channels, size) in NETS.items():
            runs = {"cudnn": [], "caffe": [], "torch": []}
            for _ in range(ROUNDS):
                runs["cudnn"].append(
                    caffe_ms(caffe_net(template, channels, size, "CUDNN"), Path(tmp))
                )
                runs["caffe"].append(
                    caffe_ms(caffe_net(template, channels, size, "CAFFE"), Path(tmp))
                )
                runs["torch"].append(torch_ms(template, channels, size))
            ms = {k: statistics.median(v) for k, v in runs.items()}
            print(
                f"{label:20} {ms['cudnn']:12.3f} {ms['caffe']:12.3f} {ms['torch']:9.3f} "
                f"{ms['torch'] / ms['cudnn']:14.2f} {ms['torch'] / ms['caffe']:14.2f}"
            )
    print(
        "ratio > 1: Caffe is faster. "
        "A --no-cudnn build runs the CAFFE engine in both Caffe columns."
    )


if __name__ == "__main__":
    main()
