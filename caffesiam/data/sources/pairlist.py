"""Explicit pair lists (`path1 path2 label` per line, as Caffe PR #2570 proposed) -> images and
a plan."""

from pathlib import Path

import numpy as np

from caffesiam.data.sources.folders import decode_images
from caffesiam.data.sources.imageset import ImageSet
from caffesiam.errors import DatasetError
from caffesiam.files import read_file
from caffesiam.limits import PAIR_LIST_BYTES


def read_pair_list(list_path):
    """(unique image paths, plan rows [i, j, sim]) from the list; relative paths start at its
    folder."""
    list_path = Path(list_path)
    lines = read_file(list_path, DatasetError, "pair list", limit=PAIR_LIST_BYTES).splitlines()
    index, paths, plan = {}, [], []
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        where = f"{list_path}:{number}"
        if len(fields) != 3:
            raise DatasetError(f"{where}: expected 'path1 path2 label', got {line.strip()!r}")
        if fields[2] not in ("0", "1"):
            raise DatasetError(f"{where}: label must be 0 or 1 (1 = same class), got {fields[2]!r}")
        row = []
        for name in fields[:2]:
            path = list_path.parent / name
            if not path.is_file():
                raise DatasetError(f"{where}: no such image file {path}")
            if path not in index:
                index[path] = len(paths)
                paths.append(path)
            row.append(index[path])
        plan.append(row + [int(fields[2])])
    if not plan:
        raise DatasetError(f"{list_path}: no pairs listed")
    return paths, np.asarray(plan, dtype=np.int64)


def load_pair_list(list_path, size=None, gray=True, strict=False, progress=None):
    """(ImageSet of the listed images, plan); pairs naming an undecodable image are dropped."""
    paths, plan = read_pair_list(list_path)
    images, ok = decode_images(paths, size, gray, strict, progress)
    new_index = np.cumsum(ok) - 1  # position of each readable image among the kept ones
    keep = ok[plan[:, 0]] & ok[plan[:, 1]]
    plan = np.column_stack([new_index[plan[keep, 0]], new_index[plan[keep, 1]], plan[keep, 2]])
    if not len(plan):
        raise DatasetError(f"{list_path}: every pair names an undecodable image")
    labels = np.full(len(images), -1, dtype=np.int64)  # a list carries pair labels, not classes
    return ImageSet(images, labels, str(list_path), skipped=int((~ok).sum())), plan
