"""Features in two dimensions for a scatter plot: their top two principal axes (pure numpy)."""

import numpy as np


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
