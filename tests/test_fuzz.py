"""A seeded mutation fuzz of what every command reads: prototxts, caffemodels, --input
arrays, images, mapping tables, and the converted files that verify --converted and
segment --weights read. Each case must exit 0 with its output, or 2 with one line
naming the problem and no output; never a traceback (exit 1), a hang, or memory growth
past a cap. The fast tier runs a sample; the slow tier 10,000 cases."""
from __future__ import annotations

import io
import os
import random
import resource
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from convertkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
NETS = ROOT / "fixtures" / "nets"
IMAGE = ROOT / "fixtures" / "images" / "chelsea.png"
MAPPING = ROOT / "mappings" / "caffe.toml"

#: How much the peak RSS may grow over a run of cases (MiB).
RSS_GROWTH_CAP = 1500


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One of: flipped bytes, a truncation, a deleted or repeated span, random bytes."""
    data = bytearray(data)
    kind = rng.randrange(5)
    if not data:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    if kind == 0:
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:
        del data[rng.randrange(len(data)):]
    elif kind == 2:
        a = rng.randrange(len(data))
        del data[a:a + rng.randrange(1, 64)]
    elif kind == 3:
        a = rng.randrange(len(data))
        data[a:a] = data[a:a + rng.randrange(1, 64)] * rng.randrange(1, 4)
    else:
        data = bytearray(rng.randrange(256) for _ in range(rng.randrange(0, 512)))
    return bytes(data)


NUMBERS = ["0", "-1", "1", "3", "7", "65536", "2147483647", "-2147483648", "1e30", "nan", "0.5"]


def _mutate_text(text: str, rng: random.Random) -> str:
    """A prototxt or table edited as a user's mistake might: numbers changed, a line
    dropped or doubled, a token swapped, or raw byte damage."""
    lines = text.splitlines()
    kind = rng.randrange(5)
    if kind == 0:  # a number changed
        import re

        spots = [(i, m) for i, line in enumerate(lines) for m in re.finditer(r"-?\d+(\.\d+)?", line)]
        if spots:
            i, m = rng.choice(spots)
            lines[i] = lines[i][:m.start()] + rng.choice(NUMBERS) + lines[i][m.end():]
    elif kind == 1 and lines:
        del lines[rng.randrange(len(lines))]
    elif kind == 2 and lines:
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
    elif kind == 3 and lines:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    else:
        return _mutate_bytes(text.encode(), rng).decode("utf-8", "replace")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Good inputs of every kind, made once: two small nets with weights, their
    conversions, an input array."""
    d = tmp_path_factory.mktemp("corpus")
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        for name in ("classifier", "enet_like"):
            assert main(["zoo", "make", "--from", str(NETS / f"{name}.prototxt"), "-o", str(d)]) == 0
        assert main(["convert", str(d / "enet_like.prototxt"), str(d / "enet_like.caffemodel"),
                     "--to", "npz,torch", "-o", str(d / "conv"), "--quiet"]) == 0
    np.save(d / "x.npy", np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32))
    return d


