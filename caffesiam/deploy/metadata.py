"""What an exported tower carries besides its graph: the ONNX metadata_props that export writes
and the runtime reads, and the threshold read from `caffesiam evaluate --json`.

No Caffe here: the runtime imports this module on hosts that have no Caffe.
"""

import json
from dataclasses import dataclass, fields

from caffesiam.errors import ModelError
from caffesiam.evaluate.report import EVALUATION
from caffesiam.schema import (
    Field,
    Schema,
    check,
    decode_json,
    list_of,
    number,
    read_json_file,
    text,
)

PREFIX = "caffesiam."


@dataclass(frozen=True)
class TowerMetadata:
    """How to feed the tower and how to read its output; stored as `caffesiam.<field>` JSON values.

    input_scale, input_mean: Caffe's transform, (pixel - mean) * scale, as training applied it.
    input_source: where they came from. feature_blob: the Caffe blob that is the graph's output.
    loss, margin: the train net's loss (None without --train-net). threshold: "same" when the
    distance is below it (None without --evaluation); threshold_accuracy: its held-out accuracy.
    """

    input_scale: float
    input_mean: tuple = ()
    input_source: str = "default"
    feature_blob: str = ""
    loss: str | None = None
    margin: float | None = None
    threshold: float | None = None
    threshold_accuracy: float | None = None
    threshold_source: str | None = None


def metadata_props(meta: TowerMetadata) -> dict[str, str]:
    """The ONNX metadata_props of `meta`: every field that is set, JSON-encoded."""
    return {
        PREFIX + f.name: json.dumps(list(value) if isinstance(value, tuple) else value)
        for f in fields(TowerMetadata)
        if (value := getattr(meta, f.name)) is not None
    }


# Each field's value as the metadata holds it; input_scale is what marks a caffesiam export.
_VALUES = {
    "input_scale": number(0),
    "input_mean": list_of(number()),
    "input_source": text(),
    "feature_blob": text(),
    "loss": text(),
    "margin": number(0),
    "threshold": number(0),
    "threshold_accuracy": number(0, 1),
    "threshold_source": text(),
}
_METADATA = Schema(
    "caffesiam ONNX model",
    tuple(
        Field(PREFIX + name, value, required=name == "input_scale")
        for name, value in _VALUES.items()
    ),
    ModelError,
)


def tower_metadata(props: dict[str, str], source: str) -> TowerMetadata:
    """The TowerMetadata of an ONNX model's metadata_props; ModelError naming a bad key."""
    if PREFIX + "input_scale" not in props:
        raise ModelError(
            f"{source}: no {PREFIX}input_scale metadata; export it with caffesiam export"
        )
    decoded = {
        PREFIX + name: decode_json(
            props[PREFIX + name], f"{source}: metadata {PREFIX}{name}", ModelError
        )
        for name in _VALUES
        if PREFIX + name in props
    }
    checked = check(decoded, _METADATA, source)
    values = {name: checked[PREFIX + name] for name in _VALUES if PREFIX + name in checked}
    if "input_mean" in values:
        values["input_mean"] = tuple(float(x) for x in values["input_mean"])
    return TowerMetadata(**{k: float(v) if type(v) is int else v for k, v in values.items()})


@dataclass(frozen=True)
class HeldOutThreshold:
    """The threshold `caffesiam evaluate` chose on all pairs, and its held-out accuracy."""

    threshold: float
    accuracy: float


def read_evaluation(path) -> HeldOutThreshold:
    """The threshold of an evaluation.json that `caffesiam evaluate --json` wrote, checked."""
    report = read_json_file(path, EVALUATION, ModelError)
    return HeldOutThreshold(
        float(report["best_threshold_all_pairs"]), float(report["best_threshold_accuracy"])
    )
