"""train.log.Metrics -> metrics.csv text (pure): one row per train display and per test phase."""

import csv
import io


def metrics_csv(metrics) -> str:
    names = sorted(
        (
            {n for p in metrics.train for n in p.outputs}
            | {n for p in metrics.test for n in p.outputs}
        )
        - {"loss"}
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["phase", "iteration", "loss", "lr", "iters_per_s", *names])
    rows = [
        (
            p.iteration,
            0,
            [
                "train",
                p.iteration,
                p.loss,
                _blank(p.lr),
                _blank(p.iters_per_s),
                *(_blank(p.outputs.get(n)) for n in names),
            ],
        )
        for p in metrics.train
    ]
    rows += [
        (
            p.iteration,
            1,
            [
                "test",
                p.iteration,
                _blank(p.outputs.get("loss")),
                "",
                "",
                *(_blank(p.outputs.get(n)) for n in names),
            ],
        )
        for p in metrics.test
    ]
    for _, _, row in sorted(rows, key=lambda r: (r[0], r[1])):
        writer.writerow(row)
    return out.getvalue()


def _blank(value):
    return "" if value is None else value
