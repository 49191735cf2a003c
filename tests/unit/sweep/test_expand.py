"""sweep.expand: a sweep file's points, their recipes (checked values) and their commands."""

import textwrap

import pytest

from caffesiam.errors import SweepError
from caffesiam.spec.yamlload import load_yaml
from caffesiam.sweep.expand import OVERRIDE_KEYS, expand, plan_lines

HEAD = "spec: t.yaml\ndatabases: {d: {train: a_lmdb, test: b_lmdb}}\n"


def sweep_of(text: str, train_options=()):
    source = "/w/s.yaml"
    return expand(load_yaml(HEAD + textwrap.dedent(text), source), source, "/w", train_options)


def test_override_keys_are_the_tables_names_plus_spec_and_database():
    assert {"feature_size", "loss", "q", "max_iter", "stepvalue", "spec", "database"} <= (
        OVERRIDE_KEYS
    )
    assert not {"train_source", "test_source", "snapshot_prefix", "deploy", "output", "cpu"} & (
        OVERRIDE_KEYS
    )


def test_a_recipe_holds_the_values_as_the_flags_would_read_them():
    sweep = sweep_of("""\
    settings: {weight_decay: "1e-4", margin: 2, stepvalue: 100, lr_policy: multistep}
    points: [{feature_size: "16", pseudo: false, legacy_loss: true}]
    """)
    recipe = sweep.recipes[0]
    assert (recipe.spec, recipe.train_source, recipe.test_source) == (
        "/w/t.yaml",
        "/w/a_lmdb",
        "/w/b_lmdb",
    )
    assert recipe.net == {"margin": 2.0, "feature_size": 16, "pseudo": False, "legacy_loss": True}
    assert recipe.deploy == {"feature_size": 16}  # only what shapes the deploy net
    assert recipe.solver == {"weight_decay": 0.0001, "stepvalue": (100,), "lr_policy": "multistep"}
    assert isinstance(recipe.net["margin"], float) and isinstance(recipe.net["feature_size"], int)


def test_the_commands_spell_the_recipe_so_the_cli_reads_the_same_values():
    point = sweep_of("""\
    settings: {weight_decay: "1e-4", margin: 2, stepvalue: [100, 200], lr_policy: multistep}
    points: [{feature_size: "16", pseudo: false, legacy_loss: true, spec: other.yaml}]
    """).points[0]
    assert point.commands["gen-net"] == [
        "gen-net",
        "/w/other.yaml",
        "--margin",
        "2.0",
        "--feature-size",
        "16",
        "--legacy-loss",
        "--train-source",
        "/w/a_lmdb",
        "--test-source",
        "/w/b_lmdb",
        "-o",
        "net.prototxt",
    ]
    assert point.commands["gen-net --deploy"][3:5] == ["--feature-size", "16"]
    assert point.commands["gen-solver"][4:-2] == [
        "--weight-decay",
        "0.0001",
        "--stepvalue",
        "100",
        "--stepvalue",
        "200",
        "--lr-policy",
        "multistep",
    ]


@pytest.mark.parametrize(
    "settings, message",
    [
        ("{loss: hinge}", "Invalid value for '--loss': 'hinge' is not one of 'contrastive',"),
        ("{feature_size: 0}", "Invalid value for '--feature-size': 0 is not in the range 1<=x<="),
        ("{feature_size: 2.5}", "Invalid value for '--feature-size': '2.5' is not a valid integer"),
        ("{margin: -1}", "Invalid value for '--margin': -1.0 is not in the range x>=0"),
        ("{q: 0}", "Invalid value for '--q': 0.0 is not in the range x>0"),
        ("{base_lr: .nan}", "Invalid value for '--base-lr': 'nan' is not a finite number"),
        ("{pseudo: 1}", "Invalid value for '--pseudo': 1 is not true or false"),
        ("{margin: [1, 2]}", "[1, 2] is a list, and --margin takes one value"),
        ("{stepvalue: [10, x]}", "Invalid value for '--stepvalue': 'x' is not a valid integer"),
    ],
)
def test_a_value_no_flag_takes_names_the_point_and_the_flag(settings, message):
    with pytest.raises(SweepError) as caught:
        sweep_of(f"points: [{settings}]\n")
    assert message in str(caught.value) and "/w/s.yaml: point 0 (" in str(caught.value)


