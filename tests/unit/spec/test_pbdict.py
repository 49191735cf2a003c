"""spec.pbdict: plain dicts into protobuf messages, with errors that name the field and line."""

import pytest

from caffesiam.errors import SpecError
from caffesiam.spec.pbdict import (
    LineDict,
    ValueBudget,
    fill_message,
    first_unknown,
    is_utf8_text,
    line_of,
    short_repr,
)

pytestmark = pytest.mark.caffe


@pytest.fixture
def pb():
    from caffesiam.caffe.proto import caffe_pb2

    return caffe_pb2()


def with_lines(mapping: dict, line: int, **key_lines) -> LineDict:
    found = LineDict(mapping)
    found.line, found.lines = line, key_lines
    return found


def test_fields_scalars_for_repeated_fields_enums_and_nested_messages(pb):
    layer = fill_message(
        {
            "name": "conv1",
            "type": "Convolution",
            "param": [{"lr_mult": 1}, {"lr_mult": 2, "decay_mult": 0}],
            "convolution_param": {"num_output": 20, "kernel_size": 5, "bias_term": False},
            "include": {"phase": "test"},
        },
        pb.LayerParameter(),
        "tower[0]",
    )
    expected = pb.LayerParameter(name="conv1", type="Convolution")
    expected.param.add(lr_mult=1)
    expected.param.add(lr_mult=2, decay_mult=0)
    expected.convolution_param.num_output = 20
    expected.convolution_param.kernel_size.append(5)
    expected.convolution_param.bias_term = False
    expected.include.add(phase=pb.TEST)
    assert layer == expected


def test_an_enum_is_also_taken_by_number(pb):
    pool = fill_message({"pool": 1}, pb.PoolingParameter(), "p")
    assert pool.pool == pb.PoolingParameter.AVE


@pytest.mark.parametrize(
    "data, words",
    [
        ({"num_outptu": 3}, "tower[0].num_outptu: unknown field 'num_outptu'"),
        ({"num_output": 2**32}, "expected an integer from 0 to 4294967295 (uint32)"),
        ({"num_output": True}, "expected an integer"),
        ({"axis": -(2**31) - 1}, "(int32)"),
        ({"bias_term": "yes"}, "expected true or false, got 'yes'"),
        ({"weight_filler": {"std": float("nan")}}, "weight_filler.std: expected a finite number"),
        ({"weight_filler": {"std": 1e39}}, "within float range"),
        ({"weight_filler": {"type": "\ud800"}}, "a string of valid Unicode"),
        ({"weight_filler": 3}, "expected a mapping of FillerParameter fields, got int"),
    ],
)
def test_bad_values_name_the_field_and_what_was_expected(pb, data, words):
    with pytest.raises(SpecError) as caught:
        fill_message(data, pb.InnerProductParameter(), "tower[0]", "spec.yaml")
    assert words in str(caught.value)
    assert str(caught.value).startswith("spec.yaml: tower[0]")


def test_an_enum_value_outside_the_enum_lists_the_names(pb):
    with pytest.raises(
        SpecError, match=r"p\.pool: expected one of MAX, AVE, STOCHASTIC, got 'MIN'"
    ):
        fill_message({"pool": "MIN"}, pb.PoolingParameter(), "p")


def test_errors_carry_the_yaml_line_of_the_key(pb):
    data = with_lines({"num_output": -1}, 7, num_output=9)
    with pytest.raises(SpecError, match=r"^spec\.yaml:9: ip\.num_output: "):
        fill_message(data, pb.InnerProductParameter(), "ip", "spec.yaml")


def test_one_budget_is_spent_across_calls_and_names_its_limit(pb):
    budget = ValueBudget(limit=5)
    fill_message({"num_output": 1, "bias_term": True}, pb.InnerProductParameter(), "a", "", budget)
    assert budget.left == 2  # the mapping and its two values
    with pytest.raises(SpecError, match="more than 5 values"):
        fill_message({"num_output": 1, "axis": 1}, pb.InnerProductParameter(), "b", "", budget)


def test_line_of_and_first_unknown():
    data = with_lines({"a": 1, "b": 2}, 3, a=4)
    assert (line_of(data), line_of(data, "a"), line_of(data, "b")) == (3, 4, 3)
    assert line_of({"a": 1}, "a") == 0
    assert first_unknown(data, {"a"}) == "b"
    assert first_unknown(data, {"a", "b"}) is None


def test_text_checks_and_bounded_reprs():
    assert is_utf8_text("naïve") and not is_utf8_text("\udc80")
    assert len(short_repr(list(range(10**6)))) < 100
