"""The command examples of README.md and of every guide in docs/, run and checked, so
that the documentation stays true.

How an example is marked (an HTML comment on the line right before its fence):

``<!-- test: run -->``
    The block is a console transcript. A command starts with ``$ ``; lines starting
    with ``> `` right after it continue it (here-documents). The lines up to the next
    command are its expected output, stdout and stderr together, compared line by line
    with trailing spaces stripped. Two wildcards: a line that is just ``...`` stands for
    any number of lines (none included), and ``...`` inside a line for any text on that
    line (``wrote ...; 0.5 s`` style figures that vary). ``$ echo $?`` shows the exit
    code of the command before it. Any other command must exit 0 unless its expected
    output holds a ``convertkit: error:`` line.
``<!-- test: json -->``
    One ``$ `` command, then a JSON document that the command's JSON output must
    contain: an object's keys are a subset of the actual keys, a list is a prefix of
    the actual list (a page shows the first layer of many), and the string
    ``"..."`` matches any value.
``<!-- test: skip: REASON -->``
    A transcript that is not run (timings that vary by machine); the reason is required.

Every fenced block of those pages that holds a ``$ `` line must carry one of these
markers (test_every_transcript_is_marked), so a new example cannot slip in unchecked.
A page without transcripts (docs/python-api.md, whose ```python blocks
tests/test_docs_python.py runs) simply adds none. Each block is one test, named by its
page and number (``docs/verify.md:block3``); a failure names the page and the line of
the block's fence.

Each block runs in one bash process (state such as files and ``$?`` carries from one
command to the next) in a fresh temporary folder holding ``fixtures`` (a link to the
repository's: the bundled icnet_small model and the sample photographs) and links to
the five official prototxts of ../shared/reference/prototxt under their own names.
PATH starts with the folder of this test's Python, so ``convertkit`` and ``python``
are the project's. Blocks that name an official prototxt skip, saying why, where
../shared is absent; blocks that need OpenCV skip without it.
"""
from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import OFFICIAL, OFFICIAL_NAMES, ROOT

README = ROOT / "README.md"
MARKER = re.compile(r"^<!--\s*test:\s*(run|json|skip)\s*(?::\s*(.*?))?\s*-->\s*$")
SEPARATOR = "@@readme-test-command-done@@"


def pages() -> list[Path]:
    """README.md, then every guide in docs/ (by name)."""
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def page_name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@dataclass
class Command:
    text: str                       # the command, continuation lines joined by newlines
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    page: str                       # README.md or docs/NAME.md
    number: int                     # the page's marked blocks counted from 1
    line: int                       # line of the opening fence (1-based)
    mode: str                       # run | json | skip
    reason: str
    body: list[str]

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line} (block {self.number})"

    @property
    def id(self) -> str:
        return f"{self.page}:block{self.number}"

    def commands(self) -> list[Command]:
        out: list[Command] = []
        for text in self.body:
            if text.startswith("$ "):
                out.append(Command(text[2:]))
            elif text.startswith("> ") and out and not out[-1].expected:
                out[-1].text += "\n" + text[2:]
            elif out:
                out[-1].expected.append(text)
            elif text.strip():
                raise AssertionError(f"{self.where}: output before the first '$ ' command")
        return out


