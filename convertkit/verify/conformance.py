"""Conformance against real Caffe: cases that BVLC Caffe itself computed, run through
every convertkit runtime and every runnable export.

A case folder (``case_<seed>/``, as ``../shared/tools/caffe_oracle_gen.py`` writes it)
holds ``net.prototxt``, ``net.caffemodel`` (Caffe's ``Net.save``), ``input.npy``,
``blobs.npz`` (every entry of pycaffe's ``net.blobs`` after ``net.forward()``) and
``meta.json``. A target passes a case when every blob it exposes equals Caffe's,
under Caffe's name and in Caffe's shape, within ``max|diff| <= 1e-4 * max|ref|``:

- the direct runtimes (``numpy``, ``opencv``, ``torch``, ``tf``, ``onnx``) expose every
  blob of the net (``runtime.create(name, net).forward(inputs, keep="all")``), which
  should be what ``net.blobs`` holds; only Caffe's auto-inserted ``*_split_*`` blobs
  are not theirs to expose;
- the exports (``onnx-file``: the ``.onnx`` file in onnxruntime alone; ``pt2``;
  ``savedmodel``; ``keras``) are written with :func:`convertkit.emit.convert.convert` into a
  temporary folder, opened as ``verify`` opens them (:class:`~.subjects.Subject`), and
  expose the net's outputs.

Each result is one of ``pass``; ``refused`` (the target cannot express the net and
says why: an :class:`~convertkit.errors.UnsupportedLayerError`, before or while
running); ``fail`` (a blob differs, in value or shape, or is missing); ``error``
(anything else: convertkit broke on a net Caffe runs).
"""
from __future__ import annotations

import json
import random
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import ConvertError, UnsupportedLayerError, UsageError

#: Runtimes built straight from the net, every blob compared.
DIRECT = ("numpy", "opencv", "torch", "tf", "onnx")
#: Runnable exports: target name -> ``convert --to`` format. Their outputs are compared.
EXPORTS = {"onnx-file": "onnx", "pt2": "pt2", "savedmodel": "savedmodel", "keras": "keras"}
TARGETS = DIRECT + tuple(EXPORTS)
STATUSES = ("pass", "refused", "fail", "error")
RTOL = 1e-4


@dataclass(frozen=True)
class Case:
    """One case folder."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def seed(self) -> int:
        m = re.search(r"(\d+)$", self.path.name)
        return int(m.group(1)) if m else -1

    @cached_property
    def meta(self) -> dict:
        return json.loads((self.path / "meta.json").read_text())

    @property
    def types(self) -> list[str]:
        return list(self.meta.get("types", []))

    def reference(self) -> dict[str, np.ndarray]:
        """Caffe's ``net.blobs`` after the pass."""
        with np.load(self.path / "blobs.npz") as z:
            return {k: z[k] for k in z.files}

    def inputs(self, net) -> dict[str, np.ndarray]:
        x = np.load(self.path / "input.npy", allow_pickle=False)
        if len(net.inputs) != 1:
            raise UsageError(f"the case has one input.npy, the net {len(net.inputs)} inputs",
                             path=str(self.path))
        return {next(iter(net.inputs)): np.asarray(x, np.float32)}

    def load(self):
        """The net, as convertkit reads it. A net of a layer type convertkit has no
        module for (as Caffe's record of the case names its types) is refused, whatever
        the reader says first (its parameter block may be unknown to our schema)."""
        from ..layers import is_supported
        from ..caffe.loader import load

        try:
            return load(str(self.path / "net.prototxt"), str(self.path / "net.caffemodel"))
        except ConvertError as exc:
            missing = [t for t in self.types if not is_supported(t)]
            if missing and not isinstance(exc, UnsupportedLayerError):
                raise UnsupportedLayerError(
                    f"unsupported layer type(s) {', '.join(missing)} ({_one_line(exc)})",
                    path=str(self.path / "net.prototxt")) from None
            raise


@dataclass
class Result:
    case: str
    target: str
    status: str
    detail: str = ""
    #: Worst max|diff| / max|ref| over the compared blobs (None when nothing was compared).
    worst: float | None = None
    blobs: int = 0
    seconds: float = 0.0

    def as_json(self) -> dict:
        return asdict(self)


# -- cases ------------------------------------------------------------------------------

