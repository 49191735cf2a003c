"""Matplotlib figures, each drawn by one function that writes one image file."""

from pathlib import Path

import numpy as np


def plot_pair_grid(images_a: np.ndarray, images_b: np.ndarray, labels, out_path) -> Path:
    """PNG grid, one row per pair: image A, image B, and 'sim=1 same' or 'sim=0 different'."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(labels)
    fig, axes = plt.subplots(n, 2, figsize=(3, 1.5 * n), squeeze=False)
    for row, (a, b, sim) in enumerate(zip(images_a, images_b, labels)):
        for ax, image in zip(axes[row], (a, b)):
            ax.imshow(_displayable(image), cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row][0].set_ylabel(f"sim={int(sim)}\n{'same' if sim else 'different'}", fontsize=8)
    fig.tight_layout()
    out_path = Path(out_path)
    fig.savefig(out_path, dpi=80)
    plt.close(fig)
    return out_path


def _displayable(image: np.ndarray) -> np.ndarray:
    """H x W for one channel, H x W x 3 for RGB (from C x H x W)."""
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def plot_loss_curve(metrics, out_path, title: str = "") -> Path:
    """PNG of train loss (and lr) and test outputs against iteration, from caffelog.Metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    if metrics.train:
        ax.plot([p.iteration for p in metrics.train], [p.loss for p in metrics.train],
                color="tab:blue", lw=1.2, label="train loss")
    names = sorted({name for point in metrics.test for name in point.outputs})
    for name, color in zip(names, ("tab:orange", "tab:green", "tab:red", "tab:purple")):
        points = [(p.iteration, p.outputs[name]) for p in metrics.test if name in p.outputs]
        ax.plot(*zip(*points), "o-", color=color, ms=4, lw=1.5, label=f"test {name}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    if metrics.train and min(p.loss for p in metrics.train) > 0:
        ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    last = metrics.train[-1] if metrics.train else None
    summary = f"iteration {metrics.iteration}" + (f", last train loss {last.loss:.4g}" if last else "")
    if metrics.test and metrics.test[-1].outputs:
        summary += ", last test " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.test[-1].outputs.items())
    ax.set_title(f"{title}\n{summary}" if title else summary, fontsize=10)
    lrs = [(p.iteration, p.lr) for p in metrics.train if p.lr is not None]
    if lrs:
        lr_ax = ax.twinx()
        lr_ax.plot(*zip(*lrs), color="gray", ls="--", lw=0.8, label="learning rate")
        lr_ax.set_ylabel("learning rate", color="gray")
        lr_ax.tick_params(axis="y", colors="gray")
        handles = ax.get_legend_handles_labels()[0] + lr_ax.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper right", fontsize=8)
    elif ax.lines:
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    out_path = Path(out_path)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path
