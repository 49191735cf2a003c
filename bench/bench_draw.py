"""Whole-process time of `caffesiam draw` on the LeNet siamese net to PNG; target < 1 s."""

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 7
TARGET_S = 1.0
CAFFESIAM = Path(sys.executable).parent / "caffesiam"


def _generated_net(tmp: Path):
    """The LeNet siamese net that gen-net makes from templates/lenet.yaml (None before it
    exists)."""
    template = Path(__file__).resolve().parents[1] / "templates" / "lenet.yaml"
    if not template.exists():
        return None
    from caffesiam.caffe.proto import to_text
    from caffesiam.net.siamese import build_siamese
    from caffesiam.spec.load import load_tower

    path = tmp / "lenet_siamese_train_test.prototxt"
    path.write_text(to_text(build_siamese(load_tower(template))))
    return path


def median_seconds(argv) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    from caffesiam.caffe.locate import caffe_source

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        nets = {
            "caffe mnist_siamese_train_test": caffe_source()
            / "examples/siamese/mnist_siamese_train_test.prototxt"
        }
        generated = _generated_net(tmp)
        if generated:
            nets["generated lenet siamese"] = generated
        slow = False
        for label, net in nets.items():
            for ext in ("png", "dot"):
                seconds = median_seconds(
                    [str(CAFFESIAM), "draw", str(net), "-o", str(tmp / f"out.{ext}")]
                )
                verdict = "ok" if seconds < TARGET_S else "SLOW"
                slow |= ext == "png" and seconds >= TARGET_S
                print(
                    f"draw {label} → .{ext}: median {seconds:.3f} s of {RUNS} runs "
                    f"(target < {TARGET_S:g} s) {verdict}"
                )
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
