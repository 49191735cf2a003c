"""net.options and net.generate: settings named by the table, spelled as flags, and applied to
the train net, the deploy net and the solver."""

import pytest
from conftest import REPO

from caffesiam.errors import SolverError, SpecError
from caffesiam.net.generate import deploy_net, solver_for, train_net
from caffesiam.net.options import NET, SOLVER, option_argv
from caffesiam.spec.load import load_tower

LENET = REPO / "templates/lenet.yaml"


@pytest.fixture(scope="module")
def tower():
    return load_tower(LENET)


def test_option_argv_spells_flags_as_the_commands_take_them():
    assert option_argv(NET, {"pseudo": True, "legacy_loss": False, "margin": 0.5}) == [
        "--pseudo",
        "--margin",
        "0.5",
    ]
    assert option_argv(SOLVER, {"stepvalue": (10, 20), "lr_policy": "multistep"}) == [
        "--stepvalue",
        "10",
        "--stepvalue",
        "20",
        "--lr-policy",
        "multistep",
    ]


def test_a_backend_setting_renames_default_named_sources(tower):
    net = train_net(tower, {"backend": "lmdb"})
    data = [layer for layer in net.layer if layer.type == "Data"]
    assert [layer.data_param.source for layer in data] == [
        "mnist_siamese_train_lmdb",
        "mnist_siamese_test_lmdb",
    ]
    given = train_net(tower, {"backend": "lmdb"}, train_source="mine", test_source="theirs")
    assert [layer.data_param.source for layer in given.layer[:2]] == ["mine", "theirs"]


def test_the_settings_reach_the_nets(tower):
    net = train_net(tower, {"feature_size": 7, "loss": "triplet", "margin": 0.3, "batch_size": 8})
    layers = {layer.name: layer for layer in net.layer}
    assert layers["feat"].inner_product_param.num_output == 7 and "feat_n" in layers
    assert [layer.data_param.batch_size for layer in net.layer[:2]] == [8, 100]  # train, test
    deploy = deploy_net(tower, {"feature_size": 7}, batch=3)
    assert deploy.layer[0].input_param.shape[0].dim[0] == 3
    assert deploy.layer[-1].inner_product_param.num_output == 7
    assert tower.layers[-1].inner_product_param.num_output == 2  # the tower is left as it was


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"q": 3}, "--q applies to --loss chopra2005, not contrastive"),
        ({"loss": "triplet", "legacy_loss": True}, "--legacy-loss applies to contrastive"),
    ],
)
def test_settings_that_do_not_fit_together_are_spec_errors(tower, settings, message):
    with pytest.raises(SpecError, match=message):
        train_net(tower, settings)
    with pytest.raises(SpecError, match=message):
        deploy_net(tower, settings)


def test_the_solver_shares_params_and_checks_the_schedule(tower):
    net = train_net(tower, {})
    solver = solver_for("net.prototxt", net, "snap/net", {"max_iter": 30, "stepvalue": ()})
    assert (solver.net, solver.snapshot_prefix, solver.max_iter) == ("net.prototxt", "snap/net", 30)
    assert not solver.layer_wise_reduce  # the twins share their params
    assert solver_for("n", train_net(tower, {"pseudo": True}), "p", {}).layer_wise_reduce
    with pytest.raises(SolverError, match="--stepsize does not apply to lr_policy inv"):
        solver_for("n", net, "p", {"stepsize": 5})


def test_a_name_outside_the_table_is_a_programming_error(tower):
    with pytest.raises(TypeError, match="train_source"):
        train_net(tower, {"train_source": "x"})
    with pytest.raises(TypeError, match="cpu"):
        solver_for("n", train_net(tower, {}), "p", {"cpu": True})