def test_plan_lines_show_each_points_commands_as_typed():
    lines = plan_lines(sweep_of("grid: {feature_size: [2, 4]}\n", ["--blas-threads", "3"]), "/o")
    assert lines[0] == "sweep s: 2 points into /o"
    assert lines[1:3] == ["", "0_feature_size-2:"]
    assert "  caffesiam train solver.prototxt --out train --blas-threads 3" in lines
    assert sum(line.startswith("  caffesiam gen-net ") for line in lines) == 4


def test_the_size_is_counted_from_the_value_counts_before_anything_is_expanded():
    values = "&v [" + ", ".join(map(str, range(1, 1001))) + "]"
    with pytest.raises(SweepError) as caught:
        sweep_of(f"grid: {{random_seed: {values}, max_iter: *v, margin: *v}}\n")
    assert str(caught.value) == (
        "/w/s.yaml: the sweep has 1,000,000,000 points (1000 x 1000 x 1000 in the grid); "
        "a sweep may have at most 10,000"
    )
    with pytest.raises(SweepError, match=r"10,001 points \(100 x 100 in the grid \+ 1 listed\)"):
        sweep_of(
            f"grid: {{random_seed: [{', '.join(map(str, range(100)))}], max_iter: "
            f"[{', '.join(map(str, range(1, 101)))}]}}\npoints: [{{q: 1}}]\n"
        )


@pytest.mark.parametrize(
    "text, message",
    [
        ('name: "a b"\npoints: [{q: 1}]\n', "/w/s.yaml:3: sweep name 'a b' is not a plain name"),
        ("name: [x]\npoints: [{q: 1}]\n", "/w/s.yaml:3: name must be a string"),
        ("evaluate: {seed: -1}\npoints: [{q: 1}]\n", "evaluate: seed: -1 is not in the range x>=0"),
        ('evaluate: {db: ""}\npoints: [{q: 1}]\n', "evaluate: db: the path is empty"),
        ("evaluate: {db: 3}\npoints: [{q: 1}]\n", "evaluate: db must be a pair database path"),
    ],
)
def test_names_and_the_evaluate_block_are_checked_where_they_are_read(text, message):
    with pytest.raises(SweepError) as caught:
        sweep_of(text)
    assert message in str(caught.value)


def test_a_name_from_the_file_is_a_plain_name_too():
    doc = load_yaml(HEAD + "points: [{q: 1}]\n", "s.yaml")
    with pytest.raises(SweepError, match="'my sweep' is not a plain name.*set name: in the sweep"):
        expand(doc, "/w/my sweep.yaml", "/w")
    assert expand(doc, "/w/my-sweep.v2.yaml", "/w").name == "my-sweep.v2"


def test_point_names_keep_to_the_plain_characters_and_length():
    sweep = sweep_of("grid: {spec: [a=b.yaml, /x/c d.yaml], stepvalue: [[1, 2], [3, 4]]}\n")
    assert [p.name for p in sweep.points][:2] == [
        "0_spec-a_b_stepvalue-1+2",
        "1_spec-a_b_stepvalue-3+4",
    ]
    long = sweep_of(f"grid: {{stepvalue: [[{', '.join(map(str, range(1, 60)))}], [5]]}}\n")
    assert len(long.points[0].name) == 100 and long.points[1].name == "1_stepvalue-5"


def test_databases_read_are_the_points_sources_and_evaluate_databases():
    sweep = sweep_of("evaluate: {db: held_lmdb}\npoints: [{q: 1}]\n")
    assert sweep.database_paths == ["/w/a_lmdb", "/w/b_lmdb", "/w/held_lmdb"]
