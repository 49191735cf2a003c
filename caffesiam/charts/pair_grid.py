"""A database's first pairs as a PNG grid: image A, image B and the pair's label."""

from pathlib import Path

import numpy as np

from caffesiam.charts.figure import figure


def plot_pair_grid(images_a: np.ndarray, images_b: np.ndarray, labels, out_path) -> Path:
    """PNG grid, one row per pair: image A, image B, and 'sim=1 same' or 'sim=0 different'."""
    n = len(labels)
    with figure(out_path, 80, (3, 1.5 * n), nrows=n, ncols=2, squeeze=False) as (_, axes):
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
