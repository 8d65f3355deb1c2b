"""Golden fingerprints: what a model computes on the sample images, kept small enough
to commit, checked against every runtime and BN variant in CI.

Per model and image a golden file holds:

* per blob (as Caffe's ``net.blobs`` holds it after the pass): mean, std, min, max
  and mean |x|;
* per net output: the same statistics, a small copy of the logits (each class
  averaged over a grid of cells, at most ``SMALL_VALUES`` numbers), a hash of that
  copy quantised coarsely, and how many pixels each class wins (argmax histogram).

A check passes when every statistic and every cell of the small copy is within
``rtol`` x the blob's max|x| of the recorded value, the class histograms differ by at
most ``LABEL_SLACK`` of the pixels, and the quantised hash is equal. The hash is
robust to BLAS and thread-count noise by construction: cells that sit within 5% of a
quantisation step from a rounding boundary at record time are left out of it (their
indices are stored), so no change smaller than ~2e-4 x max|x| can flip it, and any
change within tolerance leaves it equal.

Re-recording is always an explicit ``convertkit golden record``; a check never
writes.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..version import __version__
from ..errors import ConvertError, UsageError
from ..graph import Net

SCHEMA = "convertkit.golden/1"
#: Numbers in the small copy of one output, per image.
SMALL_VALUES = 1024
#: The hash's quantisation step, as a fraction of the small copy's max |x|.
QUANT = 1 / 256
#: Cells within this fraction of a step from a rounding boundary stay out of the hash.
MARGIN = 0.05
#: Share of pixels whose argmax may move between classes (near-ties).
LABEL_SLACK = 1e-3
#: Statistics recorded per blob, in this order.
STATS = ("mean", "std", "min", "max", "mean_abs")
SAMPLE_PREFIX = "sample:"


# -- model specs --------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSpec:
    """A model named on the command line: a zoo model with options, or files."""

    text: str
    zoo: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    prototxt: str | None = None
    caffemodel: str | None = None

    def canonical(self) -> str:
        if self.zoo is not None:
            return self.zoo + (":" + ",".join(f"{k}={v}" for k, v in self.options) if self.options else "")
        return self.prototxt + (f"+{self.caffemodel}" if self.caffemodel else "")


ZOO_KEYS = ("width", "size", "classes", "seed", "bn")

SPEC_HELP = ("MODEL is a zoo model with options, NAME[:key=value,...] with keys width, size "
             "(HxW or N), classes, seed, bn (keep|merge) - e.g. "
             "icnet:width=0.125,size=193x385,bn=keep - or files: PROTOTXT+CAFFEMODEL, or "
             "PROTOTXT alone (its CAFFEMODEL beside it, same name).")


def parse_spec(text: str) -> ModelSpec:
    """``icnet:width=0.125,size=193x385`` or ``net.prototxt+net.caffemodel`` (or a
    prototxt alone: the caffemodel of the same name beside it, when there is one)."""
    from .. import zoo

    name, _, opts = text.partition(":")
    if "+" not in text and not text.endswith(".prototxt") and name in zoo.NAMES:
        options = []
        for item in filter(None, (o.strip() for o in opts.split(","))):
            key, eq, value = item.partition("=")
            if not eq or key not in ZOO_KEYS or not value:
                raise UsageError(f"model {text!r}: {item!r} is not one of "
                                 f"{', '.join(k + '=...' for k in ZOO_KEYS)}")
            options.append((key, value))
        keys = [k for k, _ in options]
        if len(set(keys)) != len(keys):
            raise UsageError(f"model {text!r}: an option is given twice")
        order = {k: i for i, k in enumerate(ZOO_KEYS)}
        return ModelSpec(text, zoo=name, options=tuple(sorted(options, key=lambda kv: order[kv[0]])))
    if "+" in text:
        proto, _, model = text.partition("+")
        return ModelSpec(text, prototxt=proto, caffemodel=model or None)
    if text.endswith(".prototxt") or Path(text).is_file():
        beside = Path(text).with_suffix(".caffemodel")
        return ModelSpec(text, prototxt=text, caffemodel=str(beside) if beside.is_file() else None)
    raise UsageError(f"model {text!r} is neither a zoo model ({', '.join(zoo.NAMES)}) nor a "
                     f"prototxt; {SPEC_HELP}")


def build(spec: ModelSpec, base: Path | None = None) -> Net:
    """The net a spec names (zoo models are made afresh; files are read, relative to
    ``base`` when given and not absolute)."""
    from .. import zoo
    from ..caffe.loader import load

    if spec.zoo is not None:
        o = dict(spec.options)
        try:
            kw = dict(width=float(o.get("width", 1.0)), seed=int(o.get("seed", 0)),
                      bn=o.get("bn", "keep"),
                      classes=int(o["classes"]) if "classes" in o else None)
        except ValueError as exc:
            raise UsageError(f"model {spec.text!r}: {exc}") from None
        return zoo.make(spec.zoo, input_size=o.get("size"), **kw)[1]

    def where(p):
        if p is None or base is None or Path(p).is_absolute():
            return p
        return str(base / p)

    return load(where(spec.prototxt), where(spec.caffemodel))


# -- fingerprints -------------------------------------------------------------------------

def _stats(a: np.ndarray) -> list[float]:
    x = np.asarray(a, np.float64).reshape(-1)
    if x.size == 0:
        return [0.0] * len(STATS)
    return [_round(v) for v in (x.mean(), x.std(), x.min(), x.max(), np.abs(x).mean())]


def _round(v: float) -> float:
    return float(f"{float(v):.7g}")


def grid_for(shape: Sequence[int]) -> tuple[int, int]:
    """Cells (rows, cols) of the small copy of an N x C x H x W output: as many as fit
    in SMALL_VALUES numbers per image, about as square as the output."""
    c = int(shape[1]) if len(shape) > 1 else 1
    h = int(shape[2]) if len(shape) > 2 else 1
    w = int(np.prod(shape[3:], dtype=np.int64)) if len(shape) > 3 else 1
    cells = max(1, SMALL_VALUES // max(1, c))
    rows = max(1, min(h, int(round(math.sqrt(cells * h / w)))))
    cols = max(1, min(w, cells // rows))
    return rows, cols


def small_copy(a: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Each class averaged over a rows x cols grid of cells (image 0 of the batch):
    C x rows x cols float64."""
    a = np.asarray(a, np.float64)
    x = a[0] if a.ndim >= 2 else a[None]
    if x.ndim == 1:
        x = x[:, None, None]
    elif x.ndim == 2:
        x = x[:, :, None]
    else:
        x = x.reshape(x.shape[0], x.shape[1], -1)
    rows, cols = grid
    ye = np.rint(np.linspace(0, x.shape[1], rows + 1)).astype(int)
    xe = np.rint(np.linspace(0, x.shape[2], cols + 1)).astype(int)
    out = np.empty((x.shape[0], rows, cols))
    for i in range(rows):
        band = x[:, ye[i]:max(ye[i + 1], ye[i] + 1)]
        for j in range(cols):
            out[:, i, j] = band[:, :, xe[j]:max(xe[j + 1], xe[j] + 1)].mean(axis=(1, 2))
    return out


