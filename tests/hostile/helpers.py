"""What every hostile case asserts, and the state of output paths before and after."""

import hashlib
import os
import subprocess
from pathlib import Path

from conftest import VENV_BIN

BIG = 2**40  # beyond int32 and any memory


def run(*args, cwd=None, env=None, timeout=120, **kwargs) -> subprocess.CompletedProcess:
    """The installed caffesiam as a separate process, with a time limit (a hang fails the case)."""
    return subprocess.run(
        [str(VENV_BIN / "caffesiam"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        **kwargs,
    )


def refused(result: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """Exit `code`, exactly one line on stderr holding every one of `words`, no traceback and no
    'internal error' (the CLI's last net: a failure no check foresaw); returns that line."""
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert (result.returncode, len(lines)) == (code, 1), (result.returncode, result.stderr[-3000:])
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


Snapshot = dict[str, tuple[str, str]]


def _records_digest(db: Path):
    """sha1 of a LevelDB's keys and values, or None when another process holds it open.
    (Opening a LevelDB rewrites its MANIFEST and LOG, so its files are no measure of its
    content.)"""
    from caffesiam.data.probe import open_elsewhere
    from caffesiam.data.store import iter_records

    if open_elsewhere(db):
        return None
    return hashlib.sha1(b"".join(k + b"=" + v for k, v in iter_records(db))).hexdigest()


def snapshot(*roots) -> Snapshot:
    """Every path under `roots` (hidden ones too) -> (kind, sha1 of a file's bytes); a LevelDB
    that can be opened counts as its records."""
    state = {}
    for root in map(Path, roots):
        if not os.path.lexists(root):
            continue
        if root.is_file():
            state[str(root)] = ("file", hashlib.sha1(root.read_bytes()).hexdigest())
            continue
        for folder, dirs, files in os.walk(root):
            state[folder] = ("dir", "")
            records = _records_digest(Path(folder)) if "CURRENT" in files else None
            if records:
                state[folder] = ("leveldb", records)
                dirs[:] = []
                continue
            for name in files:
                path = Path(folder, name)
                kind = "file" if path.is_file() else "other"
                state[str(path)] = (
                    kind,
                    hashlib.sha1(path.read_bytes()).hexdigest() if kind == "file" else "",
                )
    return state


def changes(before: Snapshot, *roots) -> set:
    """Paths under `roots` that are new, changed or gone since `before`."""
    after = snapshot(*roots)
    return {p for p, v in after.items() if before.get(p) != v} | (set(before) - set(after))
