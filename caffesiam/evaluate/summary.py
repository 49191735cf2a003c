"""What `evaluate` tells the user, as text (pure): one line per measure of its report."""

from pathlib import PurePath

_RETRIEVAL = {"precision@1": "precision_at_1", "R-precision": "r_precision", "MAP@R": "map_at_r"}


def format_report(r: dict) -> str:
    """The short human-readable report: the pairs, then the labelled images when there are."""
    kfold = r["kfold"]
    lines = [
        f"pairs: {r['pairs']} ({r['positives']} same, sim=1; {r['negatives']} different, sim=0; "
        f"positive ratio {r['positive_ratio']:.1%}; always guessing the majority: "
        f"{r['chance_accuracy']:.1%})",
        f"features: blob '{r['blob']}', {r['feature_dims']}-D; mean distance same "
        f"{_num(r['mean_distance_same'])}, different {_num(r['mean_distance_different'])}",
        f"accuracy at distance < margin/2 = {r['threshold_half_margin']:g}: "
        f"{_pct(r['accuracy_half_margin'])}",
        f"accuracy at the best threshold (held out): {_pct(r['best_threshold_accuracy'])} "
        f"(thresholds {', '.join(f'{t:.3g}' for t in r['best_threshold_folds'])} chosen on each "
        f"half, scored on the other; on all pairs: {r['best_threshold_all_pairs']:.3g})",
        f"accuracy over {kfold['folds']} folds (threshold fit on the other {kfold['folds'] - 1}): "
        f"{kfold['accuracy']:.2%} ± {kfold['standard_error']:.2%} (standard error)",
        f"ROC AUC: {'n/a' if r['auc'] is None else format(r['auc'], '.4f')}",
        f"equal error rate: {_pct(r['eer'])}"
        + ("" if r["eer_threshold"] is None else f" (at distance {r['eer_threshold']:.3g})"),
        "true accept rate (same pairs called same) at a false accept rate of "
        + "; ".join(_tar(t) for t in r["tar_at_far"]),
    ]
    retrieval = r.get("retrieval")
    if retrieval:
        shot = retrieval["one_shot"]
        lines += [
            f"retrieval among {retrieval['images']:,} images of {retrieval['classes']} classes "
            f"({retrieval['queries']:,} queries; {retrieval['split']} of "
            f"{PurePath(retrieval['source']).name}): "
            + ", ".join(
                f"{name} {_pct(retrieval[key], 'n/a (no class has two images)')}"
                for name, key in _RETRIEVAL.items()
            ),
            f"{shot['way']}-way one-shot accuracy: {shot['accuracy']:.2%} over "
            f"{shot['trials']:,} trials (chance {shot['chance']:.1%})",
        ]
    return "\n".join(lines)


def _tar(t: dict) -> str:
    if t["tar"] is None:
        return f"{t['far']:g}: n/a (needs {round(1 / t['far']):,} different pairs and a same one)"
    return f"{t['far']:g}: {t['tar']:.2%} (distance < {t['threshold']:.3g})"


def _pct(value, missing: str = "n/a (needs both same and different pairs)") -> str:
    return missing if value is None else f"{value:.2%}"


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.3g}"
