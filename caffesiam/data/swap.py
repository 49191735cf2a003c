"""A database appears whole or not at all: built in a temporary sibling with its manifest, then
renamed into place; a database it replaces is removed only after the swap.

Three locks keep builds, crashes and trainings apart (flock and fcntl locks are dropped by the
kernel when their holder dies, so a crash never leaves one behind):
- the output's folder (flock on the directory) is held briefly while a temporary is made, while
  stale temporaries are cleared, and while a finished database is checked and renamed into place,
  so of two builds of one output without --force exactly one wins;
- each temporary (flock on it) is held by its writer for its whole life, so a later build
  removes the temporaries of writers that died (kill -9) and never a live one: the rule of
  files.make_temporary, which every command that writes follows;
- a database to be replaced must not be open elsewhere (probe.open_elsewhere), so --force
  never pulls a LevelDB out from under a running `caffe train`.
"""

import glob
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from caffesiam.data.backends import BACKENDS
from caffesiam.data.manifest import manifest_path_for
from caffesiam.data.probe import is_database, open_elsewhere
from caffesiam.errors import DatabaseError, OutputExists
from caffesiam.files import (
    clear_dead_temporaries,
    default_mode,
    folder_lock,
    make_temporary,
    release_temporary,
)

_OLD = ".old-"  # .<name>.old-XXXX/db: a replaced database, removed once the new one is in place


def check_db_output(path, force: bool = False):
    """OutputExists when the database or its manifest is already there and not `force`; with
    `force`, DatabaseError when what is there is not a database or is open in another process.
    What dead builds left beside it is cleared first (clear_stale), so the answer is the truth."""
    path = Path(path)
    if not path.parent.is_dir():
        return
    with folder_lock(path.parent):
        clear_stale(path)
        _check_replaceable(path, force)


def _check_replaceable(path: Path, force: bool):
    if not (os.path.lexists(path) or manifest_path_for(path).exists()):
        return
    if not force:
        raise OutputExists(f"{path} already exists; pass --force to replace it")
    if path.is_dir() and any(path.iterdir()) and not any(is_database(path, b) for b in BACKENDS):
        raise OutputExists(f"{path} exists and is not a database; --force replaces only databases")
    lock = open_elsewhere(path)
    if lock:
        raise DatabaseError(
            f"{path} is open in another process ({lock} is locked, e.g. by a "
            f"running caffe train); wait for it to finish, or build elsewhere"
        )


def clear_stale(path: Path) -> list[Path]:
    """Remove what dead builds of `path` left beside it; returns what went. Hold folder_lock.

    Temporaries whose writer is gone are removed (files.clear_dead_temporaries). A replaced
    database left aside by a build killed between its two renames is put back when nothing took
    its place.
    """
    removed = clear_dead_temporaries(path.parent)
    for old in map(Path, glob.glob(str(path.parent / f".{glob.escape(path.name)}{_OLD}*"))):
        if (old / "db").exists() and not os.path.lexists(path):
            os.replace(old / "db", path)
        shutil.rmtree(old, ignore_errors=True)
        removed.append(old)
    return removed


@contextmanager
def swapped_in(path: Path, force: bool = False):
    """Yields (temporary directory, temporary manifest path) beside `path`. When the block ends,
    both are renamed into place (checked again, under the folder lock, against a build that
    finished first); when it raises (KeyboardInterrupt and SIGTERM's SystemExit too), both are
    removed and whatever was at `path` is untouched."""
    tmp, tmp_manifest, holds = _make_temp_siblings(path)
    try:
        yield tmp, tmp_manifest
        os.chmod(tmp, default_mode(directory=True))
        os.chmod(tmp_manifest, default_mode())
        with folder_lock(path.parent):
            _check_replaceable(path, force)
            _replace(tmp, path)
            os.replace(tmp_manifest, manifest_path_for(path))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp_manifest.unlink(missing_ok=True)
        raise
    finally:
        for hold in holds:
            release_temporary(hold)


def _make_temp_siblings(path: Path):
    """(temporary directory, temporary manifest, the descriptors that hold their flocks), made by
    files.make_temporary once what dead builds of `path` left is cleared."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with folder_lock(path.parent):
            clear_stale(path)
    except OSError as e:
        raise DatabaseError(f"cannot write to {path.parent}: {e.strerror}") from e
    tmp, hold = make_temporary(path, directory=True, error=DatabaseError)
    try:
        manifest, manifest_hold = make_temporary(manifest_path_for(path), error=DatabaseError)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        release_temporary(hold)
        raise
    return tmp, manifest, [hold, manifest_hold]


def _replace(tmp: Path, path: Path):
    """Move the finished database into place; the old one is only removed after the swap."""
    old = None
    if os.path.lexists(path):
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}{_OLD}", dir=path.parent))
        os.replace(path, old / "db")
    os.replace(tmp, path)
    if old:
        shutil.rmtree(old, ignore_errors=True)
