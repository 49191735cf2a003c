"""Caffe's own Python test suite (python/caffe/test in the pinned source), run against the pycaffe
that make setup built: on Python 3.12 and later that pycaffe is compiled against numpy 2."""

import subprocess
import sys
import textwrap

import pytest

from caffesiam.caffe import locate

# The suite's own names for what unittest removed in Python 3.12, restored for the run; and its
# drawing test, which needs pydot (caffesiam draws through graphviz, not pycaffe's draw).
RUNNER = textwrap.dedent("""
    import sys, unittest
    unittest.TestCase.assertEquals = unittest.TestCase.assertEqual
    unittest.TestCase.assertRaisesRegexp = unittest.TestCase.assertRaisesRegex
    suite = unittest.defaultTestLoader.discover(sys.argv[1], pattern="test_*.py")
    skipped = [t for t in suite if "test_draw" in str(t)]
    kept = unittest.TestSuite(t for t in suite if t not in skipped)
    result = unittest.TextTestRunner(verbosity=1).run(kept)
    print(f"ran={result.testsRun} failures={len(result.failures)} errors={len(result.errors)}")
    sys.exit(0 if result.wasSuccessful() else 1)
""")


@pytest.mark.caffe
@pytest.mark.slow
def test_caffes_own_python_tests_pass(tmp_path):
    source = locate.caffe_home() / "src" / "python" / "caffe" / "test"
    if not source.is_dir():
        pytest.skip(f"no {source} in this build")
    tests = tmp_path / "test"
    tests.mkdir()
    for f in source.glob("test_*.py"):
        (tests / f.name).write_bytes(f.read_bytes())
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, str(tests)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # test_io, test_net, test_solver, test_python_layer and the rest: 52 less test_draw's.
    assert "ran=" in out.stdout and int(out.stdout.split("ran=")[1].split()[0]) >= 40
