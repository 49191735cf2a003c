"""Small file writes that never leave half a file behind."""

import os
import tempfile
from pathlib import Path

from caffesiam.errors import BadInput


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
