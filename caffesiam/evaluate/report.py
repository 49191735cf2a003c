"""The report `caffesiam evaluate --json` writes (evaluate.metrics.verification_report and the
model it measured), as a declared schema: sweep reads it back as each point's eval.json, and
export takes the threshold it chose."""

from caffesiam.schema import Field, Schema, integer, list_of, number, text

_RATE = number(0, 1)
_DISTANCE = number(0)
_OPTIONAL = {
    "pairs": integer(2),
    "positives": integer(0),
    "negatives": integer(0),
    "positive_ratio": _RATE,
    "chance_accuracy": _RATE,
    "margin": _DISTANCE,
    "threshold_half_margin": _DISTANCE,
    "accuracy_half_margin": _RATE,
    "mean_distance_same": number(0, null=True),
    "mean_distance_different": number(0, null=True),
    "auc": number(0, 1, null=True),
    "eer": number(0, 1, null=True),
    "eer_threshold": number(null=True),
    "best_threshold_folds": list_of(_DISTANCE),
    "split_seed": integer(0),
    "model": text(),
    "weights": text(),
    "db": text(),
    "blob": text(),
    "scale": number(),
    "mean": list_of(number()),
    "feature_dims": integer(1),
}
EVALUATION = Schema(
    "caffesiam evaluate --json report",
    (
        Field(
            "best_threshold_accuracy", _RATE
        ),  # held out: chosen on one half, scored on the other
        Field("best_threshold_all_pairs", _DISTANCE),
        *(Field(name, value, required=False) for name, value in _OPTIONAL.items()),
    ),
)
