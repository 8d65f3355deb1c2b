"""The first check of every benchmark: it runs with the project's Python.

The benchmarks import convertkit from this checkout and need its dependencies
(numpy, protobuf, click; OpenCV for bench_runtime.py), which live in .venv, not in
the system Python. Without them a benchmark stops with one line saying how to run
it, before it imports anything (bench_runtime.py sets BLAS threads first).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

CORE = ("numpy", "google.protobuf", "click", "convertkit")


def require(script: str, modules: tuple[str, ...] = CORE) -> None:
    """Exit with one line unless every module in ``modules`` can be imported."""
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # a missing parent package (google)
            found = False
        if not found:
            sys.exit(f"{Path(script).name}: cannot import {name} with {sys.executable}; run the "
                     f"benchmarks with the project's environment: .venv/bin/python "
                     f"bench/{Path(script).name} (bash .ci/setup creates .venv)")
