"""The JSON manifest beside each database (<db>.json): what was written, from what, how labelled.

Pure: data.write writes it, data.read reads it back, held to MANIFEST_SCHEMA.
"""

from pathlib import Path

import numpy as np

from caffesiam import __version__
from caffesiam.data.backends import BACKENDS
from caffesiam.errors import DatabaseError
from caffesiam.schema import Field, Schema, integer, list_of, text

_SHAPE = list_of(integer(1), low=1)
MANIFEST_SCHEMA = Schema(  # the fields `describe` writes; a manifest from before triplets has pairs
    "database manifest",
    (
        Field("backend", text(*BACKENDS), required=False),
        Field("records", integer(0), required=False),
        Field("images_per_record", integer(2, 3), required=False, default=2),
        Field("image_shape", _SHAPE, required=False),
        Field("record_shape", _SHAPE, required=False),
        Field("positives", integer(0), required=False),
        Field("negatives", integer(0), required=False),
        Field("label_convention", text(), required=False),
        Field("caffesiam_version", text(), required=False),
    ),
    DatabaseError,
)


def manifest_path_for(db_path) -> Path:
    """The JSON manifest that sits next to a database: <db>.json."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".json")


def describe(images: np.ndarray, plan: np.ndarray, backend: str, extra: dict) -> dict:
    """The manifest of a database of `plan`'s records of `images` (pure)."""
    sims, per_record = plan[:, -1], plan.shape[1] - 1
    labels = (
        {
            "positives": int(sims.sum()),
            "negatives": int(len(plan) - sims.sum()),
            "label_convention": "sim=1 means the two images show the same class",
        }
        if per_record == 2
        else {
            "label_convention": "unused (0); channels hold anchor, positive (same class), "
            "negative (another class)"
        }
    )
    return {
        **extra,
        "backend": backend,
        "records": int(len(plan)),
        "images_per_record": per_record,
        "image_shape": [int(d) for d in images.shape[1:]],
        "record_shape": [per_record * int(images.shape[1])] + [int(d) for d in images.shape[2:]],
        **labels,
        "caffesiam_version": __version__,
    }


def per_class(images, plan) -> dict:
    """Images and positive pairs (triplets: anchors) per class name of an ImageSet (pure)."""
    counts = np.bincount(images.labels[images.labels >= 0]) if len(images.labels) else []
    triplets = plan.shape[1] == 4
    firsts = plan[:, 0] if triplets else plan[plan[:, 2] == 1, 0]
    pos = np.bincount(images.labels[firsts], minlength=len(counts))
    key = "anchors" if triplets else "positive_pairs"
    return {
        images.class_name(c): {"images": int(n), key: int(pos[c])}
        for c, n in enumerate(counts)
        if n
    }
