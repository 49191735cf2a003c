"""spec.tower: the Tower dataclasses and loss overrides."""

import pytest

from caffesiam.data.backends import DEFAULT_BACKEND
from caffesiam.spec.tower import INPUT_SCALE, LOSSES, DataSpec, LossSpec, Tower, resolve_loss


class Layer:
    """Just the `top` a Tower reads."""

    def __init__(self, *top):
        self.top = list(top)


def test_the_output_is_the_first_top_of_the_last_layer():
    assert Tower("t", layers=[Layer("conv1"), Layer("feat", "extra")]).output == "feat"


def test_defaults_are_caffes_siamese_example():
    data = DataSpec()
    assert (data.backend, data.scale, data.channels, data.height, data.width) == (
        DEFAULT_BACKEND,
        1 / 256,
        1,
        28,
        28,
    )
    assert INPUT_SCALE == 1 / 256
    assert LossSpec() == LossSpec(kind="contrastive", margin=1.0, q=5.0)


@pytest.mark.parametrize("kind", LOSSES)
def test_only_the_triplet_loss_has_three_towers(kind):
    assert LossSpec(kind=kind).towers == (3 if kind == "triplet" else 2)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({}, LossSpec("chopra2005", 2.0, 3.0)),
        ({"kind": "triplet"}, LossSpec("triplet", 2.0, 3.0)),
        ({"margin": 0.0, "q": 7.0}, LossSpec("chopra2005", 0.0, 7.0)),
        ({"legacy": True}, LossSpec("contrastive-legacy", 2.0, 3.0)),
        ({"kind": "triplet", "legacy": True}, LossSpec("contrastive-legacy", 2.0, 3.0)),
        ({"legacy": False}, LossSpec("chopra2005", 2.0, 3.0)),
    ],
)
def test_resolve_loss_keeps_what_is_not_overridden(overrides, expected):
    assert resolve_loss(LossSpec("chopra2005", 2.0, 3.0), **overrides) == expected
