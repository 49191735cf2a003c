"""`caffesiam sweep SWEEP.yaml --docker caffesiam:cpu` on a real Docker engine: every point trains
in the image, on the local pool and through a real Slurm, and `sweep report` has each point's
CPU time, Caffe's own as the container measured it (make docker-check).

The engine and the image are found as tests/test_docker_engine.py finds them; without them these
skip, and the Slurm case skips without a local Slurm (tests/test_sweep.py's fixture).
"""

import csv
import json
import os
import tempfile
from pathlib import Path

import pytest
from conftest import DOCKER_IMAGE, REPO, docker_engine, run_tool

ENGINE, WHY_NOT = docker_engine()
REQUIRED = os.environ.get("CAFFESIAM_DOCKER_CHECK") == "1"  # as in tests/test_docker_engine.py
pytestmark = [
    pytest.mark.docker,
    pytest.mark.caffe,
    pytest.mark.slow,
    pytest.mark.skipif(ENGINE is None and not REQUIRED, reason=WHY_NOT),
]
ITERATIONS = 60
POINTS = ["0_feature_size-2", "1_feature_size-4"]


@pytest.fixture(autouse=True)
def engine_found():
    if ENGINE is None:
        pytest.fail(WHY_NOT)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> dict[str, Path]:
    """Digit pairs in LMDB, which the points can read at the same time."""
    where = tmp_path_factory.mktemp("digit_pairs")
    out = run_tool(
        *("build-db", "digits", "--backend", "lmdb", "--out", where),
        *("--pairs", 2000, "--test-pairs", 500, "--seed", 0),
    )
    assert out.returncode == 0, out.stderr
    return {s: where / f"digits_siamese_{s}_lmdb" for s in ("train", "test")}


def sweep_file(where: Path, pairs: dict[str, Path], name: str) -> Path:
    path = where / f"{name}.yaml"
    path.write_text(
        f"spec: {REPO / 'templates/lenet.yaml'}\n"
        f"databases:\n  digits: {{train: {pairs['train']}, test: {pairs['test']}}}\n"
        f"settings: {{backend: lmdb, max_iter: {ITERATIONS}, test_interval: 20, test_iter: 2, "
        "display: 10, batch_size: 16, test_batch_size: 20, random_seed: 1, snapshot: 5000}\n"
        "grid:\n  feature_size: [2, 4]\n"
    )
    return path


def engine_env(extra=None) -> dict:
    return dict(os.environ, **({"DOCKER_HOST": ENGINE} if ENGINE else {}), **(extra or {}))


def check_report(sweep_dir: Path) -> list[str]:
    """Each point trained in the container and has its CPU time in results.csv: Caffe's own,
    at most what its cores could give in its wall time. Returns the points' lines to print."""
    docs = Path(tempfile.mkdtemp(prefix="caffesiam-report-"))
    out = run_tool("sweep", "report", sweep_dir, "--out", docs)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader((docs / "results.csv").open()))
    assert [r["point"] for r in rows] == POINTS
    said = []
    for row in rows:
        point = sweep_dir / row["point"]
        usage = json.loads((point / "train/usage.json").read_text())
        assert usage["process"] == "caffe in the container", usage
        assert "--docker" in (point / "command.sh").read_text()
        assert int(row["iterations"]) == ITERATIONS
        cpu = float(row["train_cpu_seconds"])
        assert cpu == pytest.approx(usage["cpu_seconds"], abs=0.05)
        assert 0 < usage["cpu_seconds"] <= usage["wall_seconds"] * (os.cpu_count() or 1) + 1
        said.append(f"{row['point']}: {cpu} s CPU in {usage['wall_seconds']:.1f} s wall")
    return said


def test_a_local_sweep_trains_each_point_in_the_image_and_reports_its_cpu_time(pairs, tmp_path):
    out = run_tool(
        "sweep",
        sweep_file(tmp_path, pairs, "indocker"),
        *("--docker", DOCKER_IMAGE),  # one at a time: containers cannot share an LMDB
        cwd=tmp_path,
        env=engine_env(),
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "2 done (of 2)" in out.stdout, out.stdout
    print("docker sweep, local:", "; ".join(check_report(tmp_path / "indocker")))


def test_a_slurm_sweep_trains_each_point_in_the_image_and_reports_its_cpu_time(
    pairs, tmp_path, slurm
):
    """The array's tasks get DOCKER_HOST from the submitting environment (sbatch exports it)."""
    out = run_tool(
        "sweep",
        sweep_file(tmp_path, pairs, "onslurm"),
        *("--engine", "slurm", "--docker", DOCKER_IMAGE, "--jobs", 1, "--wait"),
        cwd=tmp_path,
        env=engine_env(slurm.env),
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "2 done (of 2)" in out.stdout, out.stdout
    print("docker sweep, Slurm:", "; ".join(check_report(tmp_path / "onslurm")))
