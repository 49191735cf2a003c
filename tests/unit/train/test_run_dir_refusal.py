"""train.gather.run_dir_refusal: which folders may hold a run, on real (temporary) folders."""

from caffesiam.train.gather import default_run_dir, run_dir_refusal
from caffesiam.train.rundir import BLAS_THREADS_JSON, CAFFE_LOG, RUN_SOLVER


def test_new_empty_and_unstarted_runs_may_hold_a_run(tmp_path):
    prefix = tmp_path / "snap" / "net"
    assert run_dir_refusal(tmp_path / "new", prefix) is None
    (tmp_path / "empty").mkdir()
    assert run_dir_refusal(tmp_path / "empty", prefix) is None
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    for name in (RUN_SOLVER, BLAS_THREADS_JSON, f".{CAFFE_LOG}.x1y2.tmp.log"):
        (stopped / name).write_text("")
    assert run_dir_refusal(stopped, prefix) is None


def test_snapshots_are_a_runs_own_only_at_its_prefix(tmp_path):
    (tmp_path / "net_iter_10.caffemodel").write_text("")
    assert run_dir_refusal(tmp_path, tmp_path / "net") is None
    assert "net_iter_10.caffemodel" in run_dir_refusal(tmp_path, tmp_path / "snap" / "net")


def test_databases_and_other_files_are_refused(tmp_path):
    db = tmp_path / "pairs_leveldb"
    db.mkdir()
    (db / "CURRENT").write_text("MANIFEST-000001\n")
    prefix = tmp_path / "net"
    assert run_dir_refusal(db, prefix) == (
        f"{db}: is a leveldb database; a run needs a folder of its own"
    )
    assert "lies inside" in run_dir_refusal(db / "run", prefix)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.txt").write_text("")
    (tmp_path / "mine" / "b.txt").write_text("")
    assert "holds other files ('a.txt' and 1 more)" in run_dir_refusal(tmp_path / "mine", prefix)


def test_the_default_run_dir_passes_over_taken_and_foreign_folders(tmp_path):
    prefix = tmp_path / "net"
    (tmp_path / "net_run").mkdir()
    (tmp_path / "net_run" / CAFFE_LOG).write_text("")
    (tmp_path / "net_run2").mkdir()
    (tmp_path / "net_run2" / "notes.txt").write_text("")
    assert default_run_dir(prefix) == tmp_path / "net_run3"