def quantise(small: np.ndarray, step: float) -> np.ndarray:
    return np.rint(np.asarray(small, np.float64).reshape(-1) / step).astype(np.int64)


def fragile(small: np.ndarray, step: float) -> list[int]:
    """Cells within MARGIN of a step from a rounding boundary (left out of the hash)."""
    frac = np.asarray(small, np.float64).reshape(-1) / step
    frac = frac - np.floor(frac)
    return [int(i) for i in np.flatnonzero(np.abs(frac - 0.5) < MARGIN)]


def quant_hash(small: np.ndarray, step: float, skip: Sequence[int]) -> str:
    q = quantise(small, step)
    q[list(skip)] = np.iinfo(np.int64).min
    return "sha256:" + hashlib.sha256(q.astype("<i8").tobytes()).hexdigest()[:32]


def fingerprint(blobs: dict[str, np.ndarray], outputs: Sequence[str], net: Net | None = None) -> dict:
    """The fingerprint of one image's pass: ``blobs`` as net.blobs holds them (with
    ``net``, in the form each is compared in: SSD's detections as a set)."""
    if net is not None:
        from .metrics import Forms

        forms = Forms(net)
        blobs = {n: forms.blob(n, a) for n, a in blobs.items()}
    fp = {"blobs": {n: _stats(a) for n, a in blobs.items()}, "outputs": {}}
    for o in outputs:
        a = np.asarray(blobs[o])
        grid = grid_for(a.shape)
        small = small_copy(a, grid)
        scale = float(np.abs(small).max()) if small.size else 0.0
        step = _round(scale * QUANT) if scale > 0 else 1.0
        skip = fragile(small, step)
        entry = {"shape": list(a.shape), "grid": list(grid), "step": step,
                 "small": [_round(v) for v in small.reshape(-1)], "skip": skip,
                 "hash": quant_hash(small, step, skip)}
        if a.ndim >= 2 and a.shape[1] > 1:
            labels = a.argmax(axis=1)
            counts = np.bincount(labels.reshape(-1), minlength=a.shape[1])
            entry["labels"] = {str(c): int(n) for c, n in enumerate(counts) if n}
        fp["outputs"][o] = entry
    return fp


