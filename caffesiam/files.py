"""Files a user hands in, read with bounds; outputs checked before the work and written whole.

- `read_file`: the one reader of input files (specs, nets, solvers, pair lists, weights): a
  regular file only (no directory, FIFO or device), at most a size bound, text strictly UTF-8.
- `open_lines`: the same checks for a file read line by line (logs), each line bounded.
- `check_output` / `check_output_dir`: is this a place a command may write? Called before work.
- `staged`: several outputs written to temporary siblings and renamed into place together.
- `safe_name`: a name that becomes part of a path is a single, plain path component;
  `plain_name` makes one from any text.
- `cache_dir`: where downloads and builds are kept, by the rule the setup scripts follow.
- `sha256_of`: a file's digest, for manifests that name the file they were made from.
"""

import codecs
import hashlib
import os
import re
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from caffesiam.errors import BadInput, CaffesiamError
from caffesiam.limits import LOG_LINE_CHARS, NAME_CHARS, PROTO_BYTES, TEXT_BYTES, size_text

_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
# Kernel filesystems, whose files are not files: writing there changes the system, not an output.
KERNEL_FILESYSTEMS = frozenset(
    {
        "proc",
        "sysfs",
        "devtmpfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "debugfs",
        "tracefs",
        "securityfs",
        "configfs",
        "pstore",
        "bpf",
        "efivarfs",
        "mqueue",
        "fusectl",
        "binfmt_misc",
        "autofs",
        "hugetlbfs",
    }
)
_NAME_CHARACTER = "A-Za-z0-9._+-"
_NAME = re.compile(rf"[A-Za-z0-9][{_NAME_CHARACTER}]{{0,{NAME_CHARS - 1}}}\Z")


def _kind(mode: int) -> str:
    return next((kind for test, kind in _NOT_REGULAR if test(mode)), "not a regular file")


def _open_regular(path: Path, error, what: str):
    """A binary file object of the regular file at `path`, else `error`; never blocks on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError as e:
        raise error(f"{path}: no such {what}") from e
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror})") from e
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise error(f"{path}: is {_kind(mode)}, not a {what}")
    return os.fdopen(fd, "rb")


def _read_bounded(f, path: Path, error, what: str, limit: int) -> bytes:
    size = os.fstat(f.fileno()).st_size
    too_big = error(f"{path}: larger than {size_text(limit)}, more than any {what} needs")
    if size > limit:
        raise too_big
    data = f.read(size + 1) if size else f.read(limit + 1)  # files under /proc report size 0
    if size and len(data) > size:  # it grew while we read
        data += f.read(limit + 1 - len(data))
    if len(data) > limit:
        raise too_big
    return data


def decode_text(data: bytes, source, error) -> str:
    """`data` as UTF-8 text (a UTF-8 byte-order mark is dropped), else `error` naming the line."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise error(
                f"{source}: is {name} text (it starts with a byte-order mark); save it as UTF-8"
            )
    if b"\0" in data:
        line = data.count(b"\n", 0, data.index(b"\0")) + 1
        raise error(
            f"{source}:{line}: a NUL byte: this is a binary file (or UTF-16), not UTF-8 text"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise error(
            f"{source}:{line}: byte 0x{data[e.start]:02x} is not UTF-8; save the file as UTF-8 text"
        ) from None


def read_file(path, error, what: str = "file", binary: bool = False, limit: int = 0):
    """The text (or bytes) of the file at `path`, read by the rules above.

    `error` is the BadInput subclass raised, naming the path (and the line for encoding problems);
    `limit` defaults to TEXT_BYTES for text and PROTO_BYTES for binary files.
    """
    path = Path(path)
    limit = limit or (PROTO_BYTES if binary else TEXT_BYTES)
    with _open_regular(path, error, what) as f:
        try:
            data = _read_bounded(f, path, error, what, limit)
        except OSError as e:  # EISDIR-like surprises from odd filesystems
            raise error(f"{path}: cannot read ({e.strerror})") from e
    return data if binary else decode_text(data, path, error)


@contextmanager
def open_lines(path, error, what: str = "file"):
    """Yields the lines of a regular file as text (undecodable bytes replaced), each at most
    LOG_LINE_CHARS long (a longer one is split), read as they are needed."""
    with _open_regular(Path(path), error, what) as f:
        yield (
            raw.decode("utf-8", "replace") for raw in iter(lambda: f.readline(LOG_LINE_CHARS), b"")
        )


def _mounts():
    """(mount point, filesystem type) of every mount, from /proc/self/mountinfo."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
                yield Path(point), fields[fields.index("-") + 1]
    except (OSError, ValueError, IndexError):  # no /proc: the two trees every Linux has
        yield from ((Path("/proc"), "proc"), (Path("/sys"), "sysfs"))


def kernel_filesystem(resolved: Path):
    """(mount point, type) when `resolved` is on a kernel filesystem (/proc, /sys...), else None."""
    point, kind = max(
        ((p, k) for p, k in _mounts() if p == resolved or p in resolved.parents),
        key=lambda mount: len(mount[0].parts),
        default=(None, None),
    )
    return (point, kind) if kind in KERNEL_FILESYSTEMS else None


def _refuse_kernel_filesystem(path: Path, resolved: Path, error):
    found = kernel_filesystem(resolved)
    if found:
        raise error(
            f"cannot write {path}: it lies on {found[0]} ({found[1]}), a kernel "
            f"filesystem, not a place for output files"
        )


def _writable_folder(path: Path, folder: Path, error, create: bool):
    """`error` unless `folder` is (or, with `create`, can become) a folder we may write in."""
    missing = folder
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if missing != folder and not create:
        raise error(f"cannot write {path}: the folder {missing} does not exist")
    if not folder.is_dir():
        raise error(f"cannot write {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        read_only = os.statvfs(folder).f_flag & os.ST_RDONLY
        raise error(
            f"cannot write {path}: "
            + (
                f"{folder} is on a read-only filesystem"
                if read_only
                else f"no permission to write in {folder}"
            )
        )


def check_output(path, error=BadInput, parents: bool = False) -> Path:
    """`path` when a command may write a file there; `error` naming the problem otherwise.

    Its folder exists (with `parents`: is made by the command later, so the nearest existing
    one must be writable) and is writable; the path is not a directory or a device, and not on
    a kernel filesystem (/proc, /sys, /dev). Commands call this before their work, not after.
    """
    path = Path(path)
    resolved = Path(os.path.realpath(path))
    _refuse_kernel_filesystem(path, resolved, error)
    if resolved.is_dir():
        raise error(f"cannot write {path}: it is a directory; give a file name")
    if os.path.lexists(resolved) and not resolved.is_file():
        raise error(
            f"cannot write {path}: it is {_kind(os.stat(resolved).st_mode)}, not a file to replace"
        )
    _writable_folder(path, resolved.parent, error, parents)
    return path


def check_output_dir(path, error=BadInput) -> Path:
    """`path` when a command may make (or fill) a directory there; `error` otherwise."""
    path = Path(path)
    resolved = Path(os.path.realpath(path))
    _refuse_kernel_filesystem(path, resolved, error)
    if os.path.lexists(resolved) and not resolved.is_dir():
        raise error(f"cannot write {path}: it exists and is not a directory")
    _writable_folder(path, resolved, error, create=True)
    return path


def default_mode(directory: bool = False) -> int:
    """The mode a new file (or directory) gets under the process umask; temporaries made with
    mkstemp/mkdtemp are private (0600/0700) until they get this."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


class _Staging:
    """Callable: stage(target) -> a new temporary sibling of target with the same suffix."""

    def __init__(self):
        self.temps: dict[Path, Path] = {}

    def __call__(self, target) -> Path:
        target = Path(target)
        try:
            fd, tmp = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent
            )
        except OSError as e:
            raise CaffesiamError(f"cannot write {target}: {e.strerror}") from e
        os.close(fd)
        self.temps[target] = Path(tmp)
        return Path(tmp)

    @property
    def targets(self):
        """The targets staged so far, in order."""
        return list(self.temps)


