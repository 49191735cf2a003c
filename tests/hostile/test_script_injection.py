"""Class: user text becoming shell. A sweep's names are plain names, checked where they are
read; every value its scripts (command.sh, sweep.sbatch) interpolate is quoted, and free text
sits only in comments that no character can end or disguise. The generated scripts are run here,
with caffesiam replaced by a stub that records its argv: only the commands meant to run do, with
every value intact, and nothing injected runs."""

import json
import os
import shlex
import string
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from caffesiam.files import safe_name
from caffesiam.spec.yamlload import load_yaml
from caffesiam.sweep.expand import expand
from caffesiam.sweep.scripts import caffesiam_argv, comment
from hostile.helpers import changes, refused, run, snapshot

pytestmark = [pytest.mark.caffe, pytest.mark.slow]  # one process per case

INJECT = "$(touch PWNED)`touch PWNED`;touch PWNED;'\"\n touch PWNED #"
PRINTABLE = set(string.printable) - set("\t\r\x0b\x0c")


def sweep_text(db, name=None, spec=REPO / "templates/lenet.yaml", databases=None, extra=""):
    databases = databases or {"d": {"train": str(db), "test": str(db)}}
    head = f"name: {json.dumps(name)}\n" if name is not None else ""
    return (
        f"{head}spec: {json.dumps(str(spec))}\ndatabases: {json.dumps(databases)}\n"
        "settings: {max_iter: 2, snapshot: 0}\n"
        f"{extra or 'grid: {feature_size: [2, 3]}'}\n"
    )


def dry_run_refused(tmp_path, text, *words, file_name="s.yaml"):
    sweep = tmp_path / file_name
    sweep.write_text(text)
    before = snapshot(tmp_path)
    line = refused(run("sweep", sweep, "--dry-run", cwd=tmp_path), 2, *words)
    assert changes(before, tmp_path) == set()
    assert not list(tmp_path.rglob("PWNED"))
    return line


# --- names: one rule, checked where they are read ----------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "two\nlines; touch PWNED",
        "$(touch PWNED)",
        "`touch PWNED`",
        "../up",
        "a/b",
        "-rf",
        ".hidden",
        "x" * 101,
        "tab\there",
        "esc\x1b[2J",
    ],
)
def test_a_sweep_name_that_is_not_a_plain_name_is_refused(name, tmp_path, pair_db):
    dry_run_refused(tmp_path, sweep_text(pair_db, name), "s.yaml", "sweep name", "plain name")


def test_a_sweep_named_after_an_odd_file_needs_a_name(tmp_path, pair_db):
    dry_run_refused(
        tmp_path, sweep_text(pair_db), "name:", "plain name", file_name="my sweep $(x).yaml"
    )


@pytest.mark.parametrize("name", ["a\ntouch PWNED", "a/../b", "-x"])
def test_a_database_name_that_is_not_a_plain_name_is_refused(name, tmp_path, pair_db):
    databases = {name: {"train": str(pair_db), "test": str(pair_db)}}
    dry_run_refused(
        tmp_path, sweep_text(pair_db, databases=databases), "database name", "plain name"
    )


def test_point_names_are_plain_names_whatever_the_values(tmp_path):
    """Names made from values: a spec path's odd characters and a long list stay plain."""
    specs = [f"/t/{odd}.yaml" for odd in ("a=b", "c d", "é", "$(x)", "-lead", "x" * 300)]
    doc = {
        "spec": "t.yaml",
        "databases": {"d": {"train": "a", "test": "b"}},
        "grid": {"spec": specs, "stepvalue": [list(range(1, 80)), list(range(2, 81))]},
    }
    sweep = expand(doc, "s.yaml", str(tmp_path))
    names = [p.name for p in sweep.points]
    assert [safe_name(name) for name in names] == names
    assert len(set(names)) == len(names)


# --- the scripts: every value quoted, free text only in comments --------------------------------


def test_comments_hold_no_control_character():
    line = comment("a\x00b\x1b[2Jc\x07d\x7fe\x9bf\tg\u2028h\ri\nj")
    assert set(line) <= PRINTABLE and "\\x1b" in line and "\\x00" in line


