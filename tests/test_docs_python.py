"""docs/python-api.md, run: every ```python block, in order, in one namespace, in a
temporary folder holding a link to the repository's fixtures. A block that raises
(its asserts included) fails the test; so does a page with no blocks. The public
calls the page documents carry docstrings and typed signatures."""
from __future__ import annotations

import inspect
import re

import pytest

from conftest import ROOT

PAGE = ROOT / "docs" / "python-api.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks() -> list[str]:
    return BLOCK.findall(PAGE.read_text())


def test_the_page_has_blocks_and_names_its_calls():
    found = blocks()
    assert len(found) >= 4
    text = PAGE.read_text()
    for call in ("convertkit.load", "convertkit.save", "runtime.create", "Verifier", "report.write"):
        assert call in text, call


def test_every_block_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_python_api"}
    for i, code in enumerate(blocks()):
        exec(compile(code, f"{PAGE.name} block {i + 1}", "exec"), namespace)
    printed = capsys.readouterr().out
    # what the page's comments promise
    assert "BN ('gamma', 'beta', 'mean', 'variance')" in printed
    assert "already exists" in printed and "icnet.npz" in printed
    assert "pass" in printed.split()
    assert "['report.json', 'report.md', 'report.html']" in printed


def test_the_documented_calls_are_typed_and_explained():
    import convertkit
    from convertkit import runtime
    from convertkit.runtime.preprocess import Preprocessing
    from convertkit.verify import Verifier, report, samples_from_images

    calls = [convertkit.load, convertkit.save, runtime.create, Preprocessing.prepare,
             Verifier.run, samples_from_images, report.write]
    for call in calls:
        assert inspect.getdoc(call), call.__qualname__
        signature = inspect.signature(call)
        named = [p for p in signature.parameters.values() if p.name not in ("self", "cls")]
        untyped = [p.name for p in named if p.annotation is inspect.Parameter.empty
                   and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        assert not untyped, f"{call.__qualname__}: {untyped} untyped"
        assert signature.return_annotation is not inspect.Signature.empty, call.__qualname__
