"""What every hostile case asserts, and the state of output paths before and after."""

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Dict, Tuple

from conftest import VENV_BIN

BIG = 2**40  # beyond int32 and any memory


def run(*args, cwd=None, env=None, timeout=120, **kwargs) -> subprocess.CompletedProcess:
    """The installed caffesiam as a separate process, with a time limit (a hang fails the case)."""
    return subprocess.run([str(VENV_BIN / "caffesiam"), *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=timeout, **kwargs)


def refused(result: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """Exit `code`, exactly one line on stderr holding every one of `words`, no traceback and no
    'internal error' (the CLI's last net: a failure no check foresaw); returns that line."""
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert (result.returncode, len(lines)) == (code, 1), (result.returncode, result.stderr[-3000:])
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


Snapshot = Dict[str, Tuple[str, str]]


def snapshot(*roots) -> Snapshot:
    """Every path under `roots` (hidden ones too) -> (kind, sha1 of a file's bytes)."""
    state = {}
    for root in map(Path, roots):
        if not os.path.lexists(root):
            continue
        for path in [root, *sorted(root.rglob("*"))] if root.is_dir() else [root]:
            if path.is_file():
                state[str(path)] = ("file", hashlib.sha1(path.read_bytes()).hexdigest())
            else:
                state[str(path)] = ("dir" if path.is_dir() else "other", "")
    return state


def changes(before: Snapshot, *roots) -> set:
    """Paths under `roots` that are new, changed or gone since `before`."""
    after = snapshot(*roots)
    return {p for p, v in after.items() if before.get(p) != v} | (set(before) - set(after))
