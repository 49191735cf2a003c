"""The first run, step by step: where the time of `make demo` on a clean machine goes.

    scripts/fresh_check.sh --full-demo --log first_run.log
    bench/first_run_steps.py first_run.log [more logs: one column each, e.g. before and after]

Reads the stamped log of `scripts/fresh_check.sh` (each line begins `[mm:ss]`) and prints the
time of every step: the root, then each `==>` step of `make setup` and `make demo`. A step lasts
until the next one starts, except a step run alongside the build (`(alongside the build)`), which
lasts until its `==> done:` line. Steps that took under a second are left out of the table but
not of the totals.
"""

import re
import sys
from pathlib import Path

STAMP = re.compile(r"^\[(\d+):(\d\d)\] (.*)$")
ALONGSIDE = "(alongside the build)"
# Step names that change from run to run (paths, counts), shortened to what they are.
SHORTEN = [
    (re.compile(r"^fresh-check \([a-z]+\): building a minimal.*"), "Debian root (mmdebstrap)"),
    (re.compile(r"^fresh-check \([a-z]+\): cloned.*"), "clone"),
    (re.compile(r"^fresh-check \([a-z]+\): as \w+: .*"), "make (starting)"),
    (re.compile(r"^system packages: install (\d+) .*"), r"system packages: install \1"),
    (re.compile(r"^python venv .*"), "python venv"),
    (re.compile(r"^install caffesiam .*"), "install caffesiam"),
    (re.compile(r"^compile \(make .*"), "compile Caffe"),
    (re.compile(r"^caffe ready: .*"), "caffe ready"),
    (re.compile(r"^link caffe into .*"), "link caffe into the venv"),
    (re.compile(r"^3\. training .*"), "demo 3. training"),
    (re.compile(r"^(\d\. [^(]{0,60}).*"), r"demo \1"),
]


def short(name: str) -> str:
    """The step's name without what changes from run to run; ALONGSIDE marks a background step."""
    alongside = name.endswith(ALONGSIDE)
    for pattern, replacement in SHORTEN:
        if pattern.match(name):
            name = pattern.sub(replacement, name).strip()
            break
    return name + (" " + ALONGSIDE if alongside and not name.endswith(ALONGSIDE) else "")


def steps(log: Path) -> tuple[list[tuple[str, int]], int]:
    """([(step, seconds)] in order of starting, total seconds) of one fresh-check log."""
    started: list[tuple[str, int]] = []  # foreground steps, in order
    alongside: dict[str, int] = {}
    lasted: dict[str, int] = {}
    last = 0
    for line in log.read_text(errors="replace").splitlines():
        match = STAMP.match(line)
        if not match:
            continue
        now = int(match[1]) * 60 + int(match[2])
        last = now
        text = match[3]
        if text.startswith("==> done: "):
            name = short(text[len("==> done: ") :])
            if name in alongside:
                lasted[name] = now - alongside[name]
            continue
        if text.startswith("==> "):
            name = short(text[4:])
        elif text.startswith("fresh-check (") and not re.search(r"load average|times:", text):
            name = short(text)
        else:
            continue
        if name.endswith(ALONGSIDE):
            alongside[name] = now
            continue
        started.append((name, now))
    rows = []
    for i, (name, start) in enumerate(started):
        end = started[i + 1][1] if i + 1 < len(started) else last
        rows.append((name, end - start))
    rows += [(name, lasted.get(name, last - start)) for name, start in alongside.items()]
    return rows, last


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[0])
        print("usage: bench/first_run_steps.py FRESH_CHECK_LOG [...]", file=sys.stderr)
        return 2
    logs = [Path(a) for a in argv]
    for log in logs:
        if not log.is_file():
            print(f"first_run_steps: no log {log}", file=sys.stderr)
            return 2
    parsed = [steps(log) for log in logs]
    names: list[str] = []
    for rows, _ in parsed:
        names += [n for n, s in rows if s >= 1 and n not in names]
    width = max(len(n) for n in names + ["step"])
    column = max(len(log.stem) for log in logs) + 2
    print(f"{'step':<{width}}" + "".join(f"{log.stem:>{column}}" for log in logs))
    for name in names:
        cells = []
        for rows, _ in parsed:
            found = [s for n, s in rows if n == name]
            cells.append(f"{sum(found)} s" if found else "-")
        print(f"{name:<{width}}" + "".join(f"{c:>{column}}" for c in cells))
    print(f"{'total wall':<{width}}" + "".join(f"{f'{total} s':>{column}}" for _, total in parsed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