def stub_sbatch(tmp_path) -> dict:
    """An environment whose sbatch records its argv in tmp_path/sbatch_calls and takes every
    job (job 1), so that nothing runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "with open(os.environ['SBATCH_CALLS'], 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "print('sbatch: Job 1 to start' if '--test-only' in sys.argv else '1',\n"
        "      file=sys.stderr if '--test-only' in sys.argv else sys.stdout)\n"
    )
    sbatch.chmod(0o755)
    calls = str(tmp_path / "sbatch_calls")
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", SBATCH_CALLS=calls)


@pytest.fixture
def hostile_sweep(tmp_path, pair_db):
    """A sweep whose every interpolated value is hostile: the folder of the sweep file, spec,
    databases and evaluate database, and the output folder; made with a stub sbatch (whose
    calls are recorded), so that nothing trains."""
    odd = tmp_path / f"in {INJECT}\x1b[2J"
    odd.mkdir()
    spec = odd / "tower\x1b[31m.yaml"
    spec.write_text((REPO / "templates/lenet.yaml").read_text())
    (odd / "db $(touch PWNED)").symlink_to(pair_db)
    db = odd / "db $(touch PWNED)"
    sweep = odd / "s.yaml"
    sweep.write_text(
        sweep_text(db, "hostile", spec, extra="points: [{max_iter: 2}]\nevaluate: {seed: 3}")
    )
    out = tmp_path / f"out 100%x {INJECT}"
    env = stub_sbatch(tmp_path)
    done = run("sweep", sweep, "--engine", "slurm", "--jobs", 1, "-o", out, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    calls = [json.loads(line) for line in (tmp_path / "sbatch_calls").read_text().splitlines()]
    return out, db, calls


def stubbed(script: Path, stub: Path) -> str:
    """`script` with the caffesiam it starts replaced by `stub` (only where it would train)."""
    real = shlex.join(caffesiam_argv())
    text = script.read_text()
    assert real in text
    return text.replace(real, shlex.quote(str(stub)))


def run_stubbed(script: Path, tmp_path: Path, env=None) -> list[list[str]]:
    """Run `script` with sh, caffesiam stubbed; returns each call as [cwd, *argv]."""
    stub, calls = tmp_path / "stub", tmp_path / "calls"
    stub.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "with open(os.environ['CALLS'], 'a') as f:\n"
        "    f.write(json.dumps([os.getcwd(), *sys.argv[1:]]) + '\\n')\n"
    )
    stub.chmod(0o755)
    copy = tmp_path / "script.sh"
    copy.write_text(stubbed(script, stub))
    calls.unlink(missing_ok=True)
    result = subprocess.run(
        ["sh", str(copy)], cwd=tmp_path, env=dict(os.environ, CALLS=str(calls), **(env or {}))
    )
    assert result.returncode == 0
    return [json.loads(line) for line in calls.read_text().splitlines()]


def test_command_sh_runs_only_its_commands_with_hostile_paths(hostile_sweep, tmp_path):
    out, db, _ = hostile_sweep
    point = out / json.loads((out / "sweep.json").read_text())["points"][0]
    ran = run_stubbed(point / "command.sh", tmp_path)
    assert [call[0] for call in ran] == [str(point), str(point)]
    assert [call[1] for call in ran] == ["train", "evaluate"]
    evaluate = ran[1]
    assert evaluate[evaluate.index("--db") + 1] == str(db)
    assert not list(tmp_path.rglob("PWNED"))


def test_the_slurm_script_runs_only_its_command_with_a_hostile_folder(hostile_sweep, tmp_path):
    out, _, _ = hostile_sweep
    ran = run_stubbed(out / "sweep.sbatch", tmp_path, {"SLURM_ARRAY_TASK_ID": "0"})
    assert ran == [[str(tmp_path), "sweep", "run-point", str(out), "0"]]
    assert not list(tmp_path.rglob("PWNED"))


def test_the_scripts_hold_no_control_character(hostile_sweep):
    out, _, _ = hostile_sweep
    for script in [out / "sweep.sbatch", *out.glob("*/command.sh")]:
        for line in script.read_text().splitlines():
            if line.startswith("#"):
                assert set(line) <= PRINTABLE, (script, line)


def test_slurm_reads_the_log_folder_literally(hostile_sweep):
    """sbatch --output is a pattern: a % in the sweep folder is written %%."""
    out, _, calls = hostile_sweep
    submitted = [argv for argv in calls if "--test-only" not in argv][-1]
    output = next(a for a in submitted if a.startswith("--output="))
    assert output == f"--output={str(out / 'logs').replace('%', '%%')}/slurm-%A_%a.out"
    assert json.loads((out / "sweep.json").read_text())["name"] == "hostile"


def test_a_slurm_sweep_folder_with_a_backslash_is_refused(tmp_path, pair_db):
    """A backslash in sbatch --output turns its replacements off: every task's log would be
    one file, or none."""
    env = stub_sbatch(tmp_path)
    sweep = tmp_path / "s.yaml"
    sweep.write_text(sweep_text(pair_db))
    before = snapshot(tmp_path)
    done = run("sweep", sweep, "--engine", "slurm", "--jobs", 1, "-o", tmp_path / "a\\b", env=env)
    refused(done, 2, "backslash", "--out")
    assert changes(before, tmp_path) == set()


def test_a_sweep_file_is_read_whatever_its_folder(tmp_path):
    """Only the names are plain names: paths may hold anything a file system allows."""
    doc = load_yaml(
        'spec: "a b/$(x)\\n.yaml"\ndatabases: {d: {train: "`y`", test: "\'z"}}\n'
        "points: [{max_iter: 2}]\n",
        "s.yaml",
    )
    point = expand(doc, "s.yaml", str(tmp_path)).points[0]
    assert point.commands["gen-net"][1] == str(tmp_path / "a b/$(x)\n.yaml")
