"""A verification run's ROC curve beside the distance histograms of same and different pairs."""

from pathlib import Path

import numpy as np

from caffesiam.charts.figure import figure


def plot_roc(fpr, tpr, distances, sims, report: dict, out_path, title: str = "") -> Path:
    """ROC curve with its AUC and the equal-error point, beside the distance histograms of
    same-class (sim=1) and different-class pairs with the thresholds marked."""
    with figure(out_path, 100, (12, 5), nrows=1, ncols=2) as (fig, (roc, hist)):
        _draw_roc(roc, fpr, tpr, report)
        _draw_distance_histograms(hist, np.asarray(distances), np.asarray(sims), report)
        fig.suptitle(title or f"{report['pairs']} pairs", fontsize=11)
    return Path(out_path)


def _draw_roc(roc, fpr, tpr, report: dict):
    roc.plot(fpr, tpr, color="tab:blue", lw=2, label=f"ROC, AUC = {report['auc']:.3f}")
    roc.plot([0, 1], [0, 1], color="gray", ls=":", lw=1, label="chance")
    eer = report["eer"]
    roc.plot(
        [eer],
        [1 - eer],
        "o",
        color="tab:red",
        ms=8,
        label=f"equal error rate {eer:.1%} (distance {report['eer_threshold']:.3g})",
    )
    roc.set_xlabel("false positive rate (different pairs called same)")
    roc.set_ylabel("true positive rate (same pairs called same)")
    roc.set_xlim(0, 1)
    roc.set_ylim(0, 1.01)
    roc.grid(True, alpha=0.3)
    roc.legend(loc="lower right", fontsize=9)


def _draw_distance_histograms(hist, distances: np.ndarray, sims: np.ndarray, report: dict):
    bins = np.linspace(0, np.percentile(distances, 99.5) * 1.05 + 1e-9, 60)
    for mask, name, color in (
        (sims == 1, "same class (sim=1)", "tab:green"),
        (sims != 1, "different class (sim=0)", "tab:orange"),
    ):
        hist.hist(
            np.minimum(distances[mask], bins[-1]),
            bins=bins,
            alpha=0.55,
            color=color,
            label=f"{name}: {mask.sum()}",
        )
    half = report["threshold_half_margin"]
    hist.axvline(
        half,
        color="black",
        ls="--",
        lw=1.2,
        label=f"margin/2 = {half:.3g}: accuracy {report['accuracy_half_margin']:.1%}",
    )
    best = report["best_threshold_all_pairs"]
    hist.axvline(
        best,
        color="tab:purple",
        ls="-.",
        lw=1.2,
        label=f"best threshold {best:.3g}: held-out accuracy "
        f"{report['best_threshold_accuracy']:.1%}",
    )
    hist.set_xlabel("Euclidean distance between the two features")
    hist.set_ylabel("pairs")
    hist.legend(fontsize=9)
    hist.grid(True, alpha=0.3)
