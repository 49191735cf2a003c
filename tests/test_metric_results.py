"""bench/metric_results.sh: docs/metric-learning.md's table of results has a row for each of its
recipes, and bad arguments are one line and exit 2 before any work."""

import re
import subprocess

from conftest import REPO

SCRIPT = REPO / "bench/metric_results.sh"


def run(*args):
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def listed() -> set[str]:
    done = run("--list")
    assert done.returncode == 0, done.stderr
    return {line.split()[0] for line in done.stdout.splitlines()}


def test_the_docs_table_has_a_row_for_every_recipe_and_no_other():
    results = (REPO / "docs/metric-learning.md").read_text().split("## Results", 1)[1]
    rows = [line for line in results.splitlines() if line.startswith("| ")]
    tabled = {m for row in rows for m in re.findall(r"\| `([a-z0-9-]+)` \|", row)}
    assert tabled == listed()


def test_bad_arguments_exit_2_with_one_line(tmp_path):
    for args, message in (
        ((), "usage:"),
        (("no-such-recipe", tmp_path / "w"), "no recipe 'no-such-recipe'"),
        (("digits-demo", tmp_path), "exists"),
    ):
        done = run(*args)
        assert done.returncode == 2 and done.stdout == ""
        assert len(done.stderr.splitlines()) == 1 and message in done.stderr
