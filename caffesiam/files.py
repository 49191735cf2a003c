"""Files read with errors that name them, and small writes that never leave half a file behind."""

import os
import tempfile
from pathlib import Path

from caffesiam.errors import BadInput


def read_file(path, error, what: str = "file", binary: bool = False):
    """The text (or bytes) of the file at `path`; `error` names the path when it is missing or unreadable."""
    path = Path(path)
    try:
        return path.read_bytes() if binary else path.read_text()
    except FileNotFoundError as e:
        raise error(f"{path}: no such {what}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from e


def write_text_atomic(path, text: str):
    """Write `text` to `path` through a temporary sibling and a rename."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    except OSError as e:
        raise BadInput(f"cannot write {path}: {e.strerror}") from e
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
