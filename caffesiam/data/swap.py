"""A database appears whole or not at all: built in a temporary sibling with its manifest, then
renamed into place; a database it replaces is removed only after the swap."""

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from caffesiam.data.manifest import manifest_path_for
from caffesiam.errors import DatabaseError, OutputExists


def check_output(path, force: bool = False):
    """OutputExists when the database or its manifest is already there and not `force`."""
    path = Path(path)
    if (path.exists() or manifest_path_for(path).exists()) and not force:
        raise OutputExists(f"{path} already exists; pass --force to replace it")


@contextmanager
def swapped_in(path: Path):
    """Yields (temporary directory, temporary manifest path) beside `path`. When the block ends,
    both are renamed into place; when it raises (KeyboardInterrupt and SIGTERM's SystemExit too),
    both are removed and whatever was at `path` is untouched."""
    tmp = _make_temp_sibling(path)
    tmp_manifest = tmp.with_name(tmp.name + ".json")
    try:
        yield tmp, tmp_manifest
        _replace(tmp, path)
        os.replace(tmp_manifest, manifest_path_for(path))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp_manifest.unlink(missing_ok=True)
        raise


def _make_temp_sibling(path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    except OSError as e:
        raise DatabaseError(f"cannot write to {path.parent}: {e.strerror}") from e


def _replace(tmp: Path, path: Path):
    """Move the finished database into place; the old one is only removed after the swap."""
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        os.replace(path, old / "db")
    os.replace(tmp, path)
    if old:
        shutil.rmtree(old, ignore_errors=True)
