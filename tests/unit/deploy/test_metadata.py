"""The metadata an exported tower carries, and the evaluate --json report it takes a threshold
from: written, read back, and refused with the key named when wrong."""

import json
import re

import pytest

from caffesiam.deploy.metadata import (
    PREFIX,
    TowerMetadata,
    metadata_props,
    read_evaluation,
    tower_metadata,
)
from caffesiam.errors import ModelError

FULL = TowerMetadata(
    input_scale=0.00390625,
    input_mean=(104.0, 117.0, 123.0),
    input_source="net.prototxt, layer 'pair_data'",
    feature_blob="feat",
    loss="contrastive",
    margin=1.0,
    threshold=0.42,
    threshold_accuracy=0.97,
    threshold_source="evaluation.json",
)


def test_metadata_props_read_back_to_the_same_metadata():
    props = metadata_props(FULL)
    assert props[PREFIX + "input_mean"] == "[104.0, 117.0, 123.0]"
    assert tower_metadata(props, "m.onnx") == FULL


def test_unset_fields_are_left_out_and_read_back_as_none():
    props = metadata_props(TowerMetadata(0.5, feature_blob="ip2"))
    assert PREFIX + "threshold" not in props
    meta = tower_metadata(props, "m.onnx")
    assert (meta.threshold, meta.loss, meta.input_mean) == (None, None, ())


@pytest.mark.parametrize(
    "key, value, message",
    [
        (
            "input_scale",
            '"big"',
            'm.onnx: caffesiam.input_scale is "big", expected a finite number',
        ),
        ("input_scale", "-1", "m.onnx: caffesiam.input_scale is -1, expected a finite number >= 0"),
        ("threshold", "NaN", "m.onnx: caffesiam.threshold is NaN, expected a finite number >= 0"),
        ("input_mean", "3", "m.onnx: caffesiam.input_mean is 3, expected a list"),
        ("input_mean", '[1, "x"]', 'm.onnx: caffesiam.input_mean[1] is "x", expected a finite'),
        ("feature_blob", "{", "m.onnx: metadata caffesiam.feature_blob: not JSON"),
        ("loss", "[" * 5000, "m.onnx: metadata caffesiam.loss: JSON nested deeper than 64 levels"),
    ],
)
def test_a_bad_value_names_the_model_and_the_key(key, value, message):
    props = metadata_props(FULL) | {PREFIX + key: value}
    with pytest.raises(ModelError) as caught:
        tower_metadata(props, "m.onnx")
    assert str(caught.value).startswith(message)


def test_a_model_caffesiam_did_not_export_is_named():
    with pytest.raises(ModelError, match="no caffesiam.input_scale metadata"):
        tower_metadata({}, "m.onnx")


def test_the_threshold_is_the_one_evaluate_chose_on_all_pairs(tmp_path):
    report = {"best_threshold_all_pairs": 0.61, "best_threshold_accuracy": 0.93, "auc": 0.98}
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(report))
    held = read_evaluation(path)
    assert (held.threshold, held.accuracy) == (0.61, 0.93)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[1, 2]", "is a JSON list, expected a JSON object (caffesiam evaluate --json report)"),
        ("{", "not JSON"),
        ('{"best_threshold_accuracy": 0.9}', "best_threshold_all_pairs is missing"),
        (
            '{"best_threshold_all_pairs": 0.5, "best_threshold_accuracy": 1.5}',
            "best_threshold_accuracy is 1.5, expected a finite number in [0, 1]",
        ),
    ],
)
def test_a_bad_evaluation_report_is_refused(tmp_path, text, message):
    path = tmp_path / "evaluation.json"
    path.write_text(text)
    with pytest.raises(ModelError, match=re.escape(message)):
        read_evaluation(path)


def test_broken_json_nested_past_the_bound_is_called_deep_on_every_python():
    """Python 3.13's parser fails such text with 'Expecting value' where 3.11 runs out of
    recursion; both are the same problem to a user."""
    from caffesiam.errors import ModelError
    from caffesiam.limits import STATE_DEPTH
    from caffesiam.schema import decode_json

    for text in ("[" * (STATE_DEPTH + 1) + "x", '{"a": ' * (STATE_DEPTH + 1)):
        with pytest.raises(ModelError, match=f"nested deeper than {STATE_DEPTH} levels"):
            decode_json(text, "m.onnx", ModelError)
    with pytest.raises(ModelError, match="not JSON"):
        decode_json(
            '["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", x]',
            "m",
            ModelError,
        )