# -- recording ------------------------------------------------------------------------------

def file_ref(path: Path, golden_dir: Path) -> str:
    """How a golden file names an image or a model file: ``sample:NAME`` for a bundled photograph,
    else the path relative to the golden file's folder (or absolute)."""
    from ..runtime.preprocess import SAMPLE_DIR

    path = Path(path)
    try:
        if path.resolve().parent == SAMPLE_DIR.resolve():
            return SAMPLE_PREFIX + path.name
    except OSError:
        pass
    try:
        return os.path.relpath(path.resolve(), golden_dir.resolve())
    except ValueError:  # another drive
        return str(path.resolve())


def resolve_image(ref: str, golden_dir: Path) -> Path:
    from ..runtime.preprocess import SAMPLE_DIR

    if ref.startswith(SAMPLE_PREFIX):
        return SAMPLE_DIR / ref[len(SAMPLE_PREFIX):]
    p = Path(ref)
    return p if p.is_absolute() else golden_dir / p


def _inputs(net: Net, images: Sequence[Path], prep) -> list[tuple[str, dict]]:
    from .inputs import samples_from_images

    return [(s.name, s.arrays) for s in samples_from_images(net, images, prep=prep)]


def _recorded_preprocessing(prep, golden_dir: Path) -> dict:
    """``prep.to_json()`` with mean/std files named relative to the golden file."""
    obj = prep.to_json()
    for key in ("mean", "std"):
        if isinstance(obj[key], dict):
            obj[key] = dict(obj[key], file=file_ref(Path(obj[key]["file"]), golden_dir))
    return obj


def preprocessing_of(entry: dict, net: Net, golden_dir: Path):
    """The preprocessing a golden entry recorded (older files: the default with their
    ``preprocess`` mode)."""
    from ..runtime.preprocess import Preprocessing, net_input

    channels = net_input(net)[1][1]
    if entry.get("preprocessing"):
        return Preprocessing.from_json(entry["preprocessing"], golden_dir, channels)
    return Preprocessing(resize=entry.get("preprocess", "resize"), channels=channels)


