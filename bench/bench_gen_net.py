"""gen-net as a whole process: wall time vs the 0.3 s target, and vs importing pycaffe alone."""

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def wall(argv, runs=15):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    gen = wall([str(BIN / "caffesiam"), "gen-net", str(REPO / "templates/lenet.yaml")])
    pycaffe = wall([sys.executable, "-c", "import caffe"])
    print(f"gen-net templates/lenet.yaml: median {gen:.3f} s (target < 0.3 s)")
    print(
        f"python -c 'import caffe' alone: median {pycaffe:.3f} s; "
        f"ratio gen-net / pycaffe import = {gen / pycaffe:.2f}"
    )
    return 0 if gen < 0.3 else 1


if __name__ == "__main__":
    sys.exit(main())