@contextmanager
def staged():
    """Yields stage(target) -> temporary path to write `target` to. When the block ends, every
    staged target is replaced by its temporary at once; when it raises, none is touched and the
    temporaries are removed. A write that fails (disk full) is a CaffesiamError naming the target.
    """
    staging = _Staging()
    try:
        try:
            yield staging
        except OSError as e:
            targets = list(staging.temps)
            if not targets or (e.filename and Path(e.filename) not in staging.temps.values()):
                raise
            raise CaffesiamError(f"cannot write {targets[-1]}: {e.strerror or e}") from e
        mode = default_mode()
        for target, tmp in staging.temps.items():
            os.chmod(tmp, mode)
            os.replace(tmp, target)
    finally:
        for tmp in staging.temps.values():
            if os.path.lexists(tmp):
                os.unlink(tmp)


def write_text_atomic(path, text: str):
    """Write `text` to `path` through a temporary sibling and a rename."""
    with staged() as stage:
        stage(path).write_text(text)


def safe_name(name: str, what: str = "name") -> str:
    """`name` when it is one plain path component (letters, digits, . _ + -, not starting with a
    dot or dash, at most NAME_CHARS characters); BadInput otherwise."""
    if not _NAME.match(name or ""):
        raise BadInput(
            f"{what} {name!r} is not a plain name: use letters, digits and . _ + - "
            f"(no '/', not starting with '.' or '-', at most {NAME_CHARS} characters)"
        )
    return name


def plain_name(text: str) -> str:
    """`text`, which starts with a letter or digit, as a plain name (safe_name's): any other
    character becomes '_', and the name is cut at NAME_CHARS characters."""
    return safe_name(re.sub(f"[^{_NAME_CHARACTER}]", "_", text)[:NAME_CHARS])


def cache_dir() -> Path:
    """${CAFFESIAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caffesiam}, as scripts/setup.sh and
    scripts/install_caffe.sh compute it (an empty variable counts as unset)."""
    chosen = os.environ.get("CAFFESIAM_CACHE")
    if chosen:
        return Path(chosen)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "caffesiam"


def sha256_of(path) -> str:
    """The hex sha256 of the bytes of the file at `path`, read in blocks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
