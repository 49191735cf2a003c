"""Files a user hands in, read with bounds; outputs checked before the work and written whole.

- `read_file`: the one reader of input files (specs, nets, solvers, pair lists, weights): a
  regular file only (no directory, FIFO or device), at most a size bound, text strictly UTF-8.
- `read_text_input`: a spec or net read once: a regular file, or a pipe (FIFO, <(...), '-').
- `open_lines`: the same checks for a file read line by line (logs), each line bounded.
- `check_output` / `check_output_dir`: is this a place a command may write? Called before work.
- `staged`: several outputs written to temporary siblings and renamed into place together.
- `make_temporary`: a temporary sibling, held (flock) by its writer for its whole life, made
  after `clear_dead_temporaries` removed those whose writer died (kill -9), in every folder
  caffesiam writes to; `folder_lock` keeps the two apart.
- `safe_name`: a name that becomes part of a path is a single, plain path component;
  `plain_name` makes one from any text.
- `cache_dir`: where downloads and builds are kept, by the rule the setup scripts follow.
- `sha256_of`: a file's digest, for manifests that name the file they were made from.
"""

import codecs
import fcntl
import hashlib
import os
import re
import select
import shutil
import stat
import tempfile
from contextlib import contextmanager, nullcontext
from pathlib import Path

from caffesiam.errors import BadInput, CaffesiamError
from caffesiam.limits import (
    LOG_LINE_CHARS,
    NAME_CHARS,
    PIPE_WAIT_S,
    PROTO_BYTES,
    TEXT_BYTES,
    size_text,
)

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
STDIN = "-"  # the path that names standard input, for the inputs that may be a pipe
# .<target>.tmp-<mkstemp's 8 characters>[<target's suffix>]: a temporary that make_temporary made
_TEMPORARY = re.compile(r"\..+\.tmp-[a-z0-9_]{8}(\.[^.]*)?", re.DOTALL)  # names may hold newlines


def _kind(mode: int) -> str:
    return next((kind for test, kind in _NOT_REGULAR if test(mode)), "not a regular file")


def _open_input(path: Path, error, what: str) -> int:
    """A read-only descriptor of whatever is at `path`, else `error`; never blocks on a FIFO."""
    try:
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError as e:
        raise error(f"{path}: no such {what}") from e
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror})") from e


def _open_regular(path: Path, error, what: str):
    """A binary file object of the regular file at `path`, else `error`; never blocks on a FIFO."""
    fd = _open_input(path, error, what)
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


def input_name(path) -> str:
    """How messages name an input: '<stdin>' for STDIN, else its path."""
    return "<stdin>" if str(path) == STDIN else str(path)


def is_pipe(path) -> bool:
    """True for STDIN and for a path that is a FIFO (a named pipe, or bash's <(...))."""
    if str(path) == STDIN:
        return True
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def refuse_pipe(path, error, why: str):
    """`error` when `path` is STDIN or a pipe, with `why` it must be a file that stays."""
    if is_pipe(path):
        raise error(f"{input_name(path)}: is a pipe, but {why}")


def read_text_input(path, error, what: str = "file") -> str:
    """The text of a spec or net that is read once: a regular file as read_file reads it, or a
    pipe (a FIFO, bash's <(...), or STDIN) read to its end under the same bound, TEXT_BYTES. A
    pipe with no writer, or one that writes nothing for PIPE_WAIT_S, is `error`, not a hang."""
    name = input_name(path)
    fd = os.dup(0) if str(path) == STDIN else _open_input(Path(path), error, what)
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            data = _read_bounded(f, name, error, what, TEXT_BYTES)
        elif stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            data = _read_pipe(fd, name, error, what)
        elif os.isatty(fd):
            raise error(f"{name}: is a terminal; pipe the {what} in, or give its path")
        else:
            raise error(f"{name}: is {_kind(mode)}, not a {what}")
    return decode_text(data, name, error)


def _read_pipe(fd: int, name: str, error, what: str) -> bytes:
    """All a pipe holds until its writers close it: each wait for more is at most PIPE_WAIT_S
    (poll, as a FIFO opened without a writer reads as empty rather than blocking)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    chunks, size = [], 0
    while True:
        if not poller.poll(int(PIPE_WAIT_S * 1000)):
            if size:
                raise error(f"{name}: the pipe stopped for {PIPE_WAIT_S} s before its end")
            kind = "a pipe" if name == input_name(STDIN) else "a FIFO (named pipe)"
            raise error(f"{name}: is {kind} and nothing was written to it within {PIPE_WAIT_S} s")
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            continue
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > TEXT_BYTES:
            raise error(f"{name}: larger than {size_text(TEXT_BYTES)}, more than any {what} needs")


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


# The temporaries this process holds, by descriptor: their (device, inode). Over NFS a flock is
# a POSIX lock, which never conflicts within its own process, so probing one of ours would find
# it free (and closing the probe would drop our hold): they are never probed.
_HELD: dict[int, tuple[int, int]] = {}


def _flock(fd: int, wait: bool = True) -> bool | None:
    """Take the exclusive flock of `fd`: True once taken; False when another holds it (not
    waiting); None where the filesystem takes none (some network ones)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


