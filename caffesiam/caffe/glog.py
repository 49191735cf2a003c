"""Caffe's logging (glog): how loud a Caffe process is, set through its environment, and the
prefix of each line it logs."""

_QUIET = {"GLOG_minloglevel": "2"}  # errors and fatal lines only
_FULL_LOG = {"GLOG_minloglevel": "0", "GLOG_logtostderr": "1"}  # every INFO line, on stderr
# The variables a Caffe started elsewhere (a Docker container) must be passed.
GLOG_VARIABLES = tuple(sorted({*_QUIET, *_FULL_LOG}))
# A log line's prefix: severity, date (MMDD or YYYYMMDD, by glog version), time, thread, file:line]
LINE_PREFIX = (
    r"^(?P<sev>[IWEF])(?P<date>\d{4}|\d{8}) (?P<time>\d\d:\d\d:\d\d\.\d+)\s+\d+ "
    r"(?P<src>[\w.]+:\d+)\] "
)


def glog_env(full_log: bool) -> dict[str, str]:
    """glog's settings: Caffe's full log (INFO and up) on stderr, or quiet (errors only)."""
    return dict(_FULL_LOG if full_log else _QUIET)
