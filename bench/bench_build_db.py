"""build-db speed and memory, side by side with Caffe's own convert_mnist_siamese_data.

1. Fashion-MNIST train split, 60,000 pairs into LevelDB: Caffe's converter (reads unzipped IDX)
   against `caffesiam build-db fashion-mnist` as a whole process, from the same unzipped files
   and from the packaged .gz files. Interleaved repetitions, median wall times, ratio, peak RSS.
2. Peak RSS with 1,000,000 pairs, against the decoded image size.
3. 10,000 small JPEGs: build-db images against N x single-image decode time / cores.
4. --augment's cost: `build-db digits` with 200,000 train pairs, with and without it, interleaved.
"""

import gzip
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from caffesiam.data.sources.mnist import FASHION_MNIST_DIR

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
FASHION = FASHION_MNIST_DIR
REPEATS = 5


def run(argv, env=None):
    """(wall seconds, CPU seconds user+sys) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"failed: {' '.join(map(str, argv))}\n{proc.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def peak_rss(argv, env=None):
    """Peak RSS (MiB) of one child, from /usr/bin/time."""
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *map(str, argv)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return int(out.stderr.strip().splitlines()[-1]) / 1024


def caffe_env():
    from caffesiam.caffe.glog import glog_env
    from caffesiam.caffe.locate import caffe_home

    # The converter's RUNPATH can point at the temporary build tree; add the installed lib dir.
    env = dict(os.environ, **glog_env(full_log=False))
    env["LD_LIBRARY_PATH"] = f"{caffe_home() / 'lib'}:{env.get('LD_LIBRARY_PATH', '')}"
    return env


def caffe_converter() -> Path:
    """Caffe's convert_mnist_siamese_data, built on demand (setup builds only caffe and pycaffe)."""
    script = REPO / "scripts/caffe_tool.sh"
    argv = ["bash", script, "convert_mnist_siamese_data", "--venv", BIN.parent]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True)
    if proc.returncode:
        sys.exit(f"failed: {' '.join(map(str, argv))}")
    return Path(proc.stdout.strip().splitlines()[-1])


def bench_fashion(work: Path):
    raw = work / "raw"
    raw.mkdir()
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (raw / stem).write_bytes(gzip.decompress((FASHION / f"{stem}.gz").read_bytes()))
    caffe = [
        caffe_converter(),
        raw / "train-images-idx3-ubyte",
        raw / "train-labels-idx1-ubyte",
    ]
    ours = [
        BIN / "caffesiam",
        "build-db",
        "fashion-mnist",
        "--split",
        "train",
        "--pairs",
        "60000",
        "--force",
    ]
    env = caffe_env()
    runs = {"caffe": [], "ours_raw": [], "ours_gz": []}
    for _ in range(REPEATS):  # interleaved, so machine load hits all three alike
        for old in ("caffe_db", "raw_out", "gz_out"):  # deleting last run's output is not timed
            shutil.rmtree(work / old, ignore_errors=True)
        runs["caffe"].append(run([*caffe, work / "caffe_db"], env))
        runs["ours_raw"].append(run([*ours, "--source", raw, "--out", work / "raw_out"]))
        runs["ours_gz"].append(run([*ours, "--out", work / "gz_out"]))
    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
    print(
        "Fashion-MNIST train, 60,000 pairs -> LevelDB "
        f"(median of {REPEATS}, whole processes, {os.cpu_count()} cores; load average "
        f"{os.getloadavg()[0]:.2f})"
    )
    for key, name in (
        ("caffe", "caffe convert_mnist_siamese_data (unzipped IDX)"),
        ("ours_raw", "caffesiam build-db, same unzipped IDX          "),
        ("ours_gz", "caffesiam build-db, packaged .gz (gunzip incl.)"),
    ):
        print(
            f"  {name} wall {wall[key]:.3f} s (ratio {wall['caffe'] / wall[key]:.2f}x)  "
            f"cpu {cpu[key]:.3f} s (ratio {cpu['caffe'] / cpu[key]:.2f}x)"
        )
    decoded = 60000 * 28 * 28 / 2**20
    rss_caffe = peak_rss([*caffe, work / "rss_caffe"], env)
    rss_ours = peak_rss([*ours, "--source", raw, "--out", work / "raw_out"])
    rss_1m = peak_rss([*ours, "--source", raw, "--out", work / "big", "--pairs", "1000000"])
    # The baseline imports what a build-db run imports, so the difference is the build's data.
    rss_idle = peak_rss(
        [
            sys.executable,
            "-c",
            "import caffesiam.cli, caffesiam.commands.build_db, "
            "caffesiam.data.sources.idx, caffesiam.data.write, caffesiam.data.pairs, plyvel",
        ]
    )
    print(
        f"Peak RSS (decoded train images: {decoded:.1f} MiB; idle interpreter with build-db's "
        f"imports: {rss_idle:.1f} MiB)"
    )
    print(f"  caffe converter                 {rss_caffe:7.1f} MiB")
    print(
        f"  caffesiam, 60,000 pairs         {rss_ours:7.1f} MiB  "
        f"({(rss_ours - rss_idle) / decoded:.2f}x decoded above the idle interpreter)"
    )
    print(
        f"  caffesiam, 1,000,000 pairs      {rss_1m:7.1f} MiB  "
        f"({(rss_1m - rss_idle) / decoded:.2f}x decoded above the idle interpreter)"
    )


def bench_images(work: Path, n=10_000):
    from PIL import Image

    from caffesiam.data.sources.folders import _decode_one

    root = work / "jpegs"
    rng = np.random.default_rng(0)
    for k in range(n):
        folder = root / f"class{k % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{k}.jpg")
    sample = sorted(root.glob("*/*.jpg"))[:500]
    start = time.perf_counter()
    for p in sample:
        _decode_one((str(p), None, True))
    single = (time.perf_counter() - start) / len(sample)
    cores = os.cpu_count() or 1
    ideal = n * single / cores
    argv = [BIN / "caffesiam", "build-db", "images", root, "--out", work / "img_out", "--force"]
    wall = statistics.median(run(argv)[0] for _ in range(3))
    print(f"Image folder: {n} JPEGs 32x32 -> gray pairs, train+test LevelDB (median of 3)")
    print(
        f"  single-image decode {single * 1e3:.3f} ms; N x decode / {cores} cores = {ideal:.3f} s"
    )
    print(f"  caffesiam build-db images       {wall:.3f} s  ({wall / ideal:.2f}x the ideal)")


def bench_augment(work: Path, pairs=200_000):
    argv = [
        BIN / "caffesiam",
        "build-db",
        "digits",
        "--pairs",
        str(pairs),
        "--test-pairs",
        "1000",
        "--force",
    ]
    plain, jittered = [], []
    for _ in range(3):
        plain.append(run([*argv, "--out", work / "plain"])[0])
        jittered.append(run([*argv, "--out", work / "aug", "--augment"])[0])
    plain, jittered = statistics.median(plain), statistics.median(jittered)
    print(f"Digits, {pairs:,} train pairs (median of 3, interleaved)")
    print(f"  build-db digits                 {plain:.2f} s")
    print(
        f"  build-db digits --augment       {jittered:.2f} s  ({jittered / plain:.1f}x; "
        f"{(jittered - plain) / (2 * pairs) * 1e6:.1f} us per jittered image)"
    )


def main():
    with tempfile.TemporaryDirectory(prefix="bench_build_db.") as tmp:
        bench_fashion(Path(tmp))
        bench_images(Path(tmp))
        bench_augment(Path(tmp))


if __name__ == "__main__":
    main()
