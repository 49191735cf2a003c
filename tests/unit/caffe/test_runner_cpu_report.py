"""The CPU report that a container's entry prints after its command, read back."""

from caffesiam.caffe import runner


def _report(shell: str, command: str) -> list[str]:
    return [runner.CPU_REPORT + "\n", shell + "\n", command + "\n"]


def test_the_commands_user_and_system_time_are_summed_and_kept_out_of_its_output():
    report = runner.CpuReport()
    lines = [
        "I0101 solver.cpp:1] Optimization Done.\n",
        *_report("0m0.01s 0m0.02s", "2m3.5s 0m1.25s"),
    ]
    assert [line for line in lines if not report.take(line)] == [lines[0]]
    assert report.seconds == 2 * 60 + 3.5 + 1.25


def test_dash_and_bash_formats_are_read():
    for times, seconds in (("0m12.340000s 0m0.560000s", 12.9), ("1m0.001s 0m0.999s", 61.0)):
        report = runner.CpuReport()
        for line in _report("0m0.000000s 0m0.000000s", times):
            report.take(line)
        assert abs(report.seconds - seconds) < 1e-9


def test_no_report_is_no_cpu_time():
    report = runner.CpuReport()
    assert not report.take("0m1.0s 0m2.0s\n")  # times-like output of the command is its own
    assert report.seconds is None


def test_a_report_cut_short_or_garbled_has_no_cpu_time_and_keeps_what_is_not_its():
    report = runner.CpuReport()
    assert report.take(runner.CPU_REPORT + "\n")
    assert not report.take("Killed\n")
    assert report.seconds is None
    assert runner.without_cpu_report(
        ["docker: error\n", *_report("0m0.0s 0m0.0s", "0m1.0s 0m0.5s")]
    ) == ["docker: error\n"]


def test_a_failed_net_child_in_a_container_is_named_by_caffes_line_not_the_report():
    from caffesiam.caffe.shapes import failure_reason

    said = ["I0101 00:00:00.000000 7 net.cpp:1] Creating layer data\n"]
    output = "".join(said + _report("0m0.0s 0m0.0s", "0m0.4s 0m0.1s"))
    assert failure_reason(output) == "Creating layer data"