def list_cases(root: str | Path) -> list[Case]:
    """Every case folder under ``root`` (those holding a net.prototxt), by seed."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError("not a folder of conformance cases", path=str(root))
    cases = [Case(p) for p in root.iterdir() if p.is_dir() and (p / "net.prototxt").is_file()]
    if not cases:
        raise UsageError("holds no case folders (case_<seed>/net.prototxt)", path=str(root))
    return sorted(cases, key=lambda c: (c.seed, c.name))


def sample(cases: Sequence[Case], n: int | None, seed: int = 0) -> list[Case]:
    """``n`` cases drawn with ``seed``, covering every layer type any case has when
    ``n`` allows (one case per type first, rarest types first), by seed order; all
    cases when ``n`` is None or at least their number."""
    if n is None or n >= len(cases):
        return list(cases)
    rng = random.Random(seed)
    by_type: dict[str, list[Case]] = {}
    for c in cases:
        for t in c.types:
            by_type.setdefault(t, []).append(c)
    chosen: dict[str, Case] = {}
    for t in sorted(by_type, key=lambda t: (len(by_type[t]), t)):
        if len(chosen) >= n:
            break
        if any(t in c.types for c in chosen.values()):
            continue
        c = rng.choice(by_type[t])
        chosen[c.name] = c
    rest = [c for c in cases if c.name not in chosen]
    rng.shuffle(rest)
    for c in rest[:max(0, n - len(chosen))]:
        chosen[c.name] = c
    return sorted(chosen.values(), key=lambda c: (c.seed, c.name))


# -- comparing ----------------------------------------------------------------------------

def compare(got: dict[str, np.ndarray], ref: dict[str, np.ndarray], *,
            required: Iterable[str] = (), rtol: float = RTOL) -> tuple[list[str], float | None]:
    """(problems, worst relative difference) of ``got`` against Caffe's blobs ``ref``:
    every blob of ``got`` must be one of Caffe's, of its shape and within
    ``max|diff| <= rtol * max|ref|``; every name in ``required`` must be in ``got``."""
    problems, worst = [], None
    for name in required:
        if name not in got:
            problems.append(f"blob '{name}' of Caffe's net.blobs is not exposed")
    for name, value in got.items():
        if name not in ref:
            problems.append(f"blob '{name}' is not in Caffe's net.blobs")
            continue
        a = np.asarray(value, np.float32)
        r = np.asarray(ref[name], np.float32)
        if a.shape != r.shape:
            problems.append(f"blob '{name}' is {_shape(a.shape)}, Caffe's {_shape(r.shape)}")
            continue
        bad_nan = np.isnan(a) != np.isnan(r)
        if bad_nan.any():
            problems.append(f"blob '{name}': NaN at {int(bad_nan.sum())} places where Caffe "
                            "has none, or the other way round")
            continue
        fin = np.isfinite(r)
        if (np.isinf(a) != np.isinf(r)).any() or (a[np.isinf(r)] != r[np.isinf(r)]).any():
            problems.append(f"blob '{name}': infinities differ from Caffe's")
            continue
        scale = float(np.max(np.abs(r[fin]))) if fin.any() else 0.0
        diff = float(np.max(np.abs(a[fin].astype(np.float64) - r[fin]))) if fin.any() else 0.0
        rel = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
        worst = rel if worst is None else max(worst, rel)
        if diff > rtol * scale:
            problems.append(f"blob '{name}': max|diff| {diff:.3g} > {rtol:g} x max|ref| "
                            f"{scale:.3g} (rel {rel:.3g})")
    return problems, worst


def _shape(shape) -> str:
    return "x".join(map(str, shape)) or "a scalar"


# -- running ------------------------------------------------------------------------------

def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500] if not isinstance(exc, ConvertError) else text[:500]


def _direct(case: Case, target: str, net, ref) -> Result:
    from .. import runtime

    rt = runtime.create(target, net)
    got = rt.forward(case.inputs(net), keep="all")
    auto = set(case.meta.get("auto_split_blobs", []))
    required = [n for n in ref if n not in auto]
    problems, worst = compare(got, ref, required=required)
    return _verdict(case, target, problems, worst, len(got))


def _export(case: Case, target: str, net, ref, workdir: Path) -> Result:
    from ..emit.convert import convert, output_paths, refusal
    from .subjects import FORMAT_RUNTIME, Subject

    fmt = EXPORTS[target]
    refused = refusal(net, fmt)
    if refused is not None:
        raise refused
    out_dir = Path(tempfile.mkdtemp(prefix=f"{case.name}-{target}-", dir=workdir))
    try:
        path, files = output_paths(fmt, out_dir, "net")
        convert(net, {fmt: (path, files)})
        inputs = case.inputs(net)
        runner = Subject(FORMAT_RUNTIME[fmt], fmt, path).open(net, {n: a.shape for n, a in inputs.items()})
        got = runner.forward(inputs)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    problems, worst = compare(got, ref, required=list(net.outputs))
    return _verdict(case, target, problems, worst, len(got))


def _verdict(case, target, problems, worst, n) -> Result:
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        return Result(case.name, target, "fail", "; ".join(problems[:3]) + more, worst, n)
    return Result(case.name, target, "pass", "", worst, n)


def run_case(case: Case, target: str, *, net=None, ref=None,
             workdir: str | Path | None = None) -> Result:
    """Run ``case`` in ``target`` (a direct runtime or an export) and compare with
    Caffe's blobs. ``net`` and ``ref`` may be given when already loaded."""
    if target not in TARGETS:
        raise UsageError(f"unknown conformance target {target!r} (known: {', '.join(TARGETS)})")
    t0 = time.perf_counter()
    try:
        if net is None:
            net = case.load()
        if ref is None:
            ref = case.reference()
        if target in EXPORTS:
            tmp = Path(workdir) if workdir is not None else Path(tempfile.gettempdir())
            result = _export(case, target, net, ref, tmp)
        else:
            result = _direct(case, target, net, ref)
    except UnsupportedLayerError as exc:
        result = Result(case.name, target, "refused", _one_line(exc))
    except Exception as exc:  # convertkit broke on a net Caffe runs
        result = Result(case.name, target, "error", _one_line(exc))
    result.seconds = round(time.perf_counter() - t0, 3)
    return result