def record_model(spec: ModelSpec, images: Sequence[Path], golden_dir: Path, mode: str = "resize",
                 progress: Callable[[str, int, int], None] | None = None,
                 prep_for: Callable[[Net, ModelSpec], object] | None = None) -> dict:
    """The golden entry of one model: the numpy reference on each image, preprocessed
    by ``prep_for(net, spec)`` (a Preprocessing; default: the default one, ``mode``),
    which the entry records."""
    from ..runtime.preprocess import Preprocessing, net_input, with_input_size
    from ..runtime.numpy import NumpyRuntime

    net = build(spec)
    prep = (prep_for(net, spec) if prep_for is not None
            else Preprocessing(resize=mode, channels=net_input(net)[1][1]))
    net = with_input_size(net, prep)
    rt = NumpyRuntime(net)
    entry = {"model": spec.canonical(), "recorded_with": "numpy",
             "layers": len(net.layers), "outputs": list(net.outputs),
             "input": {n: list(s) for n, s in net.plan().inputs.items()},
             "preprocess": prep.resize,
             "preprocessing": _recorded_preprocessing(prep, golden_dir), "images": []}
    samples = _inputs(net, images, prep)
    for k, ((name, arrays), path) in enumerate(zip(samples, images)):
        if progress:
            progress(f"{spec.canonical()}: {name}", k, len(samples))
        blobs = rt.forward(arrays, keep="all")
        fp = fingerprint(blobs, net.outputs, net)
        entry["images"].append(dict({"image": file_ref(path, golden_dir),
                                     "input": {n: _stats(a) for n, a in arrays.items()}}, **fp))
    return entry


def dumps(doc: dict) -> str:
    """JSON with one line per list of numbers (a golden file stays readable in a diff)."""
    import json
    import re

    text = json.dumps(doc, indent=1, allow_nan=False)
    return re.sub(r"\[\s+([-+0-9.eE,\s]+?)\s+\]",
                  lambda m: "[" + " ".join(m.group(1).split()) + "]", text) + "\n"


def golden_document(models: list[dict]) -> dict:
    return {"schema": SCHEMA, "convertkit": __version__,
            "about": "Fingerprints of each model's outputs on the listed images, recorded "
                     "with the numpy reference by `convertkit golden record`. Checked by "
                     "`convertkit golden check`; re-record only on purpose.",
            "tolerance": {"rtol": 1e-4, "label_slack": LABEL_SLACK, "quant": QUANT,
                          "margin": MARGIN},
            "models": models}


# -- checking ---------------------------------------------------------------------------------

def read_golden(path: Path) -> dict:
    import json

    from ..fileio import read_bytes

    raw = read_bytes(path, "golden file")
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise ConvertError(f"not a JSON golden file: {exc}", path=str(path)) from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise ConvertError(f"not a golden file of schema {SCHEMA} (schema: {got!r})", path=str(path))
    if not isinstance(doc.get("models"), list) or not doc["models"]:
        raise ConvertError("the golden file lists no models", path=str(path))
    for entry in doc["models"]:
        if not isinstance(entry, dict) or not {"model", "images"} <= set(entry):
            raise ConvertError("a model entry lacks 'model' or 'images'", path=str(path))
    return doc


def _close(got: float, want: float, tol: float) -> bool:
    return abs(got - want) <= tol


