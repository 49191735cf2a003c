"""The process module's pure parts: argv builders, mounts, the Ctrl-C policy (no child starts)."""

import signal
from pathlib import Path

import pytest

from caffesiam.caffe import runner
from caffesiam.errors import ToolMissing


def test_caffe_train_argv_stops_on_the_first_sigint_and_snapshots_on_sighup():
    base = ["caffe", "train", "-solver", "s.prototxt", "-sigint_effect", "stop"]
    base += ["-sighup_effect", "snapshot"]
    assert runner.caffe_train_argv("caffe", "s.prototxt") == base
    assert runner.caffe_train_argv(
        "caffe", "s.prototxt", "all", "w.caffemodel", "r.solverstate"
    ) == [
        *base,
        *("-gpu", "all", "-weights", "w.caffemodel", "-snapshot", "r.solverstate"),
    ]


def test_caffe_time_argv():
    assert runner.caffe_time_argv("/b/caffe", "net.prototxt", 10) == [
        "/b/caffe",
        "time",
        "-model",
        "net.prototxt",
        "-iterations",
        "10",
    ]


def test_docker_argv_without_a_user_or_gpu_and_with_all_gpus(tmp_path):
    argv = runner.docker_argv(
        "docker", "img", ["caffe"], [tmp_path], tmp_path, {"B": "2", "A": "1"}
    )
    assert argv == [
        *("docker", "run", "--rm", "-i", "--init", "--network", "none"),
        *("--label", f"{runner.CONTAINER_LABEL}={tmp_path}", "-e", "TINI_KILL_PROCESS_GROUP=1"),
        *("--mount", f'type=bind,"source={tmp_path}","target={tmp_path}"', "-w", str(tmp_path)),
        *("-e", "A=1", "-e", "B=2"),  # sorted, so the argv does not depend on dict order
        *("img", "sh", "-c", runner.CONTAINER_ENTRY, "caffesiam-entry", "caffe"),
    ]
    every = runner.docker_argv("docker", "img", ["caffe"], [], tmp_path, {}, gpu="all")
    assert every[11:13] == ["--gpus", "all"]


def test_minimal_mounts_keeps_the_outermost_folders(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "c").mkdir()
    mounts = runner.minimal_mounts(
        [tmp_path / "a" / "b", tmp_path / "a", tmp_path / "c" / "file.txt", tmp_path / "c"]
    )
    assert mounts == [tmp_path / "a", tmp_path / "c"]
    assert runner.minimal_mounts([tmp_path / "ab", tmp_path / "a"]) == [
        tmp_path
    ]  # not a folder: its parent


def test_a_folder_not_made_yet_is_covered_by_its_nearest_existing_one(tmp_path):
    """A run's output folder outside the others, not made yet: docker would make it as root."""
    (tmp_path / "work").mkdir()
    later = tmp_path / "out" / "snap" / "lenet_run"
    mounts = runner.minimal_mounts([tmp_path / "work", later, tmp_path / "out" / "snap" / "net"])
    assert mounts == [tmp_path]
    assert runner.minimal_mounts([Path("/no-such-folder/run")]) == [Path("/no-such-folder")]


def test_require_names_the_package_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing) as e:
        runner.require("dot", "graphviz")
    assert str(e.value) == "'dot' not found on PATH; install it (Debian: apt-get install graphviz)"
    tool = tmp_path / "dot"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert runner.require("dot", "graphviz") == str(tool)


class FakeChild:
    def __init__(self, running=True):
        self.running, self.signals, self.killed = running, [], 0

    def poll(self):
        return None if self.running else 0

    def send_signal(self, sig):
        self.signals.append(sig)

    def kill(self):
        self.killed += 1


def test_the_first_ctrl_c_asks_the_child_to_stop_and_the_second_kills_it():
    told = []
    policy = runner.Interrupts(on_first=lambda: told.append("first"))
    child = FakeChild()
    policy.attach(child)
    policy.interrupt()
    assert (child.signals, child.killed, told) == ([signal.SIGINT], 0, ["first"])
    policy.interrupt()
    assert (child.signals, child.killed, policy.count) == ([signal.SIGINT], 1, 2)


def test_a_ctrl_c_before_the_child_started_is_acted_on_when_it_attaches():
    asked, killed = runner.Interrupts(), runner.Interrupts()
    asked.interrupt()
    killed.interrupt()
    killed.interrupt()
    first, second = FakeChild(), FakeChild()
    asked.attach(first)
    killed.attach(second)
    assert (first.signals, first.killed) == ([signal.SIGINT], 0)
    assert second.killed == 1


def test_stop_from_code_asks_once_and_does_not_count_as_a_ctrl_c():
    policy = runner.Interrupts()
    child = FakeChild()
    policy.attach(child)
    policy.stop()
    policy.stop()
    assert (child.signals, policy.count) == ([signal.SIGINT], 0)
    gone = FakeChild(running=False)
    runner.Interrupts().attach(gone)
    late = runner.Interrupts()
    late.attach(gone)
    late.stop()
    assert gone.signals == []  # a child that has exited is not signalled
