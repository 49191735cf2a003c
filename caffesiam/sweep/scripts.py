"""The shell scripts a sweep writes: each point's command.sh and the Slurm array's script (pure).

Every interpolated value is quoted (shlex.quote); free text (the sweep's name, paths, settings)
appears only in comments, made one line of printable characters so that nothing in it can start
a line of its own or disguise the script on a terminal.
"""

import shlex
import sys
from pathlib import Path

from caffesiam.sweep.expand import GENERATE, Point, describe
from caffesiam.train.blas_threads import THREAD_VARIABLES


def caffesiam_argv() -> list[str]:
    """How to start this caffesiam: the venv's console script, else `python -m caffesiam`."""
    script = Path(sys.executable).with_name("caffesiam")
    return [str(script)] if script.exists() else [sys.executable, "-m", "caffesiam"]


def run_point_argv(sweep_dir: Path, index, caffesiam: list[str] | None = None) -> list[str]:
    """What each engine runs for point `index` of `sweep_dir`."""
    return [*(caffesiam or caffesiam_argv()), "sweep", "run-point", str(sweep_dir), str(index)]


def comment(text: str) -> str:
    """`text` as one shell comment line of printable characters, every other one escaped (\\n,
    \\x1b, \\u202e): no line break ends the comment (sh breaks at \\n, an editor at any of
    them), no control character reaches a terminal, no format character reorders the line."""
    return "# " + "".join(c if c.isprintable() else _escaped(c) for c in text)


def _escaped(character: str) -> str:
    return character.encode("unicode_escape").decode("ascii")


def command_script(
    point: Point, point_dir: Path, sweep_name: str, caffesiam: list[str] | None = None
) -> str:
    """command.sh: the commands that made this point's files (as comments), then the ones that
    run it, in its directory. `caffesiam`: how to start caffesiam (default: this one)."""
    cs = caffesiam or caffesiam_argv()
    line = lambda argv: shlex.join([*cs, *argv])  # noqa: E731
    about = f"caffesiam sweep {sweep_name}, point {point.index}: {describe(point.settings)}"
    return "\n".join(
        [
            "#!/bin/sh",
            comment(about),
            comment("The nets and the solver here are the ones these commands make here:"),
            *(comment(f"  {line(point.commands[step])}") for step in GENERATE),
            "set -e",
            f"cd {shlex.quote(str(point_dir))}",
            line(point.commands["train"]),
            line(point.commands["evaluate"]),
            "",
        ]
    )


def batch_script(sweep_dir: Path, caffesiam: list[str] | None = None) -> str:
    """The Slurm array job's script: task i runs point i, on the CPUs Slurm gave it."""
    argv = shlex.join(run_point_argv(sweep_dir, "TASK", caffesiam)[:-1])
    return "\n".join(
        [
            "#!/bin/sh",
            comment(f"caffesiam sweep: array task i runs point i of {sweep_dir}"),
            *(f"export {name}=${{SLURM_CPUS_PER_TASK:-1}}" for name in THREAD_VARIABLES),
            f'exec {argv} "$SLURM_ARRAY_TASK_ID"',
            "",
        ]
    )
