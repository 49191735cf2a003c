"""The Caffe log parser, fed line by line as a live run feeds it (saved logs go the same way)."""

import math

import pytest

from caffesiam.train import log

P = "I0101 00:00:00.000000 7 solver.cpp:1] "  # a glog prefix (MMDD date)


def lines(*messages):
    return [P + m + "\n" for m in messages]


def test_each_line_yields_the_events_it_completes():
    parser = log.LogParser()
    fed = [
        parser.feed(line)
        for line in lines(
            "Iteration 0, Testing net (#0)",
            "    Test net output #0: accuracy = 0.5",
            "    Test net output #1: loss = 0.75 (* 1 = 0.75 loss)",
            "Iteration 10 (2.5 iter/s, 4s/10 iters), loss = 0.7",
            "    Train net output #0: loss = 0.7 (* 1 = 0.7 loss)",
            "Iteration 10, lr = 0.01",
            "Snapshotting to binary proto file snap/net_iter_10.caffemodel",
            "Snapshotting solver state to binary proto file snap/net_iter_10.solverstate",
            "Optimization Done.",
        )
    ]
    assert [[type(e).__name__ for e in events] for events in fed] == [
        [],
        ["TestPoint"],
        ["TestPoint"],
        ["TrainPoint"],
        [],  # a train output completes nothing new
        [],  # the lr joins the point it belongs to
        ["Snapshot"],
        ["Snapshot"],
        [],
    ]
    m = parser.metrics
    assert (m.test[0].iteration, m.test[0].net, m.test[0].outputs) == (
        0,
        0,
        {"accuracy": 0.5, "loss": 0.75},
    )
    point = m.train[0]
    assert (point.iteration, point.loss, point.iters_per_s, point.lr) == (10, 0.7, 2.5, 0.01)
    assert point.outputs == {"loss": 0.7}
    assert m.last_solverstate == "snap/net_iter_10.solverstate" and m.iteration == 10


def test_the_final_loss_line_adds_a_point_only_for_a_new_iteration():
    m = log.parse_lines(
        lines(
            "Iteration 20 (1 iter/s, 10s/10 iters), loss = 0.5",
            "Iteration 20, loss = 0.5",
            "Iteration 25, loss = 0.25",
        )
    )
    assert [(p.iteration, p.loss, p.iters_per_s) for p in m.train] == [
        (20, 0.5, 1.0),
        (25, 0.25, None),
    ]


def test_a_rate_that_is_not_a_positive_finite_number_is_unknown():
    m = log.parse_lines(lines("Iteration 1 (inf iter/s, 0s/1 iters), loss = 1"))
    assert m.train[0].iters_per_s is None


def test_non_finite_losses_mark_where_training_diverged():
    m = log.parse_lines(
        lines(
            *(
                f"Iteration {i} (1 iter/s, 1s/1 iters), loss = {value}"
                for i, value in [(1, "0.5"), (2, "0.25"), (3, "-nan"), (4, "inf"), (5, "0.1")]
            )
        )
    )
    assert m.diverged.iteration == 3 and math.isnan(m.diverged.loss)
    assert m.last_finite.iteration == 2  # not 5: finite again after diverging does not count
    assert log.parse_lines(lines("Iteration 1, loss = 1e-3")).diverged is None


def test_lines_without_a_glog_prefix_and_other_messages_are_ignored():
    m = log.parse_lines(
        [
            "Iteration 10 (1 iter/s, 1s/1 iters), loss = 0.5\n",  # no prefix: not Caffe's log
            "*** Check failure stack trace: ***\n",
            P + "Creating layer data\n",
        ]
    )
    assert (m.train, m.test, m.snapshots, m.fatal, m.iteration) == ([], [], [], None, 0)


def test_the_first_fatal_line_is_kept():
    m = log.parse_lines(
        [
            "F0101 00:00:01.000000 7 net.cpp:9] Check failed: a == b (1 vs. 2) \n",
            "F0101 00:00:01.000001 7 net.cpp:10] later\n",
        ]
    )
    assert m.fatal == "Check failed: a == b (1 vs. 2)"


@pytest.mark.parametrize(
    "path, prefix, expected",
    [
        ("snap/net_iter_500.caffemodel", None, 500),
        ("/abs/snap/net_iter_7.solverstate.h5", "net", 7),
        ("snap/net_iter_7.solverstate", "other", None),
        ("snap/net_iter_x.caffemodel", None, None),
        ("snap/net_iter_5.caffemodel.bak", None, None),
    ],
)
def test_snapshot_iteration(path, prefix, expected):
    assert log.snapshot_iteration(path, prefix) == expected


def test_failure_line_is_none_for_a_log_without_one():
    assert log.failure_line(lines("Optimization Done.")) is None
    warned = ["E0101 00:00:00.000000 7 io.cpp:3] Could not open file x\n"]
    assert log.failure_line(warned) is None  # an error line is not a fatal one