def _case(corpus: Path, work: Path, rng: random.Random) -> list[str]:
    """One mutated input and the command that reads it."""
    c = corpus
    which = rng.randrange(8)
    out = str(work / "out.npz")
    if which == 0:
        p = work / "net.prototxt"
        p.write_text(_mutate_text((c / "classifier.prototxt").read_text(), rng))
        return rng.choice([["inspect", str(p)], ["run", str(p), str(c / "classifier.caffemodel"),
                                                 "--input", str(c / "x.npy"), "-o", out]])
    if which == 1:
        m = work / "net.caffemodel"
        m.write_bytes(_mutate_bytes((c / "classifier.caffemodel").read_bytes(), rng))
        return rng.choice([["inspect", str(c / "classifier.prototxt"), str(m)],
                           ["caffe2npz", str(c / "classifier.prototxt"), str(m), "-o", out],
                           ["inspect", str(m)]])
    if which == 2:
        x = work / "x.npy"
        x.write_bytes(_mutate_bytes((c / "x.npy").read_bytes(), rng))
        return ["run", str(c / "classifier.prototxt"), str(c / "classifier.caffemodel"),
                "--input", str(x), "-o", out]
    if which == 3:
        img = work / "img.png"
        img.write_bytes(_mutate_bytes(IMAGE.read_bytes()[:4096], rng) if rng.random() < 0.5
                        else _mutate_bytes(IMAGE.read_bytes(), rng))
        return ["run", str(c / "classifier.prototxt"), str(c / "classifier.caffemodel"),
                "--image", str(img), "-o", out]
    if which == 4:
        t = work / "table.toml"
        t.write_text(_mutate_text(MAPPING.read_text(), rng))
        return rng.choice([["mappings", "check", str(t)],
                           ["convert", str(c / "classifier.prototxt"), str(c / "classifier.caffemodel"),
                            "--to", "npz", "--mapping", str(t), "-o", str(work / "conv"), "--quiet"]])
    if which == 5:
        conv = work / "conv"
        conv.mkdir()
        src = rng.choice(sorted((c / "conv").iterdir()))
        (conv / src.name).write_bytes(_mutate_bytes(src.read_bytes(), rng))
        return ["verify", str(c / "enet_like.prototxt"), str(c / "enet_like.caffemodel"),
                "--converted", str(conv), "--input", str(c / "x.npy"), "--quiet", "--layers", "auto"]
    if which == 6:
        src = rng.choice(sorted((c / "conv").iterdir()))
        w = work / src.name
        w.write_bytes(_mutate_bytes(src.read_bytes(), rng))
        return ["segment", str(c / "enet_like.prototxt"), str(IMAGE), "--weights", str(w),
                "--input-size", "32x32", "-o", str(work / "seg")]
    p = work / "net.prototxt"
    p.write_text(_mutate_text((c / "enet_like.prototxt").read_text(), rng))
    return ["run", str(p), str(c / "enet_like.caffemodel"), "--input", str(c / "x.npy"), "-o", out]


def _written(work: Path) -> list[str]:
    return [p.name for p in work.rglob("*") if p.is_file() and p.name.startswith(("out", ".out"))
            or p.parent.name in ("seg",)]


def run_fuzz(corpus: Path, tmp: Path, cases: int, seed: int) -> list[str]:
    """Run ``cases`` seeded cases; returns what went wrong, one line each."""
    rng = random.Random(seed)
    problems = []
    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for k in range(cases):
        work = tmp / f"case{k}"
        work.mkdir()
        args = _case(corpus, work, rng)
        err, out = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            rc = main(args)
        lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
        if rc not in (0, 1, 2) or "Traceback" in err.getvalue() or "internal error" in err.getvalue():
            problems.append(f"case {k} {args[0]}: rc {rc}: {' | '.join(lines)[:300]}")
        elif rc == 2:
            errors = [ln for ln in lines if ln.startswith("convertkit: error:")]
            if len(errors) != 1 or not lines[-1].startswith("convertkit: error:"):
                problems.append(f"case {k} {args[0]}: not one error line: {lines[-3:]}")
            if _written(work):
                problems.append(f"case {k} {args[0]}: exit 2 left {_written(work)}")
        elif rc == 1 and args[0] != "verify":  # verify: 1 is a verdict (a file that differs)
            problems.append(f"case {k} {args[0]}: rc 1: {lines[-1:]}")
        shutil.rmtree(work, ignore_errors=True)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - start
    if grown > RSS_GROWTH_CAP:
        problems.append(f"peak RSS grew by {grown:.0f} MiB (cap {RSS_GROWTH_CAP})")
    return problems


def test_fuzz_sample(corpus, tmp_path):
    problems = run_fuzz(corpus, tmp_path, 300, seed=1)
    assert problems == [], "\n".join(problems[:20])


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_fuzz_ten_thousand(corpus, tmp_path):
    problems = run_fuzz(corpus, tmp_path, int(os.environ.get("CONVERTKIT_FUZZ_CASES", 10_000)), seed=2)
    assert problems == [], f"{len(problems)} problems:\n" + "\n".join(problems[:30])
