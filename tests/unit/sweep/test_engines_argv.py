"""sweep.engines' pure parts: sbatch's --array value, the argv of sbatch, squeue and sacct, and
their output read back."""

import subprocess
from pathlib import Path

import pytest

from caffesiam.caffe import runner
from caffesiam.errors import CaffesiamError, SweepError
from caffesiam.sweep.engines import (
    SlurmOptions,
    TaskState,
    array_spec,
    check_submission,
    parse_sacct,
    parse_squeue,
    sacct_argv,
    sacct_completion_argv,
    sbatch_argv,
    squeue_argv,
)


@pytest.mark.parametrize(
    "indices, throttle, spec",
    [
        ([3], None, "3"),
        ([0, 1, 2, 3], None, "0-3"),
        ([5, 0, 1, 1, 7, 8], None, "0-1,5,7-8"),
        ([2, 4], 1, "2,4%1"),
    ],
)
def test_array_spec_writes_runs_as_ranges(indices, throttle, spec):
    assert array_spec(indices, throttle) == spec


def test_sbatch_argv_adds_only_the_options_given():
    argv = sbatch_argv(
        "sbatch", Path("/s/x.sbatch"), [1, 2], "job", Path("/s/logs"), SlurmOptions()
    )
    assert argv == [
        "sbatch",
        "--parsable",
        "--job-name=job",
        "--array=1-2",
        "--output=/s/logs/slurm-%A_%a.out",
        "--cpus-per-task=1",
        "/s/x.sbatch",
    ]
    gpu = SlurmOptions(partition="p", time="10", cpus_per_task=2, gpus=1, throttle=1)
    argv = sbatch_argv("sbatch", Path("x"), [0], "j", Path("l"), gpu)
    assert argv[3:-1] == [
        "--array=0%1",
        "--output=l/slurm-%A_%a.out",
        "--cpus-per-task=2",
        "--partition=p",
        "--time=10",
        "--gres=gpu:1",
    ]


def test_squeue_and_sacct_argv_name_the_format_their_parsers_read():
    assert squeue_argv("squeue")[-1] == "--format=%i|%T|%r"
    assert sacct_argv("sacct", ["5", "9"])[-2:] == ["--jobs=5,9", "--format=JobID,State,ExitCode"]
    assert sacct_completion_argv("sacct", ["12"])[1] == "--completion"
    assert parse_squeue("4_0|PENDING|(null)\n4|RUNNING|None\nnoise\n") == {
        ("4", 0): TaskState("PENDING")
    }
    assert parse_sacct("4_0|FAILED|1:0\n4_1|CANCELLED by 0|0:9\n") == {
        "4_0": TaskState("FAILED", "exit 1:0", "sacct"),
        "4_1": TaskState("CANCELLED", "exit 0:9", "sacct"),
    }


def test_the_log_folder_is_written_literally_in_sbatchs_output_pattern():
    argv = sbatch_argv("sbatch", Path("s"), [0], "n", Path("/s/100%x"), SlurmOptions())
    assert "--output=/s/100%%x/slurm-%A_%a.out" in argv
    with pytest.raises(SweepError, match="backslash"):
        sbatch_argv("sbatch", Path("s"), [0], "n", Path("/s/a\\b"), SlurmOptions())


@pytest.mark.parametrize(
    "status, said, error, message",
    [
        (0, "sbatch: Job 3 to start at 2026-12-02T09:21:51", None, ""),
        (
            1,
            "sbatch: error: invalid partition specified: nope\n"
            "allocation failure: Invalid partition name specified\n",
            SweepError,
            "Slurm refuses the sweep's job array: invalid partition specified: nope",
        ),
        (
            1,
            "sbatch: error: Batch job submission failed: Unable to contact slurm controller\n",
            CaffesiamError,
            "sbatch --test-only failed (exit 1): Batch job submission failed: Unable to contact",
        ),
    ],
)
def test_slurm_is_asked_without_submitting(monkeypatch, status, said, error, message):
    asked = []

    def capture(argv, timeout):
        asked.append(argv)
        return subprocess.CompletedProcess(argv, status, said)

    monkeypatch.setattr(runner, "capture", capture)
    argv = sbatch_argv("sbatch", Path("/s/x.sbatch"), [0, 1], "n", Path("/l"), SlurmOptions())
    if error is None:
        check_submission(argv)
    else:
        with pytest.raises(error) as caught:
            check_submission(argv)
        assert str(caught.value).startswith(message) and type(caught.value) is error
    assert asked == [["sbatch", "--test-only", *argv[1:-1], "--wrap=true"]]
