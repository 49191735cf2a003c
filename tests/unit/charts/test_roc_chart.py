"""charts.roc: the ROC curve beside the distance histograms, as a PNG."""

import numpy as np

from caffesiam.charts.roc import plot_roc
from caffesiam.evaluate.metrics import roc_curve


def test_roc_and_histograms_draw_to_a_png_of_their_size(tmp_path, png):
    rng = np.random.default_rng(0)
    sims = np.arange(400) % 2
    distances = np.abs(rng.normal(loc=np.where(sims == 1, 0.4, 1.2), scale=0.3))
    fpr, tpr, _ = roc_curve(distances, sims)
    report = {
        "pairs": 400,
        "auc": 0.97,
        "eer": 0.08,
        "eer_threshold": 0.8,
        "threshold_half_margin": 0.5,
        "accuracy_half_margin": 0.85,
        "best_threshold_all_pairs": 0.79,
        "best_threshold_accuracy": 0.91,
    }
    out = plot_roc(fpr, tpr, distances, sims, report, tmp_path / "roc.png")
    width, height, colours = png(out)
    assert (width, height) == (1200, 500)
    assert colours > 10
