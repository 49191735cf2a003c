"""charts.loss: one run's loss curve as a PNG."""

from caffesiam.charts.loss import _run_summary, plot_loss_curve
from caffesiam.train import log


def run_metrics(diverge_at=None) -> log.Metrics:
    train = [log.TrainPoint(i, 1.0 / (1 + i), lr=0.01 * 0.9**i) for i in range(0, 200, 10)]
    if diverge_at is not None:
        train[diverge_at:] = [
            log.TrainPoint(p.iteration, float("nan"), lr=p.lr) for p in train[diverge_at:]
        ]
    test = [
        log.TestPoint(i, outputs={"loss": 0.5 / (1 + i), "accuracy": 0.9}) for i in (0, 100, 190)
    ]
    return log.Metrics(train=train, test=test)


def test_a_run_draws_to_a_png_of_its_size(tmp_path, png):
    out = plot_loss_curve(run_metrics(), tmp_path / "loss.png", title="run")
    assert out == tmp_path / "loss.png"
    width, height, colours = png(out)
    assert (width, height) == (800, 450)
    assert colours > 10


def test_a_diverged_run_and_an_empty_log_still_draw(tmp_path, png):
    assert png(plot_loss_curve(run_metrics(diverge_at=5), tmp_path / "nan.png"))[:2] == (800, 450)
    assert png(plot_loss_curve(log.Metrics(), tmp_path / "empty.png"))[:2] == (800, 450)


def test_the_summary_says_where_the_run_is():
    assert _run_summary(run_metrics()) == (
        "iteration 190, last train loss 0.005236, last test loss 0.002618, accuracy 0.9"
    )
    assert _run_summary(run_metrics(diverge_at=5)).startswith(
        "iteration 190, last train loss nan, diverged at iteration 50"
    )
    assert _run_summary(log.Metrics()) == "iteration 0"
