"""Blob and param shapes of a net, from pycaffe, computed in a child process.

Caffe aborts the whole process (LOG(FATAL)) when a net cannot be set up, e.g. when a Data
layer's source is missing, so pycaffe runs in `python -m caffesiam.caffe.shapes` and the parent
only reads its last line.
"""

import json
import os
import re
import sys
from collections.abc import Callable

from caffesiam.caffe import runner
from caffesiam.caffe.glog import LINE_PREFIX, glog_env
from caffesiam.limits import NET_CHILD_TIMEOUT_S

_MARK = "CAFFESIAM_SHAPES "
Wrap = Callable[[list[str], dict], list[str]]  # (argv, env) -> the argv that runs it elsewhere
# (exit status, output lines) -> None, or raises when the launcher that Wrap adds (docker) failed
LaunchCheck = Callable[[int, list[str]], None]
_GLOG_PREFIX = re.compile(LINE_PREFIX)


def shapes_argv(net_path: str, phases: list[str], python: str = sys.executable) -> list[str]:
    """The argv of the child that prints the shapes of `net_path` in `phases`."""
    return [python, "-m", "caffesiam.caffe.shapes", str(net_path), *phases]


def _merge(per_phase: list[dict]) -> dict:
    """One shape per name; where phases disagree (batch sizes), the shapes are joined with ' | '."""
    merged = {}
    for shapes in per_phase:
        for name, shape in shapes.items():
            merged.setdefault(name, [])
            if shape not in merged[name]:
                merged[name].append(shape)
    return merged


def parse_output(output: str) -> dict | None:
    """The JSON the child printed after its marker, or None."""
    for line in reversed(output.splitlines()):
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK) :])
    return None


def failure_reason(output: str) -> str:
    """The line of Caffe's log that says why set-up failed (a 'Check failed' one if any); a
    container's CPU report is not Caffe's."""
    said = runner.without_cpu_report(output.splitlines())
    lines = [_GLOG_PREFIX.sub("", line.strip()) for line in said if line.strip()]
    for line in reversed(lines):
        if "Check failed" in line or "Error" in line or "error" in line:
            return line[-300:]
    return lines[-1][-300:] if lines else "no output"


def compute_shapes(
    net_path: str,
    phases: list[str],
    cwd=None,
    python: str = sys.executable,
    wrap: Wrap | None = None,
    launch_failed: LaunchCheck | None = None,
) -> tuple[dict | None, dict | None, str]:
    """(blob shapes, param shapes, '') by name, or (None, None, why) when the net cannot be set up.
    Relative data sources are opened from `cwd` (default: this process's), as Caffe would.
    `wrap` runs the child elsewhere (a Docker image), with that place's `python`; a child that
    fails is shown to `launch_failed` first, which raises when what `wrap` starts failed."""
    env = dict(os.environ, **glog_env(full_log=False))
    argv = shapes_argv(net_path, phases, python)
    if wrap:
        argv = wrap(argv, env)
    try:
        done = runner.capture(argv, timeout=NET_CHILD_TIMEOUT_S, env=env, cwd=cwd)
    except (runner.Timeout, OSError) as e:  # drawing goes on without shapes
        return None, None, str(e)
    result = parse_output(done.stdout or "")
    if done.returncode != 0 and launch_failed:
        launch_failed(done.returncode, runner.without_cpu_report((done.stdout or "").splitlines()))
    if done.returncode != 0 or result is None:
        return None, None, failure_reason(done.stdout or "")
    # Param shapes do not depend on the phase; the first one stands for all.
    return result["blobs"], {k: v[0] for k, v in result["params"].items()}, ""


def _child(net_path: str, phases: list[str]) -> None:
    import caffe  # pycaffe only here, in the child

    caffe.set_mode_cpu()
    blobs: list[dict[str, list]] = []
    params: list[dict[str, list]] = []
    for phase in phases:
        net = caffe.Net(net_path, getattr(caffe, phase))
        blobs.append({name: list(blob.shape) for name, blob in net.blobs.items()})
        params.append(
            {
                name: [list(b.shape) for b in layer.blobs]
                for name, layer in zip(net._layer_names, net.layers)
                if len(layer.blobs)
            }
        )
    print(_MARK + json.dumps({"blobs": _merge(blobs), "params": _merge(params)}), flush=True)


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2:])
