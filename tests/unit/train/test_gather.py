"""The facts train gathers from disk, with paths resolved from Caffe's working directory."""

import pytest

from caffesiam.errors import BadInput, SolverError
from caffesiam.train.gather import default_run_dir, existing_snapshots, gather_facts
from caffesiam.train.plan import TrainRequest
from caffesiam.train.rundir import CAFFE_LOG

NET = """name: "tiny"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
        inner_product_param { num_output: 2 } }
"""


def test_default_run_dir_skips_the_ones_holding_a_run(tmp_path):
    prefix = tmp_path / "snap" / "net"
    assert default_run_dir(prefix) == tmp_path / "snap" / "net_run"
    for taken in ("net_run", "net_run2"):
        (tmp_path / "snap" / taken).mkdir(parents=True)
        (tmp_path / "snap" / taken / CAFFE_LOG).write_text("")
    (tmp_path / "snap" / "net_run3").mkdir()  # a folder without a log is free
    assert default_run_dir(prefix) == tmp_path / "snap" / "net_run3"


def test_existing_snapshots_are_this_prefixs_beyond_the_start(tmp_path):
    names = [
        "net_iter_100.caffemodel",
        "net_iter_100.solverstate",
        "net_iter_50.caffemodel",
        "net_iter_1000.caffemodel",
        "other_iter_500.caffemodel",
        "net_iter_200.txt",
    ]
    for name in names:
        (tmp_path / name).write_text("")
    found = existing_snapshots(tmp_path / "net", after_iter=50)
    assert [p.name for p in found] == [  # by iteration, then name
        "net_iter_100.caffemodel",
        "net_iter_100.solverstate",
        "net_iter_1000.caffemodel",
    ]
    assert existing_snapshots(tmp_path / "missing" / "net", 0) == []


@pytest.fixture
def work(tmp_path):
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "net.prototxt").write_text(NET)
    (tmp_path / "solver.prototxt").write_text(
        'net: "nets/net.prototxt" snapshot_prefix: "snap/tiny" base_lr: 0.01 max_iter: 10\n'
    )
    return tmp_path


@pytest.mark.caffe
def test_facts_resolve_every_path_from_the_working_directory(work):
    (work / "snap").mkdir()
    (work / "snap" / "tiny_iter_5.caffemodel").write_text("")
    facts = gather_facts(TrainRequest(work / "solver.prototxt"), work, cpu_only_build=True)
    assert facts.net_path == work / "nets" / "net.prototxt" and facts.net.name == "tiny"
    assert facts.snapshot_prefix == work / "snap" / "tiny"
    assert facts.free_run_dir == work / "snap" / "tiny_run"
    assert facts.later_snapshots == [work / "snap" / "tiny_iter_5.caffemodel"]
    assert (facts.sources, facts.start_iter, facts.run_dir_taken) == ([], 0, False)
    assert facts.solver.max_iter == 10 and facts.cwd == work


@pytest.mark.caffe
def test_an_out_directory_with_a_log_is_taken(work):
    (work / "mine").mkdir()
    (work / "mine" / CAFFE_LOG).write_text("")
    facts = gather_facts(
        TrainRequest(work / "solver.prototxt", out=work / "mine"), work, cpu_only_build=False
    )
    assert facts.run_dir_taken and not facts.cpu_only_build


@pytest.mark.caffe
@pytest.mark.parametrize(
    "solver, error, words",
    [
        ("base_lr: 0.01", SolverError, "the solver names no net (net: or train_net:)"),
        ('net: "nowhere.prototxt"', SolverError, "relative paths are resolved from"),
        ('net: "nets/net.prototxt" base_lr: [', SolverError, "solver.prototxt:1:"),
    ],
)
def test_a_solver_that_cannot_run_is_refused(work, solver, error, words):
    (work / "solver.prototxt").write_text(solver)
    with pytest.raises(error) as e:
        gather_facts(TrainRequest(work / "solver.prototxt"), work, cpu_only_build=True)
    assert words in str(e.value)
    assert issubclass(error, BadInput)