def compare_image(want: dict, got: dict, rtol: float) -> list[str]:
    """Readable differences between a recorded image fingerprint and a fresh one."""
    out = []
    for blob, wstats in want["blobs"].items():
        gstats = got["blobs"].get(blob)
        if gstats is None:
            continue  # a blob of the other BN variant (compared where both have it)
        scale = max(abs(wstats[2]), abs(wstats[3]), 1e-30)
        tol = rtol * scale
        for name, w, g in zip(STATS, wstats, gstats):
            if not _close(g, w, tol) or not math.isfinite(g):
                out.append(f"blob {blob}: {name} recorded {w:.7g}, got {g:.7g} "
                           f"(|diff| {abs(g - w):.2g} > {tol:.2g} = {rtol:g} x max|x| {scale:.4g})")
                break
    for o, w in want["outputs"].items():
        g = got["outputs"].get(o)
        if g is None:
            out.append(f"output {o}: not produced")
            continue
        if g["shape"] != w["shape"]:
            out.append(f"output {o}: shape {'x'.join(map(str, g['shape']))}, recorded "
                       f"{'x'.join(map(str, w['shape']))}")
            continue
        ws, gs = np.asarray(w["small"]), np.asarray(g["small"])
        scale = max(float(np.abs(ws).max()) if ws.size else 0.0, 1e-30)
        diff = np.abs(gs - ws)
        if not (diff.max(initial=0) <= rtol * scale):
            k = int(np.nanargmax(np.where(np.isfinite(diff), diff, np.inf)))
            rows, cols = w["grid"]
            c, rc = divmod(k, rows * cols)
            out.append(f"output {o}: small copy max|diff| {float(diff[k]):.2g} > {rtol * scale:.2g} "
                       f"({rtol:g} x {scale:.4g}); worst: class {c}, cell ({rc // cols}, {rc % cols}): "
                       f"recorded {ws[k]:.6g}, got {gs[k]:.6g}")
        hashed = quant_hash(gs, w["step"], w["skip"])
        if hashed != w["hash"]:
            moved = int((quantise(gs, w["step"]) != quantise(ws, w["step"])).sum())
            out.append(f"output {o}: quantised hash {hashed} differs from the recorded "
                       f"{w['hash']} ({moved} of {ws.size} cells moved a step)")
        if "labels" in w:
            wl, gl = w["labels"], g.get("labels", {})
            keys = set(wl) | set(gl)
            moved = sum(abs(wl.get(c, 0) - gl.get(c, 0)) for c in keys) // 2
            pixels = max(1, sum(wl.values()))
            if moved > LABEL_SLACK * pixels:
                worst = sorted(keys, key=lambda c: -abs(wl.get(c, 0) - gl.get(c, 0)))[:3]
                detail = ", ".join(f"class {c}: {wl.get(c, 0)} -> {gl.get(c, 0)}" for c in worst)
                out.append(f"output {o}: {moved} of {pixels} pixels changed class "
                           f"(> {LABEL_SLACK:g}); {detail}")
    return out


def compare_documents(want: dict, got: dict, rtol: float) -> list[str]:
    """Readable differences between two golden documents (a committed one and a fresh
    record): the same models, images and preprocessing, every image's fingerprint within
    the tolerance. The numbers a record prints may differ in their last digits from one
    CPU or BLAS thread count to another; this is how two records are compared."""
    out = []
    got_models = {e["model"]: e for e in got["models"]}
    for entry in want["models"]:
        other = got_models.get(entry["model"])
        if other is None:
            out.append(f"{entry['model']}: not in the second file")
            continue
        if entry.get("preprocessing") != other.get("preprocessing"):
            out.append(f"{entry['model']}: recorded with other preprocessing")
        images = {img["image"]: img for img in other["images"]}
        for img in entry["images"]:
            mine = images.get(img["image"])
            if mine is None:
                out.append(f"{entry['model']}: image {img['image']} not in the second file")
                continue
            out += [f"{entry['model']}, {img['image']}: {m}" for m in compare_image(img, mine, rtol)]
    out += [f"{m}: not in the first file" for m in got_models
            if m not in {e["model"] for e in want["models"]}]
    return out


def _create(name: str, net: Net):
    from .. import runtime

    return runtime.create(name, net)


class _ReferenceRunner:
    """A weight file whose params equal the net's bit for bit runs as the net itself."""

    def __init__(self, net: Net):
        from ..runtime.numpy import NumpyRuntime

        self.rt = NumpyRuntime(net)

    def forward(self, inputs, on_layer=None):
        return self.rt.forward(inputs, keep="outputs")


@dataclass
class CheckRun:
    model: str
    bn: str
    runtime: str
    mismatches: list[str]
    error: str | None = None
    #: Where the run ends when its framework cannot express the net's data-dependent
    #: layers (it is checked on the net cut before them), and why.
    ends_at: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.mismatches


