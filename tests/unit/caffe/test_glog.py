"""Caffe's logging settings and line prefix, in their one place."""

import re

from caffesiam.caffe.glog import GLOG_VARIABLES, LINE_PREFIX, glog_env


def test_quiet_and_full_log_settings():
    assert glog_env(full_log=False) == {"GLOG_minloglevel": "2"}
    assert glog_env(full_log=True) == {"GLOG_minloglevel": "0", "GLOG_logtostderr": "1"}
    glog_env(full_log=True).clear()  # each call is a fresh dict
    assert glog_env(full_log=True)["GLOG_logtostderr"] == "1"
    assert set(GLOG_VARIABLES) == set(glog_env(True)) | set(glog_env(False))


def test_the_prefix_of_both_glog_date_styles():
    prefix = re.compile(LINE_PREFIX)
    old = prefix.match("I0412 10:00:00.000001 123 solver.cpp:239] Iteration 1")
    new = prefix.match("F20261122 22:57:22.901527  16423 db_leveldb.cpp:16] Check failed")
    assert (old["sev"], old["date"], old["src"]) == ("I", "0412", "solver.cpp:239")
    assert (new["sev"], new["date"], new["time"]) == ("F", "20261122", "22:57:22.901527")
    for other in ("I041 10:00:00.1 1 a.cpp:1] x", "X0412 10:00:00.1 1 a.cpp:1] x", "Iteration 1"):
        assert prefix.match(other) is None
