"""The frameworks' own log lines never reach the user's terminal unless asked for
(--verbose): TensorFlow's native oneDNN banner and absl's, written to descriptor 2."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from convertkit.cli import logs

ROOT = Path(__file__).resolve().parents[1]

#: A child that writes like TensorFlow's C++ core and like convertkit, through the filter.
CHILD = r"""
import os, sys
from convertkit.cli import logs
f = logs.filter_stderr()
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
os.write(2, b"I0000 00:00:1796419452.804030    4250 port.cc:153] oneDNN custom operations are on.\n")
os.write(2, b"native but not a log line\n")
print("convertkit: error: x.prototxt: something", file=sys.stderr)
print("to stdout")
f.close()
print("after close", file=sys.stderr)
"""


def test_native_log_lines_are_dropped_and_the_rest_kept():
    res = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "to stdout\n"
    # Python's writes go straight to the terminal, native ones through the pipe: the
    # order between the two may differ, the lines may not.
    assert sorted(res.stderr.splitlines()) == sorted(
        ["native but not a log line", "convertkit: error: x.prototxt: something", "after close"])


@pytest.mark.parametrize("line, dropped", [
    (b"I0000 00:00:1796419452.804030    4250 port.cc:153] oneDNN custom operations", True),
    (b"W1204 21:22:12.000001  123 cpu_feature_guard.cc:210] This TensorFlow binary", True),
    (b"WARNING: All log messages before absl::InitializeLog() is called", True),
    (b"[ WARN:0@16.747] global grfmt_png.cpp:793 readFromStreamOrBuffer PNG input buffer", True),
    (b"convertkit: error: I0000 is not a layer", False),
    (b"note: preprocessing: resize to 32x32", False),
])
def test_native_log_format(line, dropped):
    assert bool(logs.NATIVE_LOG.match(line)) == dropped


def test_a_native_entrys_continuation_lines_go_with_it():
    """OpenCV's failed shape checks log "[ERROR:0@...]" lines, then "> ..." lines and a
    blank one: all dropped; what follows is kept, and "> " elsewhere is kept."""
    lines = [b"[ERROR:0@0.082] global net_impl.cpp:1182 getLayerShapesRecursively Exception",
             b">  (expected: 'clamped.start < clamped.end'), where",
             b">     'clamped.start' is 4", b""]
    assert logs.kept_lines(lines) == ([], True)
    assert logs.kept_lines([b"> still it", b"convertkit: error: x", b"> a quote"], True) == (
        [b"convertkit: error: x", b"> a quote"], False)


def test_verify_with_tensorflow_prints_no_framework_lines(tmp_path):
    pytest.importorskip("tensorflow")
    exe = Path(sys.executable).with_name("convertkit")
    if not exe.exists():
        pytest.skip(f"{exe} is not installed (pip install -e .)")
    nets = ROOT / "fixtures" / "nets"
    assert subprocess.run([str(exe), "zoo", "make", "--from", str(nets / "classifier.prototxt"),
                           "-o", str(tmp_path)], capture_output=True, timeout=300).returncode == 0
    args = [str(tmp_path / "classifier.prototxt"), str(tmp_path / "classifier.caffemodel"),
            "--runtimes", "tf", "--formats", "savedmodel", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k not in ("CONVERTKIT_VERBOSE", "TF_CPP_MIN_LOG_LEVEL")}
    res = subprocess.run([str(exe), "verify", *args], capture_output=True, text=True,
                         timeout=600, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "verdict: PASS" in res.stdout
    for line in res.stderr.splitlines():
        assert line.startswith(("note:", "convertkit:")), line
    loud = subprocess.run([str(exe), "--verbose", "verify", *args], capture_output=True, text=True,
                          timeout=600, env=env)
    assert loud.returncode == 0
    # With --verbose nothing is filtered: whatever TensorFlow says reaches stderr.
    assert set(res.stderr.splitlines()) <= set(loud.stderr.splitlines())
