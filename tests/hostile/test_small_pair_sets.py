"""Class: evaluate on databases too small for its metrics. Each count either gives a report or,
where a metric cannot be computed at all, one line and exit 2 with nothing written."""

import json

import numpy as np
import pytest

from hostile.helpers import refused, run

pytestmark = [pytest.mark.caffe, pytest.mark.slow]  # one process per case


def pair_db(path, sims):
    """A LevelDB of len(sims) pairs of two 28x28 grey images (random pixels) with these labels."""
    import plyvel

    from caffesiam.caffe.proto import caffe_pb2

    pixels = np.random.default_rng(0).integers(0, 256, (len(sims), 2 * 28 * 28), dtype=np.uint8)
    db = plyvel.DB(str(path), create_if_missing=True)
    for i, sim in enumerate(sims):
        datum = caffe_pb2().Datum(
            channels=2, height=28, width=28, data=pixels[i].tobytes(), label=sim
        )
        db.put(b"%08d" % i, datum.SerializeToString())
    db.close()
    return path


def evaluate(model, db, tmp_path, *extra):
    deploy, weights = model
    out = [tmp_path / "e.json", tmp_path / "roc.png"]
    args = ["--json", out[0], "--roc", out[1]]
    return run("evaluate", "--model", deploy, "--weights", weights, "--db", db, *args, *extra), out


@pytest.mark.parametrize(
    "sims,extra",
    [([1], []), ([0], []), ([1, 0, 1], ["--limit", 1])],
    ids=["one same pair", "one different pair", "limit one"],
)
def test_one_pair_is_too_few(sims, extra, model, tmp_path):
    db = pair_db(tmp_path / "one_leveldb", sims)
    done, outputs = evaluate(model, db, tmp_path, *extra)
    if extra:  # --limit is checked by click, before anything is read
        assert done.returncode == 2 and "--limit" in done.stderr
    else:
        refused(done, 2, str(db), "1 pair", "at least 2")
    assert not any(path.exists() for path in outputs)


def test_no_pairs(model, tmp_path):
    db = pair_db(tmp_path / "empty_leveldb", [])
    done, outputs = evaluate(model, db, tmp_path)
    refused(done, 2, str(db), "the database is empty")
    assert not any(path.exists() for path in outputs)


@pytest.mark.parametrize("sims", [[0, 1], [1, 1], [0, 0, 0]], ids=["two", "two same", "all diff"])
def test_a_few_pairs_give_a_report(sims, model, tmp_path):
    db = pair_db(tmp_path / "few_leveldb", sims)
    done, (report_path, roc) = evaluate(model, db, tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    assert report["pairs"] == len(sims) and report["positives"] == sum(sims)
    both = 0 < sum(sims) < len(sims)
    assert (report["auc"] is not None) == both and roc.exists() == both
