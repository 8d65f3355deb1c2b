"""The package's layout as docs/architecture.md draws it: the stage table on that page
is read here, and every import inside convertkit (lazy ones included) must go to the
importer's own stage or an earlier one, no two modules may import each other through
any chain, and every module must belong to a stage the page names."""
from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "convertkit"
PAGE = ROOT / "docs" / "architecture.md"
ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|")


def stage_ranks(page: Path) -> dict[str, int]:
    """Top-level unit of convertkit (a module or a package) -> its stage's rank."""
    ranks = {}
    for line in page.read_text().splitlines():
        m = ROW.match(line)
        if m:
            for unit in re.findall(r"`([^`]+)`", m.group(3)):
                assert unit not in ranks, f"{unit} is in two rows of {page.name}"
                ranks[unit] = int(m.group(1))
    return ranks


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def import_edges(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (relative imports resolved; a
    name imported from a package is the submodule when there is one). Imports under
    ``if TYPE_CHECKING:`` are left out: they never run."""
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    edges: dict[str, set[str]] = defaultdict(set)
    top = root.name
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        skipped = {id(n) for block in ast.walk(tree) if _type_checking(block)
                   for n in ast.walk(block)}
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in files else target
                           for a in node.names]
            else:
                continue
            edges[mod].update(t for t in targets if t.split(".")[0] == top and t != mod)
    return edges


def unit(mod: str) -> str:
    """convertkit.caffe.loader -> caffe; convertkit -> __init__."""
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def upward_imports(edges, ranks) -> list[str]:
    return [f"{a} imports {b}: stage {ranks[unit(a)]} ({unit(a)}) reaches up to stage "
            f"{ranks[unit(b)]} ({unit(b)})"
            for a, targets in sorted(edges.items()) for b in sorted(targets)
            if unit(a) in ranks and unit(b) in ranks and ranks[unit(b)] > ranks[unit(a)]]


def face_imports(edges, ranks) -> list[str]:
    """Imports of the public faces (the last stage) from inside the package."""
    last = max(ranks.values())
    return [f"{a} imports the public face {b}" for a, targets in sorted(edges.items())
            for b in sorted(targets)
            if ranks.get(unit(b)) == last and ranks.get(unit(a)) != last]


def cycles(edges) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def edges():
    return import_edges(PACKAGE)


def test_every_module_belongs_to_a_stage_on_the_page():
    ranks = stage_ranks(PAGE)
    assert len(set(ranks.values())) >= 10, "the stage table was not read"
    units = {unit(module_name(p, PACKAGE)) for p in PACKAGE.rglob("*.py")}
    assert units - set(ranks) == set(), f"modules no row of {PAGE.name} names"
    assert set(ranks) - units == set(), f"rows of {PAGE.name} name modules that do not exist"


def test_no_import_runs_back_up_the_stages(edges):
    ranks = stage_ranks(PAGE)
    assert upward_imports(edges, ranks) == []
    assert face_imports(edges, ranks) == []


def test_no_import_cycles(edges):
    assert cycles(edges) == []


def test_the_mapping_model_knows_nothing_of_its_reader_and_resolver(edges):
    assert {e for e in edges["convertkit.mapping.model"] if e.startswith("convertkit.mapping")} == set()


def test_no_backend_imports_another(edges):
    frameworks = {p.name for p in (PACKAGE / "backends").iterdir() if (p / "__init__.py").is_file()}
    assert {"torch", "onnx", "tf", "opencv"} <= frameworks

    def framework(mod):
        parts = mod.split(".")
        return parts[2] if len(parts) > 2 and parts[1] == "backends" and parts[2] in frameworks else None

    crossing = [(a, b) for a, targets in edges.items() for b in targets
                if framework(a) and framework(b) and framework(a) != framework(b)]
    assert crossing == []


def test_the_checks_catch_what_they_are_for(tmp_path):
    """A made-up package with a lazy upward import, a cycle, and a face import."""
    pkg = tmp_path / "demo"
    (pkg / "low").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .low import thing\n")
    (pkg / "low" / "__init__.py").write_text("from .a import thing\n")
    (pkg / "low" / "a.py").write_text("from . import b\nthing = 1\n")
    (pkg / "low" / "b.py").write_text("def f():\n    from .. import high\n    from . import a\n")
    (pkg / "high.py").write_text("from typing import TYPE_CHECKING\n"
                                 "if TYPE_CHECKING:\n    from . import thing\n")
    edges = import_edges(pkg)
    ranks = {"low": 0, "high": 1, "__init__": 2}
    assert upward_imports(edges, ranks) == [
        "demo.low.b imports demo.high: stage 0 (low) reaches up to stage 1 (high)"]
    assert face_imports(edges, ranks) == []  # high's import of the face never runs
    assert cycles(edges) == [["demo.low.a", "demo.low.b"]]
    (pkg / "high.py").write_text("from . import thing\n")
    assert face_imports(import_edges(pkg), ranks) == ["demo.high imports the public face demo"]
