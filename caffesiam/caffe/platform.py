"""The system and the Python found here, against the ones caffesiam supports (pure but for the
reads of /etc/os-release and of caffesiam's own metadata)."""

import re
import sys
from importlib import metadata
from pathlib import Path

# The Debian releases whose fresh roots CI checks (make fresh-check RELEASE=...).
CHECKED_RELEASES = {"12": "bookworm", "13": "trixie"}
OS_RELEASE = Path("/etc/os-release")


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines, values unquoted, as os-release(5) writes them."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.lstrip().startswith("#"):
            fields[key.strip()] = value.strip().strip("\"'")
    return fields


def system_release(path: Path = OS_RELEASE) -> tuple[str, bool]:
    """(the system's name, whether CI checks it)."""
    try:
        fields = parse_os_release(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return "unknown (no /etc/os-release)", False
    name = fields.get("PRETTY_NAME") or fields.get("NAME") or "unknown"
    checked = fields.get("ID") == "debian" and fields.get("VERSION_ID") in CHECKED_RELEASES
    return name, checked


def supported_python_range(requires: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """(the oldest supported minor, the first unsupported one) from a '>=3.11,<3.14' specifier."""
    low = re.search(r">=\s*(\d+)\.(\d+)", requires)
    high = re.search(r"<\s*(\d+)\.(\d+)", requires)
    if not (low and high):
        raise ValueError(f"requires-python {requires!r} is not of the form '>=X.Y,<X.Z'")
    return (int(low[1]), int(low[2])), (int(high[1]), int(high[2]))


def python_problem(version: tuple[int, int], requires: str) -> str | None:
    """Why this Python is outside the supported range, or None when it is inside."""
    (low, high) = supported_python_range(requires)
    last = (high[0], high[1] - 1)
    span = f"{low[0]}.{low[1]} to {last[0]}.{last[1]}"
    found = f"{version[0]}.{version[1]}"
    if version < low:
        return f"Python {found} is older than the supported {span}"
    if version >= high:
        return (
            f"Python {found} is newer than the supported {span}: the pinned numpy, scikit-image "
            "and Caffe's bindings are not known to install on it"
        )
    return None


def requires_python() -> str:
    """caffesiam's own Requires-Python (pyproject.toml is its one home)."""
    return metadata.metadata("caffesiam")["Requires-Python"] or ""


def this_python() -> tuple[str, str | None]:
    """(this Python's version and path, why it is outside the supported range or None)."""
    detail = f"{sys.version.split()[0]} ({sys.executable})"
    return detail, python_problem(sys.version_info[:2], requires_python())