def check_model(entry: dict, golden_dir: Path, runtimes: Sequence[str], bn: str = "both",
                rtol: float = 1e-4, converted: Path | None = None,
                progress: Callable[[str, int, int], None] | None = None,
                prep_for: Callable[[Net, object], object] | None = None) -> list[CheckRun]:
    """Every runtime and BN variant on the recorded images, against the entry; with
    ``converted``, every converted file in that folder instead (of the one BN variant
    ``bn``; their outputs are what is compared). The images are preprocessed as the
    entry records, or by ``prep_for(net, recorded)`` (flags that override it)."""
    from ..emit.convert import prepare
    from ..emit.convert import cut_for
    from .entries import error_line
    from .subjects import FORMAT_RUNTIME, Subject, discover

    spec = parse_spec(entry["model"])
    net = build(spec, golden_dir)
    images = [resolve_image(img["image"], golden_dir) for img in entry["images"]]
    missing = [str(p) for p in images if not p.is_file()]
    if missing:
        raise ConvertError(f"model {entry['model']}: image(s) not found: {', '.join(missing)}")
    if converted is not None and bn == "both":
        raise UsageError("--converted holds files of one BN variant: give --bn keep or --bn merge")
    variants = ["keep", "merge"] if bn == "both" else [bn]
    runs: list[CheckRun] = []
    from ..runtime.preprocess import with_input_size

    prep = preprocessing_of(entry, net, golden_dir)
    if prep_for is not None:
        prep = prep_for(net, prep)
    net = with_input_size(net, prep)
    samples = _inputs(net, images, prep)
    jobs = []
    for variant in variants:
        vnet, _ = prepare(net, bn=variant)
        if variant == "merge" and bn == "both" and len(vnet.layers) == len(net.layers):
            continue  # no BN to fold
        if converted is None:
            jobs.extend((variant, vnet, Subject(r, bn=variant)) for r in runtimes)
            continue
        found, _ = discover(Path(converted))
        if not found:
            raise UsageError("holds no converted model files", path=str(converted))
        jobs.extend((variant, vnet, Subject(FORMAT_RUNTIME[fmt], fmt, path, bn=variant))
                    for fmt, path in found if FORMAT_RUNTIME[fmt] in runtimes)
    shapes = {n: tuple(a.shape) for n, a in samples[0][1].items()}
    for k, (variant, vnet, subject) in enumerate(jobs):
        if progress:
            progress(f"{entry['model']} [bn {variant}] {subject.name}", k, len(jobs))
        found = cut_for(vnet, subject.fmt, subject.runtime)
        cut = found[0] if found is not None else None
        vnet = cut or vnet
        run = CheckRun(entry["model"], variant, subject.name, [], ends_at=(
            f"{found[1]}, so it is compared up to there" if found is not None else None))
        try:
            runner = None if subject.path is None else subject.open(vnet, shapes)
            if getattr(runner, "params_only", False):  # identical params: no run needed
                runner = _ReferenceRunner(vnet)
            rt = _create(subject.runtime, vnet) if runner is None else None
            for (img_name, arrays), want in zip(samples, entry["images"]):
                for n, a in arrays.items():
                    w = want["input"].get(n)
                    if w is not None and any(not _close(g, x, 1e-3 * max(abs(w[2]), abs(w[3]), 1))
                                             for g, x in zip(_stats(a), w)):
                        run.mismatches.append(f"{img_name}: input '{n}' differs from the recorded "
                                              "one (preprocessing or image changed)")
                # A runtime gives every blob; a converted file its outputs.
                blobs = rt.forward(arrays, keep="all") if rt is not None else runner.forward(arrays)
                got = fingerprint(blobs, vnet.outputs, vnet)
                if cut is not None:  # the recorded outputs it ends before are not produced
                    want = dict(want, outputs={o: w for o, w in want["outputs"].items()
                                               if o in cut.outputs})
                run.mismatches.extend(f"{img_name}: {m}" for m in compare_image(want, got, rtol))
        except Exception as exc:  # noqa: BLE001 - a runtime failing is a check failure
            run.error = error_line(exc)
        runs.append(run)
    if progress:
        progress("done", len(jobs), len(jobs))
    return runs

