"""A plan of (i, j, sim) rows and its images -> a pair (or triplet) database with its manifest."""

import errno
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from caffesiam.data.backends import BACKENDS, DEFAULT_BACKEND
from caffesiam.data.datum import encode_stacked_datums
from caffesiam.data.manifest import describe
from caffesiam.data.store import RecordWriter
from caffesiam.data.swap import check_db_output, swapped_in
from caffesiam.errors import DiskFull
from caffesiam.limits import free_space, size_text

BATCH = 512  # records per write batch: small, so memory stays flat whatever --pairs is
RECORD_OVERHEAD = 48  # bytes per record beyond its pixels: key, Datum fields, table entries


def db_bytes(image_bytes: int, rows: int, per_record: int) -> int:
    """About how many bytes a database of `rows` records of `per_record` images takes on disk."""
    return rows * (per_record * image_bytes + RECORD_OVERHEAD)


def write_pair_db(
    path,
    images: np.ndarray,
    plan: np.ndarray,
    backend: str = DEFAULT_BACKEND,
    force: bool = False,
    manifest: dict | None = None,
    progress: Callable[[int], None] | None = None,
    transform: Callable[[np.ndarray, int], np.ndarray] | None = None,
) -> dict:
    """Write one record per plan row [i, j, sim] (triplets: [a, p, n, 0]) at `path`; returns
    the manifest, written beside it.

    `transform(images, key)`, if given, replaces each gathered batch of images before encoding
    (augmentation); `key` is unique to the batch and column, so it can seed the change.

    Built in a temporary sibling and renamed into place only when complete, so an interrupt or
    crash leaves nothing at `path` and any existing database untouched.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    path = Path(path)
    check_db_output(path, force)
    free = free_space(path.parent)
    try:
        with swapped_in(path, force) as (tmp, tmp_manifest):
            _write_records(tmp, backend, images, plan, progress, transform)
            record = describe(images, plan, backend, manifest or {})
            tmp_manifest.write_text(json.dumps(record, indent=2) + "\n")
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        need = db_bytes(images[0].nbytes, len(plan), plan.shape[1] - 1)
        raise DiskFull(
            f"disk full while writing {path}: its {len(plan):,} records take about "
            f"{size_text(need)} and {backend} needs working room beyond them; "
            f"{size_text(free)} was free when it started; nothing was left behind"
        ) from e
    return record


def _write_records(target: Path, backend, images, plan, progress, transform=None):
    rows, per_record = len(plan), plan.shape[1] - 1
    with RecordWriter(target, backend, images, rows, per_record) as put_batch:
        for start in range(0, rows, BATCH):
            part = plan[start : start + BATCH]
            # plan rows: image indices (2 for a pair, 3 for a triplet), then the label
            stacks = [images[col] for col in part[:, :-1].T]
            if transform:
                stacks = [
                    transform(stack, start * per_record + k) for k, stack in enumerate(stacks)
                ]
            encoded = encode_stacked_datums(stacks, part[:, -1])
            put_batch(start, encoded)
            if progress:
                progress(len(part))


def write_manifest(path, record: dict):
    Path(path).write_text(json.dumps(record, indent=2) + "\n")