def run_cases(cases: Sequence[Case], targets: Sequence[str], *,
              workdir: str | Path | None = None,
              progress: Callable[[Result], None] | None = None) -> list[Result]:
    """Every case in every target (each case loaded once). A case whose net convertkit
    refuses to read (a type it has no module for) is refused by every target."""
    results = []
    for case in cases:
        try:
            net, ref = case.load(), case.reference()
        except UnsupportedLayerError as exc:
            net = ref = exc
        except Exception as exc:
            net = ref = exc
        for target in targets:
            if isinstance(net, BaseException):
                status = "refused" if isinstance(net, UnsupportedLayerError) else "error"
                result = Result(case.name, target, status, _one_line(net))
            else:
                result = run_case(case, target, net=net, ref=ref, workdir=workdir)
            results.append(result)
            if progress is not None:
                progress(result)
    return results


# -- summing up ---------------------------------------------------------------------------

def summarize(results: Sequence[Result], targets: Sequence[str] | None = None) -> dict:
    """Per target: how many cases passed, were refused, failed, broke; the failures
    and errors; the refusals' reasons with their counts."""
    targets = list(targets) if targets is not None else list(dict.fromkeys(r.target for r in results))
    table = {t: {s: 0 for s in STATUSES} for t in targets}
    reasons: dict[str, dict[str, int]] = {t: {} for t in targets}
    problems = []
    for r in results:
        table.setdefault(r.target, {s: 0 for s in STATUSES})[r.status] += 1
        if r.status == "refused":
            key = refusal_reason(r.detail)
            reasons.setdefault(r.target, {})[key] = reasons.get(r.target, {}).get(key, 0) + 1
        elif r.status in ("fail", "error"):
            problems.append(r)
    cases = len({r.case for r in results})
    return {"cases": cases, "rtol": RTOL, "table": table,
            "refusals": {t: dict(sorted(v.items(), key=lambda kv: -kv[1])) for t, v in reasons.items()},
            "problems": [p.as_json() for p in problems]}


def refusal_reason(detail: str) -> str:
    """A refusal's reason without the layer and file names, so alike ones group."""
    text = re.sub(r"^[^ ]*net\.prototxt: ", "", detail)
    text = re.sub(r"^layer '[^']*': ", "", text)
    text = re.sub(r"layer '[^']*'", "layer '…'", text)
    return text[:160]


def format_table(summary: dict) -> str:
    """The cases x targets table: pass / refused / fail / error counts."""
    head = f"{'target':<12} {'pass':>6} {'refused':>8} {'fail':>6} {'error':>6}"
    lines = [head, "-" * len(head)]
    for target, counts in summary["table"].items():
        lines.append(f"{target:<12} {counts['pass']:>6} {counts['refused']:>8} "
                     f"{counts['fail']:>6} {counts['error']:>6}")
    return "\n".join(lines)


def ok(summary: dict) -> bool:
    """True when no target failed or broke on any case."""
    return not summary["problems"]
