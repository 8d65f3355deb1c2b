"""Keep the frameworks' own log lines off the user's terminal (unless ``--verbose``).

TensorFlow's C++ core writes ``I0000 ... port.cc:153] oneDNN custom operations are
on ...`` and absl's ``WARNING: All log messages before absl::InitializeLog() ...``
straight to file descriptor 2, once per library it loads, whatever
``TF_CPP_MIN_LOG_LEVEL`` says; torch.export and Keras warn through Python. None of
it is convertkit's to say, and it made the last line of stderr someone else's.

:func:`filter_stderr` puts a pipe on descriptor 2 and a thread that copies every line
through except those in a framework's log format; :func:`quiet_python` silences their
Python warnings and loggers. The CLI uses both for a real command line only (tests
call ``main(argv)`` with their own capture).
"""
from __future__ import annotations

import logging
import os
import re
import threading
import warnings

#: Lines written by the frameworks' native loggers: glog/absl ("I0000 00:00:...",
#: "W1204 ...", with a thread id and file:line]), absl's pre-init banner, and OpenCV's
#: ("[ WARN:0@16.747] global grfmt_png.cpp:793 ...").
NATIVE_LOG = re.compile(rb"^(?:[IWE]\d{4} \d\d:\d\d:[\d.]+\s+\d+ [\w./-]+:\d+\] |"
                        rb"WARNING: All log messages before absl::InitializeLog\(\)|"
                        rb"\[ ?(?:INFO|WARN|ERROR|DEBUG):\d+@[\d.]+\] )")  # OpenCV's

#: Lines that continue a native entry: OpenCV's failed checks go on with "> ..." lines
#: and a blank one.
CONTINUATION = re.compile(rb"^(?:>|\s*$)")


def kept_lines(lines: list[bytes], dropping: bool = False) -> tuple[list[bytes], bool]:
    """The lines to write through, and whether the last one was part of a dropped
    native entry (so that the next chunk's continuation lines are dropped too)."""
    kept = []
    for line in lines:
        dropping = bool(NATIVE_LOG.match(line) or (dropping and CONTINUATION.match(line)))
        if not dropping:
            kept.append(line)
    return kept, dropping


#: Python packages whose warnings and loggers are kept quiet.
FRAMEWORKS = ("tensorflow", "keras", "absl", "torch", "onnx", "onnxruntime", "h5py")


def quiet_python() -> None:
    """The frameworks' Python warnings and log records below ERROR are dropped."""
    for name in FRAMEWORKS:
        warnings.filterwarnings("ignore", module=rf"{name}(\..*)?$")
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class StderrFilter:
    """Native writes to descriptor 2 go through a pipe, and lines in a framework's log
    format are dropped; Python's ``sys.stderr`` (convertkit's own messages, progress
    bars) keeps writing to the terminal itself, so it still knows it is one.
    :meth:`close` puts everything back and writes out what is left in the pipe."""

    def __init__(self) -> None:
        import sys

        self.real = os.dup(2)
        self.saved = sys.stderr
        sys.stderr = open(os.dup(self.real), "w", buffering=1,  # noqa: SIM115 - closed in close()
                          encoding=getattr(self.saved, "encoding", None) or "utf-8",
                          errors="backslashreplace")
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self.read = read
        self.thread = threading.Thread(target=self._copy, name="convertkit-stderr", daemon=True)
        self.thread.start()

    def _copy(self) -> None:
        pending, dropping = b"", False
        while chunk := os.read(self.read, 65536):
            *lines, pending = (pending + chunk).split(b"\n")
            kept, dropping = kept_lines(lines, dropping)
            for line in kept:
                os.write(self.real, line + b"\n")
        if pending and kept_lines([pending], dropping)[0]:
            os.write(self.real, pending)
        os.close(self.read)

    def close(self) -> None:
        import sys

        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = self.saved
        os.dup2(self.real, 2)  # the pipe's last writer closes: the thread drains and ends
        self.thread.join(timeout=5)
        os.close(self.real)


def filter_stderr() -> StderrFilter | None:
    """Start filtering descriptor 2, or None where it cannot be (no descriptor 2)."""
    try:
        os.fstat(2)
    except OSError:
        return None
    return StderrFilter()
