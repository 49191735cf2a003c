"""sweep.scripts: command.sh and the Slurm array script quote every value, and free text stays
in comments that no line break can end."""

import shlex
from pathlib import Path

import pytest

from caffesiam.sweep.expand import Point
from caffesiam.sweep.scripts import batch_script, command_script, comment

HOSTILE = "x\ntouch INJECTED #\r\u2028y'\"$(id)`id`;|&"
CAFFESIAM = ["/opt/my env/bin/caffesiam"]


def commands_of(script: str) -> list[list[str]]:
    """The simple commands sh would run: words split as sh splits them (quotes, backslashes,
    `#` comments at a word's start), a newline or `;` ending a command. Expansions ($...) are
    kept as written. Enough of sh for these scripts, which use nothing else."""
    commands, words, word, in_word = [], [], "", False
    i = 0
    while i < len(script):
        c = script[i]
        if c == "'":
            end = script.index("'", i + 1)
            word, in_word, i = word + script[i + 1 : end], True, end + 1
            continue
        if c == '"':
            i += 1
            while script[i] != '"':
                if script[i] == "\\" and script[i + 1] in '$`"\\\n':
                    i += 1
                word, i = word + script[i], i + 1
            in_word, i = True, i + 1
            continue
        if c == "\\":
            word, in_word, i = word + script[i + 1], True, i + 2
            continue
        if c == "#" and not in_word:
            i = script.find("\n", i) if "\n" in script[i:] else len(script)
            continue
        if c in " \t\n;":
            if in_word:
                words.append(word)
            word, in_word = "", False
            if c in "\n;" and words:
                commands.append(words)
                words = []
        else:
            word, in_word = word + c, True
        i += 1
    return commands + ([words + [word]] if in_word else [words] if words else [])


def point(settings=None) -> Point:
    p = Point(3, "3_x", {}, settings or {"spec": HOSTILE, "margin": 1.0}, {})
    p.commands = {
        "gen-net": ["gen-net", HOSTILE, "--train-source", "a b", "-o", "net.prototxt"],
        "gen-net --deploy": ["gen-net", HOSTILE, "--deploy", "-o", "deploy.prototxt"],
        "gen-solver": ["gen-solver", "net.prototxt", "-o", "solver.prototxt"],
        "train": ["train", "solver.prototxt", "--out", "train", "--docker", HOSTILE],
        "evaluate": ["evaluate", "--db", HOSTILE],
    }
    return p


def test_comment_is_one_line_whatever_the_text():
    line = comment(HOSTILE)
    assert line.splitlines() == [line] and "\n" not in line and line.startswith("# ")
    assert "\\n" in line and "\\r" in line and "\\u2028" in line  # shown, not obeyed


def test_command_sh_runs_exactly_cd_train_evaluate_with_every_value_intact():
    script = command_script(point(), Path(f"/sweeps/{HOSTILE}/3_x"), HOSTILE, CAFFESIAM)
    assert script.startswith("#!/bin/sh\n")
    assert commands_of(script) == [
        ["set", "-e"],
        ["cd", f"/sweeps/{HOSTILE}/3_x"],
        [*CAFFESIAM, "train", "solver.prototxt", "--out", "train", "--docker", HOSTILE],
        [*CAFFESIAM, "evaluate", "--db", HOSTILE],
    ]


def test_the_parser_splits_as_sh_does_and_would_see_an_injected_line():
    text = 'a \'b c\'\n# x\nd "e\\"f" g\\ h; i#j\n' + "echo x\ntouch INJECTED\n"
    assert commands_of(text) == [
        ["a", "b c"],
        ["d", 'e"f', "g h"],
        ["i#j"],
        ["echo", "x"],
        ["touch", "INJECTED"],
    ]


def test_the_commented_commands_read_back_as_the_points_argv():
    """The comments show each command that made the files: one line each, quoted as typed."""
    p = point({"margin": 1.0})
    p.commands["gen-net"][1] = "/towers/my tower.yaml"
    script = command_script(p, Path("/s/3_x"), "name", CAFFESIAM)
    made = [line[4:] for line in script.splitlines() if line.startswith("#   ")]
    assert shlex.split(made[0]) == [*CAFFESIAM, *p.commands["gen-net"]]
    assert len(made) == 3


@pytest.mark.parametrize("where", [Path("/s"), Path(f"/with space/{HOSTILE}")])
def test_batch_script_quotes_the_sweep_directory_and_reads_the_task_id(where):
    script = batch_script(where, CAFFESIAM)
    commands = commands_of(script)
    assert commands[:2] == [
        ["export", "OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}"],
        ["export", "OPENBLAS_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}"],
    ]
    assert commands[2:] == [
        ["exec", *CAFFESIAM, "sweep", "run-point", str(where), "$SLURM_ARRAY_TASK_ID"]
    ]


def test_comment_shows_control_and_format_characters_escaped():
    line = comment("a\x1b[2Jb\x00c\x07d\x7fe\x9bf\tg\u202eh é")
    assert line == "# a\\x1b[2Jb\\x00c\\x07d\\x7fe\\x9bf\\tg\\u202eh é"
