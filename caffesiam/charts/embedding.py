"""Features as a scatter coloured by class, projected to 2-D by charts.pca."""

from pathlib import Path

import numpy as np

from caffesiam.charts.figure import figure
from caffesiam.charts.pca import project_2d


def plot_embedding(features: np.ndarray, labels, class_names, out_path, title: str = "") -> Path:
    """Scatter of the (PCA-projected) features coloured by class, with a legend, like Caffe's
    notebook."""
    from matplotlib import colormaps

    points, (x_name, y_name) = project_2d(features)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    cmap = colormaps["tab10" if len(classes) <= 10 else "tab20"]
    colour = {label: cmap(k % cmap.N) for k, label in enumerate(classes)}
    # One scatter in a shuffled order, so no class is painted over by the ones drawn after it.
    order = np.random.default_rng(0).permutation(len(labels))
    with figure(out_path, 100, (8, 7)) as (_, ax):
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