def fenced_blocks(text: str) -> list[tuple[int, str | None, list[str]]]:
    """(line of the fence, marker line before it or None, body lines) of every fence."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].startswith("```"):
            start, j = i, i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            marker = lines[start - 1] if start > 0 and MARKER.match(lines[start - 1]) else None
            blocks.append((start + 1, marker, lines[start + 1:j]))
            i = j + 1
        else:
            i += 1
    return blocks


def marked_blocks(path: Path) -> list[Block]:
    out = []
    for line, marker, body in fenced_blocks(path.read_text(encoding="utf-8")):
        if marker is not None:
            m = MARKER.match(marker)
            out.append(Block(page_name(path), len(out) + 1, line, m.group(1), m.group(2) or "", body))
    return out


ALL_BLOCKS = [b for path in pages() for b in marked_blocks(path)]
BLOCKS = [b for b in ALL_BLOCKS if b.mode != "skip"]


# --- matching -------------------------------------------------------------------------

def lines_match(expected: list[str], actual: list[str]) -> bool:
    """Line-wise comparison with the two ``...`` wildcards (see the module docstring)."""
    parts = []
    for line in expected:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(p) for p in line.split("...")) + r"\n")
    return re.fullmatch("".join(parts), "".join(a + "\n" for a in actual)) is not None


def _trim(lines: list[str]) -> list[str]:
    lines = [ln.rstrip() for ln in lines]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def json_contains(actual, expected, where: str = "$") -> list[str]:
    """The differences between ``expected`` (the page's) and ``actual`` (see the
    module docstring: subset of keys, prefix of lists, "..." any value)."""
    if expected == "...":
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {json.dumps(actual)[:80]}"]
        errors = []
        for key, value in expected.items():
            if key not in actual:
                errors.append(f"{where}: no key {key!r} (keys: {', '.join(actual)})")
            else:
                errors += json_contains(actual[key], value, f"{where}.{key}")
        return errors
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) < len(expected):
            return [f"{where}: expected a list of at least {len(expected)} items, "
                    f"got {json.dumps(actual)[:80]}"]
        errors = []
        for k, value in enumerate(expected):
            errors += json_contains(actual[k], value, f"{where}[{k}]")
        return errors
    if expected != actual:
        return [f"{where}: the page says {json.dumps(expected)}, the command gives {json.dumps(actual)}"]
    return []


# --- running ----------------------------------------------------------------------------

def workdir(tmp_path: Path) -> Path:
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures", target_is_directory=True)
    for name in OFFICIAL_NAMES:
        src = OFFICIAL / f"{name}.prototxt"
        if src.is_file():
            (tmp_path / src.name).symlink_to(src)
    return tmp_path


def run_commands(commands: list[Command], cwd: Path) -> list[tuple[list[str], int]]:
    """Run the commands in one bash process; (output lines, exit code) of each."""
    script = []
    for cmd in commands:
        script.append(cmd.text)
        script.append(f'__rc=$?; echo "{SEPARATOR} $__rc"; (exit $__rc)')
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONUNBUFFERED="1", COLUMNS="200", NO_COLOR="1", TERM="dumb")
    env.pop("CONVERTKIT_DEBUG", None)
    proc = subprocess.run(["bash", "-c", "\n".join(script)], cwd=cwd, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    results, current = [], []
    for line in proc.stdout.splitlines():
        if line.startswith(SEPARATOR):
            results.append((current, int(line.split()[-1])))
            current = []
        else:
            current.append(line)
    assert len(results) == len(commands), f"bash stopped early:\n{proc.stdout}"
    return results


def needs(block: Block) -> None:
    text = "\n".join(block.body)
    for name in OFFICIAL_NAMES:
        if f"{name}.prototxt" in text and not (OFFICIAL / f"{name}.prototxt").is_file():
            pytest.skip(f"{block.where} uses {name}.prototxt: official reference "
                        f"prototxt not found at {OFFICIAL} (needs ../shared/reference)")
    if any(k in text for k in ("--image", "zoo make", "--runtime opencv", "rewrite")):
        pytest.importorskip("cv2", reason="opencv-python-headless is not installed")


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[b.id for b in ALL_BLOCKS])
def test_documented_example(block: Block, tmp_path):
    if block.mode == "skip":
        pytest.skip(f"{block.where}: {block.reason}")
    needs(block)
    commands = block.commands()
    assert commands, f"{block.where}: a marked block without a '$ ' command"
    results = run_commands(commands, workdir(tmp_path))
    if block.mode == "json":
        assert len(commands) == 1, f"{block.where}: a json block holds one command"
        (actual, rc), = results
        assert rc == 0, "\n".join(actual)
        expected = json.loads("\n".join(commands[0].expected))
        errors = json_contains(json.loads("\n".join(actual)), expected)
        assert not errors, f"{block.where}: " + "; ".join(errors)
        return
    for k, (cmd, (actual, rc)) in enumerate(zip(commands, results)):
        expected, actual = _trim(cmd.expected), _trim(actual)
        shows_error = any(ln.startswith("convertkit: error:") for ln in expected)
        shows_rc = k + 1 < len(commands) and commands[k + 1].text.strip() == "echo $?"
        if not (shows_error or shows_rc or cmd.text.strip() == "echo $?"):
            assert rc == 0, f"{block.where}: `{cmd.text}` exited {rc}:\n" + "\n".join(actual)
        if not lines_match(expected, actual):
            diff = "\n".join(difflib.unified_diff(expected, actual, block.page, "actual", lineterm=""))
            pytest.fail(f"{block.where}: `{cmd.text}` prints otherwise:\n{diff}")


# --- the markers themselves ---------------------------------------------------------------

@pytest.mark.parametrize("path", pages(), ids=page_name)
def test_every_transcript_is_marked(path: Path):
    unmarked = [line for line, marker, body in fenced_blocks(path.read_text(encoding="utf-8"))
                if marker is None and any(b.startswith("$ ") for b in body)]
    assert not unmarked, (f"{page_name(path)} lines {unmarked}: a transcript ('$ ' lines) "
                          "without a <!-- test: run|json|skip: reason --> marker")
    for block in marked_blocks(path):
        if block.mode == "skip":
            assert block.reason, f"{block.where}: a skipped example must say why"


def test_the_pages_have_runnable_examples():
    # The tour in the README, and across the guides the examples made runnable so far:
    # the official ICNet table and --input-shape error, the errors section, the zoo,
    # run, rewrite and inspect --json.
    assert sum(b.page == "README.md" for b in BLOCKS) >= 2
    assert len(BLOCKS) >= 15
    assert any(b.mode == "json" for b in BLOCKS)


def test_wildcards_match_what_they_say_and_nothing_more():
    assert lines_match(["a", "...", "z"], ["a", "b", "c", "z"])
    assert lines_match(["a", "...", "z"], ["a", "z"])
    assert lines_match(["took ... s"], ["took 0.52 s"])
    assert not lines_match(["a", "z"], ["a", "b", "z"])
    assert not lines_match(["took ... s"], ["took 0.52 ms!"])
    assert not lines_match(["a(b)"], ["ab"])  # regex characters are literal
    assert json_contains({"a": [1, 2, 3], "b": {"c": 1, "d": 2}}, {"a": [1, 2], "b": {"c": 1}}) == []
    assert json_contains({"a": 5}, {"a": "..."}) == []
    assert json_contains({"a": [1]}, {"a": [1, 2]})
    assert json_contains({"a": 1}, {"a": 2})
    assert json_contains({"a": 1}, {"b": 1})
