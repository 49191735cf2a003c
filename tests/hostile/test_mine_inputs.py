"""Class: mine given inputs that cannot make a mined database: weights of another net, missing
files, a ratio out of range, more neighbours than the images of other classes, one class. Each
case: exit 2, one line naming the problem, nothing written."""

import pytest
from conftest import REPO

from hostile.helpers import changes, refused, run, snapshot

pytestmark = [pytest.mark.caffe, pytest.mark.slow]  # one process per case


@pytest.fixture(scope="module")
def other_deploy(hostile_root):
    """A deploy net that the model fixture's weights do not fit (32-D features, not 2-D)."""
    path = hostile_root / "lenet_relu_deploy.prototxt"
    made = run("gen-net", REPO / "templates/lenet_relu.yaml", "--deploy", "-o", path)
    assert made.returncode == 0, made.stderr
    return path


# case -> (the arguments that differ from a good run, words of the one line)
CASES = {
    "weights of another net": (
        lambda m, o, t: ["--model", o],
        ["weights do not match the model", "layer 'feat'"],
    ),
    "missing model": (lambda m, o, t: ["--model", t / "nothing.prototxt"], ["no such file"]),
    "missing weights": (lambda m, o, t: ["--weights", t / "nothing.caffemodel"], ["no such"]),
    "a net as weights": (lambda m, o, t: ["--weights", m[0]], ["not a Caffe .caffemodel"]),
    "hard ratio above 1": (lambda m, o, t: ["--hard-ratio", "1.5"], ["--hard-ratio", "0<=x<=1"]),
    "hard ratio nan": (lambda m, o, t: ["--hard-ratio", "nan"], ["--hard-ratio", "finite"]),
    "no neighbours": (lambda m, o, t: ["--neighbours", "0"], ["--neighbours", "1<=x"]),
    "more neighbours than other images": (
        lambda m, o, t: ["--classes", "3,4", "--neighbours", "500"],
        ["--neighbours", "500 nearest", "only 384 of another class"],
    ),
    "one class": (lambda m, o, t: ["--classes", "3"], ["one class", "no negative (sim=0)"]),
    "a class the digits lack": (lambda m, o, t: ["--classes", "12"], ["--classes", "12"]),
    "positive ratio above 1": (lambda m, o, t: ["--positive-ratio", "2"], ["--positive-ratio"]),
}


def _args(model, overrides, out):
    args = {"--model": model[0], "--weights": model[1], "--out": out, "--digits": None}
    it = iter(overrides)
    for flag in it:
        args[flag] = next(it)
    return [x for flag, value in args.items() for x in (flag, value) if x is not None]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, model, other_deploy, tmp_path):
    make, words = CASES[case]
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    done = run("mine", *_args(model, make(model, other_deploy, tmp_path), out))
    refused(done, 2, *words)
    assert changes(before, tmp_path) == set()


def test_no_dataset_or_two_are_refused(model, tmp_path):
    base = ["--model", model[0], "--weights", model[1], "--out", tmp_path]
    for extra in ([], ["--digits", "--fashion-mnist"]):
        refused(run("mine", *base, *extra), 2, "give exactly one of --mnist, --fashion-mnist")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_database_is_kept_without_force(model, tmp_path):
    base = ["--model", model[0], "--weights", model[1], "--digits", "--out", tmp_path]
    assert run("mine", *base, "--pairs", 20).returncode == 0
    before = snapshot(tmp_path)
    refused(run("mine", *base, "--pairs", 30), 2, "already exists", "--force")
    assert changes(before, tmp_path) == set()
