"""What an exported tower carries besides its graph: the ONNX metadata_props that export writes
and the runtime reads, and the threshold read from `caffesiam evaluate --json`.

No Caffe here: the runtime imports this module on hosts that have no Caffe.
"""

import json
import math
from dataclasses import dataclass, fields

from caffesiam.errors import ModelError
from caffesiam.files import read_file

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


def _number(value, key: str, source: str, low: float = -math.inf, high: float = math.inf):
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelError(f"{source}: {key} is {value!r}, not a finite number")
    if not low <= value <= high:
        raise ModelError(f"{source}: {key} is {value}, outside [{low}, {high}]")
    return float(value)


def _text(value, key: str, source: str):
    if not isinstance(value, str):
        raise ModelError(f"{source}: {key} is {value!r}, not a string")
    return value


_CHECKS = {
    "input_scale": lambda v, k, s: _number(v, k, s, 0, math.inf),
    "input_mean": lambda v, k, s: tuple(
        _number(x, k, s) for x in (v if isinstance(v, list) else [None])
    ),
    "input_source": _text,
    "feature_blob": _text,
    "loss": _text,
    "margin": lambda v, k, s: _number(v, k, s, 0),
    "threshold": lambda v, k, s: _number(v, k, s, 0),
    "threshold_accuracy": lambda v, k, s: _number(v, k, s, 0, 1),
    "threshold_source": _text,
}


def tower_metadata(props: dict[str, str], source: str) -> TowerMetadata:
    """The TowerMetadata of an ONNX model's metadata_props; ModelError naming a bad key."""
    if PREFIX + "input_scale" not in props:
        raise ModelError(
            f"{source}: no {PREFIX}input_scale metadata; export it with caffesiam export"
        )
    values = {}
    for name, check in _CHECKS.items():
        key = PREFIX + name
        if key in props:
            try:
                value = json.loads(props[key])
            except ValueError:
                raise ModelError(f"{source}: metadata {key} is not JSON: {props[key]!r}") from None
            values[name] = check(value, key, source)
    return TowerMetadata(**values)


@dataclass(frozen=True)
class HeldOutThreshold:
    """The threshold `caffesiam evaluate` chose on all pairs, and its held-out accuracy."""

    threshold: float
    accuracy: float


def read_evaluation(path) -> HeldOutThreshold:
    """The threshold of an evaluation.json that `caffesiam evaluate --json` wrote, checked."""
    text = read_file(path, ModelError, "evaluation JSON")
    try:
        report = json.loads(text)
    except ValueError as e:
        raise ModelError(f"{path}: not JSON ({e})") from None
    if not isinstance(report, dict):
        raise ModelError(f"{path}: not a caffesiam evaluate --json report")
    for key in ("best_threshold_all_pairs", "best_threshold_accuracy"):
        if key not in report:
            raise ModelError(f"{path}: no '{key}'; write it with caffesiam evaluate --json")
    return HeldOutThreshold(
        _number(report["best_threshold_all_pairs"], "best_threshold_all_pairs", str(path), 0),
        _number(report["best_threshold_accuracy"], "best_threshold_accuracy", str(path), 0, 1),
    )
