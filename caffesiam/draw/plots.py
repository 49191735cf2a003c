"""Matplotlib figures, each drawn by one function that writes one PNG.

Figures are built with matplotlib's object API (matplotlib.figure.Figure), not pyplot: no
backend is chosen for the whole process and no figure stays registered, so a plot has no
side effects beyond its file.
"""

from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def _figure(out_path, dpi: int, figsize, **subplots):
    """Yields (figure, fig.subplots(**subplots)); laid out and saved to `out_path` after the block."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    yield fig, fig.subplots(**subplots)
    fig.tight_layout()
    fig.savefig(out_path, dpi=dpi)


def plot_pair_grid(images_a: np.ndarray, images_b: np.ndarray, labels, out_path) -> Path:
    """PNG grid, one row per pair: image A, image B, and 'sim=1 same' or 'sim=0 different'."""
    n = len(labels)
    with _figure(out_path, 80, (3, 1.5 * n), nrows=n, ncols=2, squeeze=False) as (_, axes):
        for row, (a, b, sim) in enumerate(zip(images_a, images_b, labels)):
            for ax, image in zip(axes[row], (a, b)):
                ax.imshow(_displayable(image), cmap="gray", vmin=0, vmax=255)
                ax.set_xticks([])
                ax.set_yticks([])
            axes[row][0].set_ylabel(f"sim={int(sim)}\n{'same' if sim else 'different'}", fontsize=8)
    return Path(out_path)


def _displayable(image: np.ndarray) -> np.ndarray:
    """H x W for one channel, H x W x 3 for RGB (from C x H x W)."""
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def plot_loss_curve(metrics, out_path, title: str = "") -> Path:
    """PNG of train loss (and lr) and test outputs against iteration, from train.log.Metrics.
    Non-finite values (a diverging run) are left out, and a red line marks where they start."""
    train = [(p.iteration, p.loss) for p in metrics.train if np.isfinite(p.loss)]
    with _figure(out_path, 100, (8, 4.5)) as (_, ax):
        if train:
            ax.plot(*zip(*train), color="tab:blue", lw=1.2, label="train loss")
        names = sorted({name for point in metrics.test for name in point.outputs})
        for name, color in zip(names, ("tab:orange", "tab:green", "tab:red", "tab:purple")):
            points = [
                (p.iteration, p.outputs[name])
                for p in metrics.test
                if np.isfinite(p.outputs.get(name, np.nan))
            ]
            if points:
                ax.plot(*zip(*points), "o-", color=color, ms=4, lw=1.5, label=f"test {name}")
        if metrics.diverged:
            ax.axvline(
                metrics.diverged.iteration,
                color="tab:red",
                lw=1.5,
                label=f"diverged (loss {metrics.diverged.loss})",
            )
        ax.set_xlabel("iteration")
        ax.set_ylabel("loss")
        if train and min(loss for _, loss in train) > 0:
            ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(
            f"{title}\n{_run_summary(metrics)}" if title else _run_summary(metrics), fontsize=10
        )
        _add_lr_axis_and_legend(ax, metrics)
    return Path(out_path)


def _run_summary(metrics) -> str:
    last = metrics.train[-1] if metrics.train else None
    summary = f"iteration {metrics.iteration}" + (
        f", last train loss {last.loss:.4g}" if last else ""
    )
    if metrics.diverged:
        summary += f", diverged at iteration {metrics.diverged.iteration}"
    if metrics.test and metrics.test[-1].outputs:
        summary += ", last test " + ", ".join(
            f"{k} {v:.4g}" for k, v in metrics.test[-1].outputs.items()
        )
    return summary


def _add_lr_axis_and_legend(ax, metrics):
    lrs = [(p.iteration, p.lr) for p in metrics.train if p.lr is not None and np.isfinite(p.lr)]
    if lrs:
        lr_ax = ax.twinx()
        lr_ax.plot(*zip(*lrs), color="gray", ls="--", lw=0.8, label="learning rate")
        lr_ax.set_ylabel("learning rate", color="gray")
        lr_ax.tick_params(axis="y", colors="gray")
        handles = ax.get_legend_handles_labels()[0] + lr_ax.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper right", fontsize=8)
    elif ax.lines:
        ax.legend(loc="upper right", fontsize=8)


def plot_loss_panels(panels: dict, out_path, title: str) -> Path:
    """Test loss against iteration, one panel per {panel title: [(line label, [(iteration, loss)])]},
    on a log scale (with plain numbers) when the losses are positive."""
    from matplotlib import colormaps
    from matplotlib.ticker import FormatStrFormatter

    widest = max((len(lines) for lines in panels.values()), default=1)
    colors = colormaps["tab20" if widest > 10 else "tab10"]
    n = max(len(panels), 1)
    with _figure(out_path, 100, (7.5 * n, 6), nrows=1, ncols=n, squeeze=False) as (fig, axes):
        for ax, (name, lines) in zip(axes[0], panels.items()):
            for k, (label, curve) in enumerate(lines):
                if curve:
                    ax.plot(
                        *zip(*curve), "o-", ms=3, lw=1.2, color=colors(k % colors.N), label=label
                    )
            ax.set_title(name, fontsize=11)
            ax.set_xlabel("iteration")
            ax.set_ylabel("test loss")
            if any(loss > 0 for _, curve in lines for _, loss in curve):
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
                ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))
            ax.grid(True, which="both", alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7, loc="upper right")
        fig.suptitle(title, fontsize=12)
    return Path(out_path)


def plot_accuracy_bars(bars, out_path, title: str) -> Path:
    """Horizontal bars of (label, accuracy in %), in the order given (the last at the top)."""
    longest = max((len(label) for label, _ in bars), default=0)
    width = max(
        10.0, 6.0 + 0.07 * longest
    )  # the labels (8 pt, about 0.07 in a character) and 6 in of bars
    with _figure(out_path, 100, (width, 1.2 + 0.3 * max(len(bars), 1))) as (_, ax):
        if bars:
            labels, accuracies = zip(*bars)
            ax.barh(range(len(bars)), accuracies, color="tab:blue")
            ax.set_yticks(range(len(bars)), labels, fontsize=8)
            for y, value in enumerate(accuracies):
                ax.text(value, y, f" {value:.2f}%", va="center", fontsize=8)
            low = min(accuracies)
            ax.set_xlim(max(0.0, low - 0.25 * (100 - low) - 1), 100)
        else:
            ax.text(
                0.5,
                0.5,
                "no point has finished yet",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
        ax.set_xlabel(
            "held-out pair accuracy (%)\n(the threshold chosen on the other half of the test pairs)"
        )
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_title(title, fontsize=11)
    return Path(out_path)


def project_2d(features: np.ndarray):
    """(N x 2 points, axis names): the features themselves when 2-D, else their top two PCA axes."""
    features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    if features.shape[1] <= 2:
        points = np.zeros((len(features), 2))
        points[:, : features.shape[1]] = features
        return points, ("feature 1", "feature 2")
    centred = features - features.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    share = s**2 / max((s**2).sum(), 1e-12)
    return centred @ vt[:2].T, tuple(f"PC{k + 1} ({share[k]:.0%} of variance)" for k in range(2))


def plot_embedding(features: np.ndarray, labels, class_names, out_path, title: str = "") -> Path:
    """Scatter of the (PCA-projected) features coloured by class, with a legend, like Caffe's notebook."""
    from matplotlib import colormaps

    points, (x_name, y_name) = project_2d(features)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    cmap = colormaps["tab10" if len(classes) <= 10 else "tab20"]
    colour = {label: cmap(k % cmap.N) for k, label in enumerate(classes)}
    # One scatter in a shuffled order, so no class is painted over by the ones drawn after it.
    order = np.random.default_rng(0).permutation(len(labels))
    with _figure(out_path, 100, (8, 7)) as (_, ax):
        ax.scatter(
            points[order, 0],
            points[order, 1],
            s=4 if len(labels) > 3000 else 10,
            alpha=0.6,
            lw=0,
            c=[colour[label] for label in labels[order]],
        )
        for label in classes:
            name = class_names[label] if 0 <= label < len(class_names) else str(label)
            ax.scatter(
                [], [], s=30, color=colour[label], label=f"{name} ({(labels == label).sum()})"
            )
        ax.set_aspect("equal", adjustable="datalim")  # distances look like distances
        ax.set_xlabel(x_name)
        ax.set_ylabel(y_name)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9, frameon=False)
        ax.set_title(title or f"{len(labels)} images, {features.shape[1]}-D features", fontsize=10)
        ax.grid(True, alpha=0.3)
    return Path(out_path)


def plot_roc(fpr, tpr, distances, sims, report: dict, out_path, title: str = "") -> Path:
    """ROC curve with its AUC and the equal-error point, beside the distance histograms of
    same-class (sim=1) and different-class pairs with the thresholds marked."""
    with _figure(out_path, 100, (12, 5), nrows=1, ncols=2) as (fig, (roc, hist)):
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
