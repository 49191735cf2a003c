"""scripts/install_caffe.sh and scripts/steps.sh: each fault a new machine met, reproduced.

The functions are sourced from the real script and run by bash. Where a case needs apt in a
state this machine is not in (nothing installed, empty package lists, a failing install),
apt-get, apt-cache and dpkg-query are STAND-INS on PATH that record their calls; the real apt
takes that path in `make fresh-check` (a clean Debian 12 root, whose package lists are empty).
"""

import http.server
import os
import re
import shlex
import subprocess
import sys
import tarfile
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from caffesiam.files import cache_dir

SCRIPT = REPO / "scripts" / "install_caffe.sh"
STEPS = REPO / "scripts" / "steps.sh"
CAFFE_PROTO = "src/caffe/proto/caffe.proto"


def bash(snippet, env=None, source=SCRIPT, timeout=120):
    """Run `snippet` after sourcing `source` (which defines functions and runs nothing)."""
    return subprocess.run(
        ["bash", "-c", f'set -euo pipefail\n. "{source}"\n{snippet}'],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def run_script(*args, env=None, timeout=300):
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def patched_files() -> set:
    """Paths (in Caffe's tree) of the files our patches change."""
    return {
        line[6:].split("\t")[0].strip()
        for patch in (REPO / "scripts/patches").glob("*/*.patch")
        for line in patch.read_text().splitlines()
        if line.startswith("+++ b/")
    }


def real_patched_sources() -> dict:
    """{path: bytes} of the files our patches change, from the Caffe source setup downloaded
    (Debian's or PyPI's), so that every patch applies to a planted tree."""
    downloads = cache_dir() / "downloads"
    wanted = patched_files() | {CAFFE_PROTO}
    for tarball in sorted(downloads.glob("*.tar.gz")):
        with tarfile.open(tarball) as tar:
            found = {}
            for member in tar.getmembers():
                # The path in Caffe's tree: the sdist has a top folder, Debian's tarball none.
                path = member.name.removeprefix("./")
                name = path if path in wanted else path.partition("/")[2]
                if name in wanted and member.isfile():
                    found[name] = tar.extractfile(member).read()
            if "src/caffe/util/io.cpp" in found:
                return found
    pytest.fail(
        f"no Caffe source tarball with src/caffe/util/io.cpp in {downloads}; run make setup"
    )


def planted_source(tmp_path, cmakelists: str) -> Path:
    """A source tarball with Caffe's real files that our patches change (so they apply), its
    caffe.proto and our CMakeLists."""
    tree = tmp_path / "planted"
    for name, data in real_patched_sources().items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(data)
    (tree / "CMakeLists.txt").write_text(textwrap.dedent(cmakelists))
    tarball = tmp_path / "planted.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tree, arcname=".")
    return tarball


def script_env(cache, source=None, **extra):
    env = dict(os.environ, CAFFESIAM_CACHE=str(cache), **extra)
    if source:
        env["CAFFESIAM_CAFFE_SOURCE"] = str(source)
    return env


# ---- steps ------------------------------------------------------------------------------------


def test_a_long_step_name_gets_a_short_log_and_its_failure_is_reported(tmp_path):
    name = "system packages: install " + " ".join(f"libpackage{i}-dev" for i in range(40))
    out = bash(f'logs="{tmp_path}"; step "{name}" sh -c "echo apt says no; exit 100"', source=STEPS)
    assert out.returncode == 1
    assert (
        f"step '{name}' failed: `sh -c echo apt says no; exit 100` exited with status 100"
        in out.stderr
    )
    assert "    apt says no" in out.stderr  # the log's tail
    (log,) = tmp_path.glob("*.log")
    assert len(log.name) < 80 and log.name.startswith("system-packages-install-libpackage0")


def test_a_step_stops_at_its_first_failing_command_and_names_it(tmp_path):
    out = bash(
        f'''logs="{tmp_path}"
f() {{ echo started; cp /nonexistent/a "{tmp_path}/b"; echo finished; }}
step "copy things" f
echo "after the step"''',
        source=STEPS,
    )
    assert out.returncode == 1
    assert "step 'copy things' failed: `cp /nonexistent/a" in out.stderr
    assert "exited with status 1" in out.stderr
    assert "    started" in out.stderr and "No such file or directory" in out.stderr
    assert "finished" not in out.stderr + out.stdout and "after the step" not in out.stdout


def test_soft_step_reports_and_lets_the_caller_fall_back(tmp_path):
    out = bash(
        f'''logs="{tmp_path}"
f() {{ false; echo never; }}
soft_step "first try" f
echo "status $status, falling back"''',
        source=STEPS,
    )
    assert out.returncode == 0
    assert "step 'first try' failed: `false`" in out.stderr
    assert "status 1, falling back" in out.stdout and "never" not in out.stdout


def test_retry_tries_three_times(tmp_path):
    counter = tmp_path / "count"
    out = bash(
        f'''logs="{tmp_path}"; retry_delay=0
flaky() {{ echo x >>"{counter}"; [ "$(wc -l <"{counter}")" -ge 3 ]; }}
step "flaky download" retry flaky''',
        source=STEPS,
    )
    assert out.returncode == 0, out.stderr
    assert counter.read_text().count("x") == 3


def test_a_background_step_runs_alongside_and_its_failure_fails_the_join(tmp_path):
    marks = tmp_path / "marks"
    out = bash(
        f'''logs="{tmp_path}"
slow() {{ sleep 1; echo background >>"{marks}"; false; }}
in_background step "pip alongside" slow
step "compile" sh -c 'echo foreground >>"{marks}"'
join_background
echo "after the join"''',
        source=STEPS,
    )
    assert out.returncode == 1
    assert marks.read_text() == "foreground\nbackground\n", "the two ran at once"
    assert "step 'pip alongside' failed: `false`" in out.stderr
    assert "after the join" not in out.stdout


def test_a_failed_step_waits_for_the_background_so_nothing_is_left_running(tmp_path):
    done = tmp_path / "background-done"
    out = bash(
        f'''logs="{tmp_path}"
in_background step "pip alongside" sh -c 'sleep 1; touch "{done}"'
step "compile" false''',
        source=STEPS,
    )
    assert out.returncode == 1 and "step 'compile' failed" in out.stderr
    assert done.exists(), "the script exited while its background step still ran"


# ---- system packages, with stand-ins for apt ---------------------------------------------------

APT_STUBS = {
    # Nothing is installed.
    "dpkg-query": "exit 1",
    # `update` fills the package lists; `install` records its packages or fails like apt.
    "apt-get": """
        case " $* " in
          *" update "*) touch "$STATE/updated"; echo "Get:1 stand-in Packages" ;;
          *" install "*)
            if [ -e "$STATE/fail-install" ]; then
              echo "E: Unable to locate package libfoo-dev" >&2; exit 100
            fi
            echo "$@" >"$STATE/installed" ;;
          *" indextargets "*) cat "$STATE/indextargets" 2>/dev/null || true ;;
        esac""",
    # Lists are empty until update; then a package in $STATE/offered has a candidate.
    "apt-cache": """
        pkg=${@: -1}
        if [ -e "$STATE/updated" ] && grep -qx "$pkg" "$STATE/offered" 2>/dev/null; then
          printf '%s:\\n  Installed: (none)\\n  Candidate: 1.0-1\\n' "$pkg"
        else
          echo "N: Unable to locate package $pkg" >&2
        fi""",
}


@pytest.fixture
def apt(tmp_path):
    """Stand-in apt tools on PATH; every call is recorded in state/calls."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, body in APT_STUBS.items():
        path = bin_dir / name
        path.write_text(
            f'#!/bin/bash\necho "{name} $*" >>"$STATE/calls"\n{textwrap.dedent(body)}\n'
        )
        path.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", STATE=str(state))
    return env, state


def install_packages(tmp_path, env, debian=True):
    return bash(
        f'''logs="{tmp_path}/logs"; retry_delay=0
as_root() {{ "$@"; }}
is_debian() {{ {"true" if debian else "false"}; }}
install_system_packages''',
        env=env,
    )


def test_empty_package_lists_are_updated_before_deciding_what_apt_offers(tmp_path, apt):
    env, state = apt
    (state / "offered").write_text("dataset-fashion-mnist\n")
    out = install_packages(tmp_path, env)
    assert out.returncode == 0, out.stderr
    calls = (state / "calls").read_text().splitlines()
    update = next(i for i, c in enumerate(calls) if c.startswith("apt-get") and " update" in c)
    query = next(
        i for i, c in enumerate(calls) if c.startswith("apt-cache") and "dataset-fashion-mnist" in c
    )
    assert update < query
    argv = (state / "installed").read_text().split()
    installed = argv[argv.index("--no-install-recommends") + 1 :]
    assert "dataset-fashion-mnist" in installed and "libopenblas-dev" in installed
    assert f"==> system packages: install {len(installed)} (cmake" in out.stdout


def test_a_needed_package_apt_does_not_offer_is_a_failed_step(tmp_path, apt):
    env, state = apt
    out = install_packages(tmp_path, env)
    assert out.returncode == 1
    assert "step 'check that apt offers dataset-fashion-mnist' failed" in out.stderr
    assert "not offered by apt after apt-get update: dataset-fashion-mnist" in out.stderr
    assert not (state / "installed").exists()


def test_elsewhere_a_missing_data_package_is_a_loud_warning(tmp_path, apt):
    env, state = apt
    out = install_packages(tmp_path, env, debian=False)
    assert out.returncode == 0, out.stderr
    assert "WARNING: apt offers no 'dataset-fashion-mnist' here, so Fashion-MNIST" in out.stderr
    assert "dataset-fashion-mnist" not in (state / "installed").read_text()


def test_a_failing_install_of_many_packages_is_that_steps_failure_with_its_tail(tmp_path, apt):
    env, state = apt
    (state / "offered").write_text("dataset-fashion-mnist\n")
    (state / "fail-install").touch()
    out = install_packages(tmp_path, env)
    assert out.returncode == 1
    assert re.search(
        r"step 'system packages: install \d+ \(cmake .*dataset-fashion-mnist\)' failed: "
        r"`.*apt-get .* install .*` exited with status 100",
        out.stderr,
    ), out.stderr
    assert "    E: Unable to locate package libfoo-dev" in out.stderr
    assert all(len(p.name) < 80 for p in (tmp_path / "logs").iterdir())


# ---- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--venv"], "install_caffe: --venv needs a value (see --help)"),
        (["--venv", "--gpu"], "install_caffe: --venv needs a value (see --help)"),
        (["--python"], "install_caffe: --python needs a value (see --help)"),
        (
            ["--python", "/no/such/python3"],
            "install_caffe: --python: no interpreter '/no/such/python3' found",
        ),
        (["--frobnicate"], "install_caffe: unknown argument '--frobnicate' (see --help)"),
        *(
            (
                ["--proto-only", flag],
                "install_caffe: --proto-only builds nothing, so --gpu, --stock and --no-python "
                "do not apply",
            )
            for flag in ("--gpu", "--stock", "--no-python")
        ),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, args, message):
    out = run_script(*args, env=script_env(tmp_path / "cache"))
    assert out.returncode == 2
    assert out.stderr == message + "\n"


def test_bad_patch_selection_is_one_line_and_exit_2(tmp_path):
    out = run_script(env=script_env(tmp_path / "cache", CAFFESIAM_CAFFE_PATCHES="some"))
    assert out.returncode == 2
    assert "CAFFESIAM_CAFFE_PATCHES must be 'stock' or 'all', got 'some'" in out.stderr


@pytest.mark.parametrize(
    "env, cache",
    [
        ({"CAFFESIAM_CACHE": "{t}/mine", "XDG_CACHE_HOME": "{t}/xdg"}, "{t}/mine"),
        ({"XDG_CACHE_HOME": "{t}/xdg"}, "{t}/xdg/caffesiam"),
        ({"HOME": "{t}/home"}, "{t}/home/.cache/caffesiam"),
    ],
)
def test_the_cache_is_caffesiam_cache_else_under_xdg_cache_home(tmp_path, env, cache):
    base = {k: v for k, v in os.environ.items() if k not in ("CAFFESIAM_CACHE", "XDG_CACHE_HOME")}
    env = dict(base, **{k: v.format(t=tmp_path) for k, v in env.items()})
    out = bash('parse_args --skip-system-packages --no-python; echo "$cache"', env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout == cache.format(t=tmp_path) + "\n"
    assert (Path(out.stdout.strip()) / "downloads").is_dir()


def install_plan(tmp_path, *args, env=None):
    """(patch file names, cmake flags) that install_caffe.sh would use, from its own functions."""
    out = bash(
        f"parse_args --skip-system-packages --no-python {shlex.join(args)}\n"
        "selected_patches | xargs -n1 basename; echo ---; cmake_flags PY PREFIX",
        env=script_env(tmp_path, **(env or {})),
    )
    assert out.returncode == 0, out.stderr
    patches, flags = out.stdout.split("---\n")
    return patches.split(), flags.split()


def test_stock_caffe_is_one_flag_away_with_the_build_key_it_always_had(tmp_path):
    patches, flags = install_plan(tmp_path)
    speed = sorted(p.name for p in (REPO / "scripts/patches/speed").glob("*.patch"))
    speed_flags = {"-DUSE_OPENMP=ON", "-DUSE_DNNL=ON"}
    assert speed and set(speed) <= set(patches) and speed_flags <= set(flags)
    for stock in (
        install_plan(tmp_path, "--stock"),
        install_plan(tmp_path, env={"CAFFESIAM_CAFFE_PATCHES": "stock"}),
    ):
        # Only the speed patches and their OpenMP and oneDNN flags go: the stock build keeps its
        # cache key.
        assert stock == (
            [p for p in patches if p not in speed],
            [f for f in flags if f not in speed_flags],
        )


# ---- the build --------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_tarball_without_cmakelists_is_named(tmp_path):
    tree = tmp_path / "tree" / "caffe-master" / "docs"
    tree.mkdir(parents=True)
    (tree / "README").write_text("no build here\n")
    tarball = tmp_path / "odd.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tmp_path / "tree", arcname=".")
    out = run_script(
        "--skip-system-packages",
        "--python",
        sys.executable,
        env=script_env(tmp_path / "cache", tarball),
    )
    assert out.returncode == 1
    assert "step 'unpack odd.tar.gz' failed" in out.stderr
    assert "no CMakeLists.txt at the top of" in out.stderr


@pytest.mark.slow
def test_paths_with_spaces_reach_cmake_whole_and_no_half_build_is_left(tmp_path):
    seen = tmp_path / "prefix-seen-by-cmake"
    source = planted_source(
        tmp_path,
        f"""
        file(WRITE "{seen}" "${{CMAKE_INSTALL_PREFIX}}")
        message(FATAL_ERROR "planted configure failure")
    """,
    )
    cache = tmp_path / "my cache"
    out = run_script(
        "--skip-system-packages", "--python", sys.executable, env=script_env(cache, source)
    )
    assert out.returncode == 1
    assert "step 'cmake configure' failed" in out.stderr
    assert "planted configure failure" in out.stderr
    assert re.fullmatch(re.escape(f"{cache}/caffe-") + "[0-9a-f]{16}", seen.read_text())
    assert [p.name for p in cache.iterdir() if p.name.startswith(("caffe-", "build"))] == []


@pytest.mark.slow
def test_a_build_lands_whole_in_the_cache_with_caffe_pb2_and_is_reused(tmp_path):
    source = planted_source(
        tmp_path,
        """
        cmake_minimum_required(VERSION 3.5)
        project(planted NONE)
        file(WRITE "${CMAKE_BINARY_DIR}/caffe" "#!/bin/sh\\necho planted caffe\\n")
        install(PROGRAMS "${CMAKE_BINARY_DIR}/caffe" DESTINATION bin)
    """,
    )
    cache = tmp_path / "cache"
    runs = [
        run_script("--skip-system-packages", "--no-python", env=script_env(cache, source))
        for _ in range(2)
    ]
    assert all(out.returncode == 0 for out in runs), runs[0].stderr + runs[1].stderr
    (prefix,) = cache.glob("caffe-*")
    assert re.fullmatch("caffe-[0-9a-f]{16}", prefix.name)
    assert "==> built caffe in" in runs[0].stdout and f"==> caffe build cached at {prefix}\n" in (
        runs[1].stdout
    )
    assert subprocess.run([prefix / "bin/caffe"], capture_output=True, text=True).stdout == (
        "planted caffe\n"
    )
    proto = real_patched_sources()[CAFFE_PROTO]
    assert (prefix / "src" / CAFFE_PROTO).read_bytes() == proto
    assert "NetParameter" in (prefix / "proto/caffe_pb2.py").read_text()
    assert (prefix / ".complete").exists() and not (prefix / ".proto-only").exists()
    assert not list(cache.glob("build-*")), "no staging directory left"


@pytest.mark.slow
def test_setups_running_at_once_take_turns_on_a_build(tmp_path):
    stamps = tmp_path / "stamps"
    source = planted_source(
        tmp_path,
        f"""
        execute_process(COMMAND date +%s.%N OUTPUT_VARIABLE started)
        execute_process(COMMAND sleep 2)
        execute_process(COMMAND date +%s.%N OUTPUT_VARIABLE ended)
        string(STRIP "${{started}}" started)
        string(STRIP "${{ended}}" ended)
        file(APPEND "{stamps}" "${{started}} ${{ended}}\\n")
        message(FATAL_ERROR "planted configure failure")
    """,
    )
    env = script_env(tmp_path / "cache", source)
    argv = ["bash", str(SCRIPT), "--skip-system-packages", "--python", sys.executable]
    runs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [run.communicate(timeout=300) for run in runs]
    assert all(run.returncode == 1 for run in runs)
    (a_start, a_end), (b_start, b_end) = sorted(
        tuple(map(float, line.split())) for line in stamps.read_text().splitlines()
    )
    assert a_end <= b_start, "the two configures overlapped"
    assert any("waiting for another setup that is building" in out for out, _ in outs)


# ---- downloads through the machine's own package clients ---------------------------------------


def test_the_debian_source_comes_from_the_systems_mirror_and_is_signature_checked(tmp_path, apt):
    env, state = apt
    (state / "indextargets").write_text("Debian|Debian|http://mirror.test/debian/\n")
    out = bash(
        """parse_args --skip-system-packages
retry_delay=0
debian_mirror
soft_step "fetch" fetch_debian_source""",
        env=dict(env, CAFFESIAM_CACHE=str(tmp_path / "cache")),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("http://mirror.test/debian/\n")
    assert (
        "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://mirror.test/debian/ bullseye main"
    ) in out.stderr
    assert "trusted=yes" not in SCRIPT.read_text()


class _Index(http.server.SimpleHTTPRequestHandler):
    requests = []

    def log_message(self, *args):
        _Index.requests.append(self.path)


@pytest.mark.slow
def test_the_pypi_fallback_goes_through_pips_configured_index_and_checks_the_hash(tmp_path):
    """A local index on 127.0.0.1 serves a file with the pinned name but other bytes."""
    project = tmp_path / "www" / "simple" / "brocolli-caffe"
    project.mkdir(parents=True)
    fake = tmp_path / "www" / "brocolli-caffe-9.0.2.tar.gz"
    with tarfile.open(fake, "w:gz") as tar:
        tar.add(__file__, arcname="brocolli-caffe-9.0.2/setup.py")
    (project / "index.html").write_text(
        '<a href="../../brocolli-caffe-9.0.2.tar.gz">brocolli-caffe-9.0.2.tar.gz</a>\n'
    )
    handler = lambda *a, **k: _Index(*a, directory=str(tmp_path / "www"), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = dict(
            os.environ,
            PIP_CONFIG_FILE=os.devnull,
            PIP_FIND_LINKS="",
            PIP_EXTRA_INDEX_URL="",
            PIP_INDEX_URL=f"http://127.0.0.1:{server.server_port}/simple",
            CAFFESIAM_CACHE=str(tmp_path / "cache"),
        )
        out = bash(
            f'''parse_args --skip-system-packages --python "{sys.executable}"
retry_delay=0
step "fetch source: PyPI" fetch_pypi_source''',
            env=env,
        )
    finally:
        server.shutdown()
    assert out.returncode == 1
    assert "step 'fetch source: PyPI' failed" in out.stderr
    assert "DO NOT MATCH THE HASHES" in out.stderr
    assert "/simple/brocolli-caffe/" in _Index.requests
    assert not list((tmp_path / "cache" / "downloads").iterdir())


# ---- Caffe's other programs, built on demand ---------------------------------------------------


def idx_header(magic: int, shape) -> bytes:
    return b"".join(n.to_bytes(4, "big") for n in (magic, *shape))


@pytest.mark.slow
def test_setup_builds_only_caffe_and_pycaffe_and_a_converter_is_built_on_demand(
    tmp_path, fashion_test
):
    from caffesiam.caffe.locate import caffe_home
    from caffesiam.caffe.proto import caffe_pb2

    assert sorted(p.name for p in (caffe_home() / "bin").iterdir()) == ["caffe"]
    out = subprocess.run(
        ["bash", REPO / "scripts/caffe_tool.sh", "convert_mnist_siamese_data"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    converter = out.stdout.strip()
    images, labels = fashion_test[0][:40], fashion_test[1][:40]
    (tmp_path / "images").write_bytes(idx_header(2051, images.shape) + images.tobytes())
    (tmp_path / "labels").write_bytes(idx_header(2049, labels.shape) + labels.tobytes())
    done = subprocess.run(
        [converter, tmp_path / "images", tmp_path / "labels", tmp_path / "db"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    import plyvel

    db = plyvel.DB(str(tmp_path / "db"))
    flat = images.reshape(len(images), -1)
    records = list(db)
    db.close()
    assert len(records) == len(images)
    for _, value in records:  # Caffe's pair: two random images i and j, and whether same class
        datum = caffe_pb2().Datum.FromString(value)
        pixels = np.frombuffer(datum.data, np.uint8).reshape(2, -1)
        i, j = (np.flatnonzero((flat == image).all(axis=1))[0] for image in pixels)
        assert datum.label == int(labels[i] == labels[j])
