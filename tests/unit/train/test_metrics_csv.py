"""metrics.csv: one row per train display and per test phase, in iteration order."""

import csv
import io

from caffesiam.train import log
from caffesiam.train.metrics_csv import metrics_csv


def rows(metrics):
    return list(csv.reader(io.StringIO(metrics_csv(metrics))))


def test_columns_and_rows_in_iteration_order_train_before_test():
    metrics = log.Metrics(
        train=[
            log.TrainPoint(0, 0.75, None, 0.01, {"loss": 0.75}),
            log.TrainPoint(10, 0.5, 2.5, 0.01, {"loss": 0.5, "sim_loss": 0.25}),
        ],
        test=[
            log.TestPoint(0, 0, {"loss": 0.8, "accuracy": 0.5}),
            log.TestPoint(10, 0, {"accuracy": 0.75}),
        ],
    )
    assert rows(metrics) == [
        ["phase", "iteration", "loss", "lr", "iters_per_s", "accuracy", "sim_loss"],
        ["train", "0", "0.75", "0.01", "", "", ""],
        ["test", "0", "0.8", "", "", "0.5", ""],
        ["train", "10", "0.5", "0.01", "2.5", "", "0.25"],
        ["test", "10", "", "", "", "0.75", ""],
    ]


def test_an_empty_log_is_a_header_alone_and_nan_is_written_as_nan():
    assert metrics_csv(log.Metrics()) == "phase,iteration,loss,lr,iters_per_s\n"
    diverged = log.Metrics(train=[log.TrainPoint(3, float("nan"))])
    assert rows(diverged)[1][:3] == ["train", "3", "nan"]
