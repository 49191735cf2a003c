"""sweep.settings: the engine's settings merged from options, record and defaults, the BLAS
thread share, what each train command gets, and the checks before anything is made."""

from dataclasses import fields

import pytest

from caffesiam.errors import SweepError
from caffesiam.net.options import option_value
from caffesiam.sweep.settings import (
    ENGINE_OPTIONS,
    EngineSettings,
    Machine,
    blas_threads,
    check_engine,
    check_shared_databases,
    merge_settings,
    train_options,
)

NOT_GIVEN = {o.name: None for o in ENGINE_OPTIONS}


def test_the_option_table_names_every_setting_once():
    assert [o.name for o in ENGINE_OPTIONS] == [f.name for f in fields(EngineSettings)]
    jobs = {o.name: o for o in ENGINE_OPTIONS}["jobs"]
    assert option_value(jobs, "3") == 3
    with pytest.raises(ValueError):
        option_value(jobs, 0)


def test_defaults_are_one_local_point_at_a_time():
    assert merge_settings({}, **NOT_GIVEN) == EngineSettings("local", jobs=1)
    assert merge_settings({}, **{**NOT_GIVEN, "engine": "slurm"}) == EngineSettings("slurm")


def test_options_given_win_over_the_record_which_wins_over_the_defaults():
    recorded = EngineSettings("slurm", jobs=4, partition="gpu", cpus_per_task=8).record()
    assert merge_settings(recorded, **NOT_GIVEN) == EngineSettings(
        "slurm", jobs=4, partition="gpu", cpus_per_task=8
    )
    given = {**NOT_GIVEN, "jobs": 2, "time": "1:00:00"}
    assert merge_settings(recorded, **given) == EngineSettings(
        "slurm", jobs=2, partition="gpu", time="1:00:00", cpus_per_task=8
    )


@pytest.mark.parametrize("option", [{"gpus": 1}, {"partition": "p"}, {"time": "5"}])
def test_slurms_options_on_the_local_engine_are_bad_input(option):
    with pytest.raises(SweepError, match="are Slurm's; add --engine slurm"):
        merge_settings({}, **{**NOT_GIVEN, **option})


@pytest.mark.parametrize("record", [{"engine": "local", "nodes": 3}, ["local"], {"engine": "pbs"}])
def test_a_record_that_is_not_ours_is_refused(record):
    with pytest.raises(SweepError):
        merge_settings(record, **NOT_GIVEN)


@pytest.mark.parametrize(
    "settings, cores, threads",
    [
        (EngineSettings("local", jobs=1), 8, 8),
        (EngineSettings("local", jobs=3), 8, 2),
        (EngineSettings("local", jobs=16), 8, 1),
        (EngineSettings("local", jobs=2), 1, 1),
        (EngineSettings("slurm", jobs=None, cpus_per_task=6), 64, 6),
        (EngineSettings("slurm", gpus=2), 64, None),
    ],
)
def test_blas_threads_are_the_points_share_of_the_cores(settings, cores, threads):
    assert blas_threads(settings, cores) == threads


def test_train_options_give_gpus_or_threads_then_the_image():
    assert train_options(EngineSettings("local", jobs=2), 6) == ["--blas-threads", "3"]
    assert train_options(EngineSettings("slurm", gpus=3, docker="img:gpu"), 6) == [
        "--gpu",
        "0,1,2",
        "--docker",
        "img:gpu",
    ]


def test_the_threads_asked_of_train_stay_within_what_it_takes():
    assert train_options(EngineSettings("slurm", cpus_per_task=5000), 8)[-1] == "1024"
    assert train_options(EngineSettings("local", jobs=2), 4096)[-1] == "1024"


@pytest.mark.parametrize("image", ["--privileged", "-v/:/host", "a b", "img\nx", ""])
def test_a_docker_image_docker_would_not_read_as_one_is_bad_input(image):
    with pytest.raises(SweepError, match="--docker: .* is not an image name"):
        check_engine(EngineSettings("slurm", docker=image), Machine(4, sbatch="sbatch"))


def test_an_engine_this_machine_cannot_drive_is_bad_input():
    bare = Machine(cores=4)
    with pytest.raises(SweepError, match="needs sbatch.*apt-get install slurm-client"):
        check_engine(EngineSettings("slurm"), bare)
    with pytest.raises(SweepError, match="no docker client"):
        check_engine(EngineSettings("local", jobs=1, docker="img"), bare)
    check_engine(EngineSettings("slurm"), Machine(4, sbatch="/usr/bin/sbatch"))
    check_engine(EngineSettings("local", jobs=1, docker="img"), Machine(4, docker="/bin/docker"))


def test_a_leveldb_is_refused_only_when_points_run_at_once(tmp_path):
    leveldb, lmdb = tmp_path / "a_leveldb", tmp_path / "b_lmdb"
    leveldb.mkdir()
    (leveldb / "CURRENT").write_text("MANIFEST-000001\n")
    lmdb.mkdir()
    (lmdb / "data.mdb").write_bytes(b"")
    both = [str(leveldb), str(lmdb)]
    check_shared_databases(both, EngineSettings("local", jobs=1))
    with pytest.raises(SweepError, match="a_leveldb is a LevelDB"):
        check_shared_databases(both, EngineSettings("local", jobs=2))
    with pytest.raises(SweepError, match="a_leveldb is a LevelDB"):
        check_shared_databases(both, EngineSettings("slurm"))  # no throttle: all at once
    check_shared_databases([str(lmdb)], EngineSettings("local", jobs=2))


def test_an_lmdb_is_refused_only_to_points_in_containers_at_once(tmp_path):
    lmdb = tmp_path / "b_lmdb"
    lmdb.mkdir()
    (lmdb / "data.mdb").write_bytes(b"")
    sweep = [str(lmdb)]
    check_shared_databases(sweep, EngineSettings("local", jobs=2))
    check_shared_databases(sweep, EngineSettings("slurm", jobs=1, docker="caffesiam:cpu"))
    for settings in (
        EngineSettings("local", jobs=2, docker="caffesiam:cpu"),
        EngineSettings("slurm", docker="caffesiam:cpu"),  # no throttle: all at once
    ):
        with pytest.raises(SweepError, match="b_lmdb is an LMDB, which trainings in containers"):
            check_shared_databases(sweep, settings)
