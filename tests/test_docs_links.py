"""The documentation's own links hold: every relative link of README.md and of the
guides in docs/ (to a file, a folder, or a ``#anchor`` in a markdown page) resolves,
and the README stays a page a newcomer reads through (at most 260 lines).

Anchors are the ones GitHub makes from a page's headings: the heading's text without
markup, lowercased, every character other than a letter, digit, ``_``, ``-`` or space
dropped, spaces made ``-``, and ``-1``, ``-2`` ... added to repeats. Links inside
fenced blocks and code spans are not links, and are left alone; so are absolute URLs.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT

README_MAX_LINES = 260

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+).*?\1", re.S)


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def page_name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def prose(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line outside fenced blocks."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, line))
    return out


def prose_text(text: str) -> str:
    """The page with fenced lines and code spans blanked, line numbers kept."""
    kept = dict(prose(text))
    lines = [kept.get(n, "") for n in range(1, len(text.splitlines()) + 1)]
    return CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), "\n".join(lines))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (see the module docstring)."""
    text = CODE_SPAN.sub(lambda m: m.group(0)[len(m.group(1)):-len(m.group(1))], heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)     # a link: its text
    text = re.sub(r"<[^>]+>", "", text)                           # inline HTML
    text = text.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in "_- ")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for _, line in prose(path.read_text(encoding="utf-8")):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every link of the page outside code (a link's text may wrap)."""
    text = prose_text(path.read_text(encoding="utf-8"))
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in LINK.finditer(text)]


def broken(path: Path) -> list[str]:
    problems = []
    for number, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):       # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{page_name(path)}:{number}: ({target})"
        if not dest.exists():
            problems.append(f"{where}: no such file {page_name(dest)}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{where}: no heading makes #{anchor} in {page_name(dest)}")
    return problems


@pytest.mark.parametrize("path", pages(), ids=page_name)
def test_every_relative_link_resolves(path: Path):
    problems = broken(path)
    assert not problems, "\n".join(problems)


def test_the_readme_links_every_guide():
    targets = {t.partition("#")[0] for _, t in links(ROOT / "README.md")}
    missing = [page_name(p) for p in pages()[1:] if page_name(p) not in targets]
    assert not missing, f"README.md does not link {missing}"


def test_the_readme_stays_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move detail into a guide in docs/")


def test_a_broken_link_is_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"""# A page

## Its `second` heading

[fine](#its-second-heading), [wrapped
text](#its-second-heading), [a guide]({ROOT}/docs/runtimes.md#preprocessing),
`[code](nowhere.md)`, [web](https://example.org/x.md#y)

```text
[fenced](nowhere.md)
```

[gone](nowhere.md) and [bad anchor]({ROOT}/docs/runtimes.md#no-such-heading)
[bad local
anchor](#its-third-heading)
""")
    problems = broken(page)
    assert len(problems) == 3, problems
    assert "page.md:13: (nowhere.md): no such file" in problems[0]
    assert "no heading makes #no-such-heading in docs/runtimes.md" in problems[1]
    assert "page.md:14: (#its-third-heading)" in problems[2]


def test_anchors_follow_github():
    assert slug("Running a model: `convertkit run`") == "running-a-model-convertkit-run"
    assert slug("Calibrated weights for any prototxt: `zoo make --from`") == (
        "calibrated-weights-for-any-prototxt-zoo-make---from")
    assert slug("Runtimes: PyTorch, TensorFlow and ONNX Runtime") == (
        "runtimes-pytorch-tensorflow-and-onnx-runtime")
    assert slug("For contributors: the IR and the seams") == "for-contributors-the-ir-and-the-seams"