@contextmanager
def folder_lock(folder):
    """Exclusive flock on the directory `folder` for the block. A folder that may be written but
    not read stays unlocked: no one can list it, so no one can clear temporaries in it."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except PermissionError:
        yield
        return
    try:
        _flock(fd)
        yield
    finally:
        os.close(fd)


def _writer_gone(path: Path) -> bool:
    """True when no live process holds the flock of the temporary `path` (False when that cannot
    be told)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return _flock(fd, wait=False) is True
    finally:
        os.close(fd)


def clear_dead_temporaries(folder) -> list[Path]:
    """Remove the temporaries in `folder` whose writer is gone (killed, or crashed); returns what
    went. A live writer holds its temporary's flock, so its files stay. Hold folder_lock."""
    removed, ours = [], set(_HELD.values())
    try:
        entries = [e for e in os.scandir(folder) if _TEMPORARY.fullmatch(e.name)]
    except OSError:
        return removed
    for entry in entries:
        path = Path(entry.path)
        is_dir = entry.is_dir(follow_symlinks=False)
        if not (is_dir or entry.is_file(follow_symlinks=False)):
            continue
        identity = entry.stat(follow_symlinks=False)
        if (identity.st_dev, identity.st_ino) in ours or not _writer_gone(path):
            continue
        if is_dir:
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def make_temporary(target, directory: bool = False, error=CaffesiamError) -> tuple[Path, int]:
    """(a new temporary file, or directory, beside `target`; the descriptor that holds its flock).
    Made under the folder lock after the folder's dead temporaries were cleared, so that no
    cleaner ever sees it unheld; release_temporary(descriptor) once it is renamed or removed.
    In a folder that is itself a temporary (a sweep directory being made) only its writer makes
    or clears anything, and its hold is the folder's flock: there it is made without either.
    `error` names `target` when the folder cannot take it."""
    target = Path(target)
    prefix = f".{target.name}.tmp-"
    in_temporary = _TEMPORARY.fullmatch(target.parent.name) is not None or _held_here(target.parent)
    try:
        with nullcontext() if in_temporary else folder_lock(target.parent):
            if not in_temporary:
                clear_dead_temporaries(target.parent)
            if directory:
                tmp = tempfile.mkdtemp(prefix=prefix, dir=target.parent)
                fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            else:
                fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=target.suffix, dir=target.parent)
            _flock(fd, wait=False)  # new, so no one else holds it
            identity = os.fstat(fd)
    except OSError as e:
        raise error(f"cannot write {target}: {e.strerror or e}") from e
    _HELD[fd] = (identity.st_dev, identity.st_ino)
    return Path(tmp), fd


def _held_here(folder: Path) -> bool:
    """True when `folder` is a temporary this process holds: locking it again would wait on
    ourselves (flocks on two descriptors of one file conflict, even in one process)."""
    try:
        identity = os.stat(folder)
    except OSError:
        return False
    return (identity.st_dev, identity.st_ino) in _HELD.values()


def release_temporary(hold: int):
    """Let go of a temporary that make_temporary made (by the descriptor it gave), once it is
    renamed into place or removed."""
    _HELD.pop(hold, None)
    os.close(hold)


class _Staging:
    """Callable: stage(target, mode) -> a new temporary sibling of target with the same suffix,
    which becomes target with `mode` (default_mode() when None)."""

    def __init__(self):
        self.temps: dict[Path, Path] = {}
        self.modes: dict[Path, int] = {}
        self.holds: list[int] = []

    def __call__(self, target, mode: int | None = None) -> Path:
        target = Path(target)
        tmp, hold = make_temporary(target)
        self.holds.append(hold)
        self.temps[target] = tmp
        if mode is not None:
            self.modes[target] = mode
        return tmp

    @property
    def targets(self):
        """The targets staged so far, in order."""
        return list(self.temps)

    def publish(self):
        """Every temporary renamed onto its target; first BadInput, with none renamed, when a
        target has become a directory (a rename cannot replace it)."""
        for target in self.temps:
            if target.is_dir() and not target.is_symlink():
                raise BadInput(f"cannot write {target}: it is a directory")
        mode = default_mode()
        for target, tmp in self.temps.items():
            os.chmod(tmp, self.modes.get(target, mode))
            os.replace(tmp, target)


@contextmanager
def staged(outer=None):
    """Yields stage(target, mode=None) -> temporary path to write `target` to. When the block
    ends, every staged target is replaced by its temporary at once; when it raises, none is
    touched and the temporaries are removed. A write that fails (disk full) is a CaffesiamError
    naming the target. Given the `stage` of an enclosing staged() block, yields that instead, so
    that what is staged here is published with the rest of it.
    """
    if outer is not None:
        yield outer
        return
    staging = _Staging()
    try:
        try:
            yield staging
        except OSError as e:
            targets = list(staging.temps)
            if not targets or (e.filename and Path(e.filename) not in staging.temps.values()):
                raise
            raise CaffesiamError(f"cannot write {targets[-1]}: {e.strerror or e}") from e
        staging.publish()
    finally:
        for tmp in staging.temps.values():
            if os.path.lexists(tmp):
                os.unlink(tmp)
        for hold in staging.holds:
            release_temporary(hold)


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
