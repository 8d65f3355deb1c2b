"""The verify pipeline: the same inputs through the numpy reference and every subject
(a runtime reading a converted file), compared layer by layer.

For each input (one image at a time) and each BN variant, the reference runs first and
keeps each layer's own outputs; then every subject runs, its ``on_layer`` hook collects
each layer's outputs (views of the framework's memory, not copies), and they are
compared with the reference's once the pass is over. Only statistics
are kept (a :class:`~convertkit.verify.metrics.Diff` per layer and subject), plus the
predicted classes, downsampled, when a report is asked for; the reference's
activations are dropped before the next input.

Which blob a comparison is about: a layer's *own* outputs (so a BN fault is not hidden
by the in-place ReLU after it) and, derived from them, each blob as Caffe's
``net.blobs`` holds it after the pass (the output of the last layer that writes it).

The steps live beside this module: :mod:`.inputs` (the samples), :mod:`.selection`
(runtimes and formats), :mod:`.subjects` (converted files as runners),
:mod:`.reference` (the numpy reference), :mod:`.metrics` (comparing blobs) and
:mod:`.entries` (the report object's parts); this module runs them in order.
"""
from __future__ import annotations

import math
import shutil
import tempfile
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..version import __version__
from ..errors import UnsupportedLayerError, UsageError
from ..graph import Net
from . import kinds as K
from . import metrics as M
from .entries import REPORT_SIDE, error_line, output_classes, small, subject_entry
from .inputs import Sample
from .reference import Reference
from .selection import conversion_formats, select_runtimes
from .subjects import FORMAT_RUNTIME, Subject, discover

SCHEMA = "convertkit.verify/1"
BN_VARIANTS = ("keep", "merge", "both")


@dataclass
class Options:
    rtol: float = 1e-4
    #: "keep", "merge" or "both".
    bn: str = "keep"
    rgb: bool = False
    #: Runtimes asked for by name (None: every installed runtime).
    runtimes: Sequence[str] | None = None
    #: Check the files in this directory (None: a fresh conversion, or ``direct``).
    converted: Path | None = None
    #: Formats of the fresh conversion (None: every format a selected runtime reads).
    formats: Sequence[str] | None = None
    #: Build the runtimes straight from the net; no files.
    direct: bool = False
    mapping: str | None = None
    #: Keep downsampled predictions and inputs for an HTML report.
    visuals: bool = False
    #: "all": every layer of every runtime compared; "auto": outputs first, each layer
    #: only where they leave the tolerance (a second, hooked pass names the layer).
    layers: str = "all"


@dataclass
class _Track:
    """Everything one subject accumulates over the inputs."""

    subject: Subject
    variant: str
    runner: object = None
    error: str | None = None
    skipped: str | None = None
    per_layer: bool = True
    layers: dict[tuple[str, int], M.Diff] = field(default_factory=dict)
    seen: set = field(default_factory=set)
    outputs: dict[str, M.Diff] = field(default_factory=dict)
    agreement: dict[str, M.Agreement] = field(default_factory=dict)
    #: Inputs run, and those on which each layer's outputs were compared.
    images: int = 0
    hooked: int = 0
    #: Input index -> predicted classes (downsampled), for the report's pictures.
    labels: dict = field(default_factory=dict)
    #: Input index -> {output: what the report shows of it} (verify/kinds.py).
    views: dict = field(default_factory=dict)
    #: Classification outputs: output -> [rows whose top-1 agrees, top-5 agrees, rows].
    topk: dict = field(default_factory=dict)
    #: Index tops whose indices moved at near-ties: layer -> [flips, max |value diff|].
    ties: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    params_only: bool = False
    param_rel: dict[str, float] | None = None
    seconds: float = 0.0
    forward_seconds: float = 0.0
    convert_seconds: float = 0.0
    open_seconds: float = 0.0
    #: The net cut before its data-dependent layers, when the subject's framework
    #: cannot express them (it is checked up to there), and why; None: the whole net.
    net: Net | None = None
    cut: str | None = None

    def output_state(self):
        """What comparing outputs accumulates (restored when a pass is judged again)."""
        import copy

        return copy.deepcopy((self.outputs, self.agreement, self.topk))

    def restore_outputs(self, state) -> None:
        self.outputs, self.agreement, self.topk = state

    def fresh(self) -> "_Track":
        """The same subject and runner, with nothing accumulated yet."""
        return _Track(self.subject, self.variant, self.runner, self.error, self.skipped,
                      self.per_layer, notes=list(self.notes), param_rel=self.param_rel,
                      params_only=self.params_only, convert_seconds=self.convert_seconds,
                      open_seconds=self.open_seconds, net=self.net, cut=self.cut)

    @classmethod
    def of(cls, subject: Subject, variant: str, vnet: Net) -> "_Track":
        """A new track, on the net cut before its data-dependent layers when the
        subject's framework cannot express them."""
        from ..emit.convert import cut_for

        track = cls(subject, variant)
        found = cut_for(vnet, subject.fmt, subject.runtime)
        if found is not None:
            track.net, track.cut = found[0], f"{found[1]}, so it is compared up to there"
        return track


@dataclass
class _Variant:
    bn: str
    net: Net
    notes: list[str]
    tracks: list[_Track]
    index: dict[str, int]
    forms: M.Forms
    reference_seconds: float = 0.0
    fold: dict[str, M.Diff] = field(default_factory=dict)
    fold_agreement: dict[str, M.Agreement] = field(default_factory=dict)
    ref_labels: list = field(default_factory=list)
    ref_views: list = field(default_factory=list)
    #: Output -> its kind (verify/kinds.py), decided on the first input.
    kinds: dict = field(default_factory=dict)
    #: Layers with tops that hold indices (MAX pooling masks, ArgMax): name -> tops.
    index_layers: dict[str, list[int]] = field(init=False)

    def __post_init__(self):
        self.index_layers = {}
        for layer in self.net.layers:
            ks = [k for k in range(len(layer.tops)) if layer.impl.output_hint(k) == "indices"]
            if ks:
                self.index_layers[layer.name] = ks

    def fresh(self) -> "_Variant":
        return _Variant(self.bn, self.net, list(self.notes), [t.fresh() for t in self.tracks],
                        self.index, self.forms)


@dataclass
class Result:
    """The report object (``report``, JSON-ready), the pictures an HTML report needs
    (``visuals``), and the exit code (0 within tolerance, 1 outside)."""

    report: dict
    visuals: dict | None

    @property
    def exit_code(self) -> int:
        return 0 if self.report["verdict"] == "pass" else 1


Progress = Callable[[str, int, int], None]


class Verifier:
    """Runs one verification: ``Verifier(net, options).run(samples, progress)``."""

    def __init__(self, net: Net, options: Options):
        if options.bn not in BN_VARIANTS:
            raise UsageError(f"--bn must be keep, merge or both, not {options.bn!r}")
        if not (options.rtol > 0 and math.isfinite(options.rtol)):
            raise UsageError(f"--rtol must be a positive number, not {options.rtol}")
        if options.layers not in ("all", "auto"):
            raise UsageError(f"--layers must be all or auto, not {options.layers!r}")
        if options.converted is not None and options.bn == "both":
            raise UsageError("--converted holds files of one BN variant: give --bn keep or "
                             "--bn merge (the one they were converted with)")
        self.net, self.opt = net, options
        self.runtimes, self.notes = select_runtimes(options.runtimes)
        if options.converted is None and not options.direct:
            self.formats = conversion_formats(self.runtimes, options.formats)
        else:
            self.formats = []
        self._tmp: Path | None = None
        self._setup: list[_Variant] | None = None
        self._shapes: dict | None = None
        self._input_shapes: dict | None = None

    # -- setting up ------------------------------------------------------------------------
    def _variants(self) -> list[tuple[str, Net, list[str]]]:
        from ..emit.convert import prepare

        names = ["keep", "merge"] if self.opt.bn == "both" else [self.opt.bn]
        out = []
        for bn in names:
            vnet, notes = prepare(self.net, bn=bn, rgb=self.opt.rgb)
            if bn == "merge" and self.opt.bn == "both" and len(vnet.layers) == len(self.net.layers):
                self.notes.append("the net has no BN to fold: --bn merge is the same net as keep")
                continue
            out.append((bn, vnet, notes))
        return out

    def _subjects(self, bn: str, vnet: Net, progress: Progress | None) -> list[_Track]:
        tracks: list[_Track] = []
        others = [r for r in self.runtimes if r != "numpy"]
        if self.opt.direct:
            return [_Track.of(Subject(r, bn=bn), bn, vnet) for r in others]
        # The outside oracles (OpenCV dnn, real Caffe) read the Caffe files themselves.
        for r in self.runtimes:
            if r != "numpy" and r not in FORMAT_RUNTIME.values():
                tracks.append(_Track.of(Subject(r, bn=bn), bn, vnet))
        if self.opt.converted is not None:
            found, notes = discover(Path(self.opt.converted))
            self.notes.extend(notes)
            if not found:
                raise UsageError("holds no converted model files (.pt, .safetensors, .onnx, "
                                 ".ckpt.index, .weights.h5, .savedmodel, .pt2, .keras, .npz, "
                                 ".npy, .h5)", path=str(self.opt.converted))
            for fmt, path in found:
                runtime = FORMAT_RUNTIME[fmt]
                subject = Subject(runtime, fmt, path, self.opt.mapping, self.opt.rgb, bn)
                track = _Track.of(subject, bn, vnet)
                if runtime not in self.runtimes:
                    track.skipped = (f"the {runtime} runtime is not selected" if self.opt.runtimes
                                     else f"the {runtime} runtime is not installed")
                tracks.append(track)
            return tracks
        return tracks + self._convert(bn, vnet, progress)

    def _convert(self, bn: str, vnet: Net, progress: Progress | None) -> list[_Track]:
        """A fresh conversion of the variant into the temporary folder, one format at
        a time (a format that fails is that subject's error, not the run's)."""
        from ..emit import convert as conv

        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="convertkit-verify-"))
        out_dir = self._tmp / bn
        stem = (Path(self.net.prototxt_path).stem if self.net.prototxt_path else self.net.name) or "net"
        outputs = conv.plan_outputs(self.formats, out_dir, stem, inputs=[], force=True)
        meta = {"converter": "convertkit", "bn": bn, "rgb": str(self.opt.rgb).lower()}
        tracks = []
        for i, fmt in enumerate(self.formats):
            if progress:
                progress(f"converting ({bn}) to {fmt}", i, len(self.formats))
            path, files = outputs[fmt]
            # A TF checkpoint is named by its prefix and found by its index file.
            subject_path = Path(str(path) + ".index") if fmt == "tf" else Path(path)
            track = _Track.of(Subject(FORMAT_RUNTIME[fmt], fmt, subject_path, self.opt.mapping,
                                      self.opt.rgb, bn), bn, vnet)
            t0 = time.perf_counter()
            try:
                # At the input's size: a net whose layers fix a size is written for it.
                from ..sizes import at_shapes

                conv.convert(at_shapes(track.net or vnet, self._input_shapes or {}),
                             {fmt: (path, files)}, mapping=self.opt.mapping,
                             rgb=self.opt.rgb, meta=meta, force=True)
            except Exception as exc:  # noqa: BLE001 - one format's failure is its verdict
                self._failed(track, exc, fmt)
            track.convert_seconds = time.perf_counter() - t0
            tracks.append(track)
        return tracks

    def _failed(self, track: _Track, exc: BaseException, fmt: str | None = None) -> None:
        """A subject that could not be built (``fmt``: converting to that format). A
        layer type its framework cannot express (a refusal by design, e.g. OpenCV has
        no Upsample) skips it with the reason, as a runtime that is not installed is
        skipped, unless its format or runtime was asked for by name; anything else is
        its error. (Data-dependent layers never get here: ``_Track.of`` cuts them.)"""
        if fmt is not None:
            named = fmt in (self.opt.formats or ())
        else:
            named = track.subject.runtime in (self.opt.runtimes or ())
        if isinstance(exc, UnsupportedLayerError) and not named:
            track.skipped = error_line(exc)
        else:
            track.error = (f"converting to {fmt} failed: " if fmt else "") + error_line(exc)

    # -- running ---------------------------------------------------------------------------
    def prepare(self, shapes: dict[str, tuple], progress: Progress | None = None) -> None:
        """Convert (when asked) and open every subject for inputs of these shapes; done
        once, then every :meth:`run` reuses the runners."""
        if self._setup is not None:
            if shapes != self._shapes:
                raise UsageError("every input must have the same shape (the runtimes are "
                                 f"built for {self._shapes})")
            return
        setup = []
        self._input_shapes = dict(shapes)
        for bn, vnet, notes in self._variants():
            tracks = self._subjects(bn, vnet, progress)
            index = {layer.name: i for i, layer in enumerate(vnet.layers)}
            setup.append(_Variant(bn, vnet, notes, tracks, index, M.Forms(vnet)))
        if not any(t.skipped is None for v in setup for t in v.tracks):
            skipped = sorted({t.skipped for v in setup for t in v.tracks})
            raise UsageError("nothing to compare with the numpy reference"
                             + (f" ({'; '.join(skipped)})" if skipped else "")
                             + ": select or install another runtime (--runtimes opencv,torch,"
                               "onnx,tf) or give converted files")
        self._open(setup, shapes, progress)
        self._setup, self._shapes = setup, dict(shapes)

    def close(self) -> None:
        """Drop the runners and the temporary conversion."""
        self._setup = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def run(self, samples: Sequence[Sample], progress: Progress | None = None, *,
            keep_open: bool = False) -> Result:
        """Every input through the reference and every subject; the report.
        ``keep_open``: keep the runners for another run (then call :meth:`close`)."""
        if not samples:
            raise UsageError("no inputs: give --image or --input (or keep the sample images)")
        t_start = time.perf_counter()
        try:
            shapes = {n: tuple(a.shape) for n, a in samples[0].arrays.items()}
            self.prepare(shapes, progress)
            variants = [v.fresh() for v in self._setup]
            total = len(samples) * sum(1 + len(v.tracks) for v in variants)
            step = 0
            for i, sample in enumerate(samples):
                if {n: tuple(a.shape) for n, a in sample.arrays.items()} != shapes:
                    raise UsageError(f"{sample.name}: every input must have the same shape")
                keep_ref = None
                for v in variants:
                    if progress:
                        progress(f"{sample.name}: numpy reference ({v.bn})", step, total)
                    keep_ref = self._image(v, i, sample, keep_ref, progress, step, total)
                    step += 1 + len(v.tracks)
            if progress:
                progress("done", total, total)
            report = self._report(variants, samples, shapes, time.perf_counter() - t_start)
            visuals = self._visuals(variants, samples) if self.opt.visuals else None
            return Result(report, visuals)
        finally:
            if not keep_open:
                self.close()

    def _open(self, variants: list[_Variant], shapes, progress: Progress | None) -> None:
        tracks = [t for v in variants for t in v.tracks if t.error is None and t.skipped is None]
        for k, track in enumerate(tracks):
            if progress:
                progress(f"loading {track.subject.name}", k, len(tracks))
            vnet = track.net or next(v.net for v in variants if v.bn == track.variant)
            t0 = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    # Keras warns once per layer when a weights file does not fit; the
                    # error that follows says it in one line.
                    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
                    track.runner = track.subject.open(vnet, shapes)
                track.per_layer = bool(getattr(track.runner, "per_layer", True))
                track.notes.extend(getattr(track.runner, "notes", []))
                track.param_rel = getattr(track.runner, "param_rel", None)
                track.params_only = bool(getattr(track.runner, "params_only", False))
            except Exception as exc:  # noqa: BLE001 - a file that does not fit is a verdict
                self._failed(track, exc)
            track.open_seconds = time.perf_counter() - t0

    def _image(self, v: _Variant, i: int, sample: Sample, keep_ref, progress, step, total):
        """Reference and every subject of variant ``v`` on input ``i``. Returns the
        reference outputs of the first variant (for the fold check).

        ``layers="all"``: the reference keeps each layer's outputs and every subject's
        hook collects its layers for comparison. ``layers="auto"``: the reference and
        the subjects first run for their outputs only; only when a subject's outputs
        leave the tolerance do the reference (keeping its layers) and that subject run
        again, hooked, to name the first divergent layer."""
        inputs = {n: (a[:, ::-1].copy() if self.opt.rgb and a.ndim == 4 else a)
                  for n, a in sample.arrays.items()}
        every_layer = self.opt.layers == "all"
        ref = Reference(v.net, inputs, v.forms)
        t0 = time.perf_counter()
        # The blobs a cut net ends at, for the subjects that are checked up to there.
        ends = sorted({o for t in v.tracks if t.net is not None for o in t.net.outputs}
                      - set(v.net.outputs))
        ref.run(keep_layers=every_layer, ends=ends, index_layers=v.index_layers)
        v.reference_seconds += time.perf_counter() - t0
        ref_out = ref.outputs
        if not v.kinds:
            image = next(iter(inputs.values())).shape if len(inputs) == 1 else None
            v.kinds = {o: K.kind_of(a.shape, K.output_hint(v.net, o), image)
                       for o, a in ref_out.items()}
        out_stats = {o: M.ref_stats(a) for o, a in ref_out.items()}
        # Predicted classes, for outputs that are class scores.
        ref_labels = {o: M.labels_of(a) if v.kinds.get(o) in ("segmentation", "classification")
                      else None for o, a in ref_out.items()}
        decided = {o: M.decided_mask(a, self.opt.rtol * out_stats[o].max_abs)
                   for o, a in ref_out.items() if ref_labels[o] is not None}
        if self.opt.visuals:
            v.ref_labels.append({o: small(l) for o, l in ref_labels.items()
                                 if l is not None and v.kinds[o] == "segmentation"})
            v.ref_views.append({o: K.view(v.kinds[o], a, REPORT_SIDE) for o, a in ref_out.items()})
        if keep_ref is not None:  # this variant against the first one's outputs
            for o, (a, labels) in keep_ref.items():
                if o in ref_out:
                    v.fold.setdefault(o, M.Diff()).add(M.compare(ref_out[o], a), i)
                    if labels is not None:
                        v.fold_agreement.setdefault(o, M.Agreement(a.shape[1])).add(
                            labels, M.labels_of(ref_out[o]))
        context = (i, inputs, ref_out, out_stats, ref_labels, decided)
        diverged = []
        for k, track in enumerate(v.tracks):
            if progress:
                progress(f"{sample.name}: {track.subject.name} ({v.bn})", step + 1 + k, total)
            if (track.error is not None or track.skipped is not None or track.runner is None
                    or track.params_only):
                continue
            hooked = track.per_layer and every_layer
            # Outputs off by a near-tie index are judged again on the hooked pass.
            saved = track.output_state() if track.per_layer and not hooked and v.index_layers \
                else None
            within = self._subject(track, v, ref, context, hooked)
            track.images += 1
            track.hooked += int(hooked)
            if track.per_layer and not hooked and within is False:
                diverged.append((track, saved))
        if diverged:  # --layers auto: name the first divergent layer of these
            t0 = time.perf_counter()
            ref.run(keep_layers=True, index_layers=v.index_layers)
            v.reference_seconds += time.perf_counter() - t0
            for track, saved in diverged:
                if progress:
                    progress(f"{sample.name}: {track.subject.name} ({v.bn}), per layer",
                             step + len(v.tracks), total)
                if saved is not None:
                    track.restore_outputs(saved)
                self._subject(track, v, ref, context, True, outputs=saved is not None)
                track.hooked += 1
        first = {o: (a, ref_labels[o]) for o, a in ref_out.items()}
        return keep_ref if keep_ref is not None else first

    def _subject(self, track: _Track, v: _Variant, ref: "Reference", context, hooked: bool,
                 outputs: bool = True) -> bool | None:
        """One pass of a subject on one input, then (``hooked``) each layer's outputs
        compared and (``outputs``) its outputs and predictions. Returns whether the
        outputs are within tolerance (None when it failed).

        The layers are compared after the pass, not inside the hook: a framework's
        worker threads keep spinning between its ops and would slow the comparisons'
        threads (ICNet 1025x2049 in PyTorch: 2.1 s compared in the hook, 1.4 s after)."""
        i, inputs, ref_out, out_stats, ref_labels, decided = context
        pending: deque = deque()

        def on_layer(name, tops):
            if name in v.index and name in ref.layers:  # not e.g. OpenCV's half of a BN
                pending.append((name, v.forms.tops(name, tops)))

        t0 = time.perf_counter()
        try:
            out = track.runner.forward(inputs, on_layer=on_layer if hooked else None)
            t1 = time.perf_counter()
            # Index tops first, by the values they point at; where a runtime's index
            # moved at a near-tie, the layers after it (and the outputs) are compared
            # with the reference computed from that runtime's choice.
            against = self._index_tops(track, v, ref, pending, i)
            substitute = against is not ref
            while pending:  # popped, so that each layer's outputs are freed once compared
                name, tops = pending.popleft()
                track.seen.add(name)
                ref_tops = against.layers[name]
                for k, top in enumerate(list(tops)[:len(ref_tops)]):
                    if k in v.index_layers.get(name, ()):
                        continue  # compared above
                    d = M.compare(top, ref_tops[k], against.stat(name, k))
                    track.layers.setdefault((name, k), M.Diff()).add(d, i)
            if substitute and track.net is None:
                ref_out = against.outputs
                out_stats = {o: M.ref_stats(a) for o, a in ref_out.items()}
                ref_labels = {o: M.labels_of(a) if ref_labels.get(o) is not None else None
                              for o, a in ref_out.items()}
                decided = {o: M.decided_mask(a, self.opt.rtol * out_stats[o].max_abs)
                           for o, a in ref_out.items() if ref_labels[o] is not None}
            out = {o: v.forms.blob(o, a) for o, a in out.items()}
            if track.net is not None:  # a cut net: its own outputs
                names = track.net.outputs
                ref_out = {o: ref.ends[o] if o in ref.ends else ref_out[o] for o in names}
                out_stats = {o: ref.end_stats[o] if o in ref.ends else out_stats[o] for o in names}
                ref_labels = {o: ref_labels.get(o) for o in names}
            within = (self._outputs(track, v, i, out, ref_out, out_stats, ref_labels, decided)
                      if outputs else None)
        except Exception as exc:  # noqa: BLE001 - a runtime failing is its verdict
            self._failed(track, exc)  # (ONNX Runtime builds its session on the first pass)
            track.seconds += time.perf_counter() - t0
            return None
        track.seconds += time.perf_counter() - t0
        track.forward_seconds += t1 - t0
        return within

    def _index_tops(self, track: _Track, v: _Variant, ref: "Reference", pending, i: int):
        """Compare the index tops among ``pending`` (in layer order) by the reference
        bottom's values they point at, and count the indices that moved at near-ties
        (the two values within the tolerance). Returns the reference to compare the
        rest with: ``ref`` itself, or where indices moved at near-ties, the reference
        computed from this runtime's choice there (each index layer is judged against
        the reference that the ties before it explain)."""
        substitute: dict[str, dict[int, np.ndarray]] = {}
        current = ref
        for name, tops in pending:
            ks = v.index_layers.get(name)
            if not ks or name not in current.bottoms:
                continue
            impl = v.net.layers[v.index[name]].impl
            moved_here = False
            for k in ks:
                if k >= len(tops):
                    continue
                got, want = np.asarray(tops[k], np.float32), current.layers[name][k]
                diffs = track.layers.setdefault((name, k), M.Diff())
                if got.shape != want.shape:
                    diffs.add(M.compare(got, want), i)
                    continue
                rv = impl.indexed_values(current.bottoms[name], want, k)
                gv = impl.indexed_values(current.bottoms[name], got, k)
                stats = M.ref_stats(rv)
                diffs.add(M.compare(gv, rv, stats), i)
                gap = np.abs(gv - rv)
                tie = (got != want) & (gap <= self.opt.rtol * stats.max_abs)
                if tie.any():
                    count = track.ties.setdefault(name, [0, 0.0])
                    count[0] += int(tie.sum())
                    count[1] = max(count[1], float(gap[tie].max()))
                    substitute.setdefault(name, {})[k] = np.where(tie, got, want).astype(np.float32)
                    moved_here = True
            if moved_here:
                current = ref.adjusted(substitute, v.index_layers)
        return current

    def _outputs(self, track: _Track, v: _Variant, i, out, ref_out, out_stats, ref_labels,
                 decided) -> bool:
        """Compare the returned outputs and predictions; whether all are within tolerance."""
        within = True
        first_map = next((o for o in ref_out if v.kinds.get(o) == "segmentation"), None)
        for o, ref in ref_out.items():
            got = out.get(o)
            if got is None:
                d = M.Diff(max_abs=math.inf, max_rel=math.inf, problem="not returned")
            else:
                d = M.compare(got, ref, out_stats[o])
            within = within and d.within(self.opt.rtol)
            track.outputs.setdefault(o, M.Diff()).add(d, i)
            if got is None or d.problem is not None:
                continue
            kind = v.kinds.get(o)
            if ref_labels.get(o) is not None:
                labels = M.labels_of(got)
                track.agreement.setdefault(o, M.Agreement(ref.shape[1])).add(
                    ref_labels[o], labels, decided.get(o))
                if self.opt.visuals and o == first_map:
                    track.labels[i] = small(labels)
            if kind == "classification":
                counts = track.topk.setdefault(o, [0, 0, 0])
                top1, rows = K.topk_agreement(got, ref, 1)
                top5, _ = K.topk_agreement(got, ref, K.TOP_K)
                counts[0] += top1
                counts[1] += top5
                counts[2] += rows
            if self.opt.visuals and kind is not None:
                track.views.setdefault(i, {})[o] = K.view(kind, got, REPORT_SIDE)
        return within

    # -- the report ------------------------------------------------------------------------
    def _report(self, variants: list[_Variant], samples, shapes, seconds: float) -> dict:
        net = self.net
        rtol = self.opt.rtol
        out_variants, problems, firsts = [], [], []
        for v in variants:
            subjects = []
            for track in v.tracks:
                entry = subject_entry(track, v, rtol)
                fd = entry["first_divergence"]
                if fd is not None and isinstance(fd.get("image"), int):
                    fd["image"] = samples[fd["image"]].name
                subjects.append(entry)
                if entry["verdict"] == "error":
                    problems.append({"runtime": entry["name"], "bn": v.bn,
                                     "file": entry["file"], "message": entry["message"]})
                if entry["first_divergence"] is not None:
                    firsts.append((len(out_variants), entry["first_divergence"]["index"],
                                   len(subjects), dict(entry["first_divergence"],
                                                       runtime=entry["name"], bn=v.bn)))
            fold = None
            if v.fold:
                fold = {"against": variants[0].bn,
                        "outputs": {o: dict(d.as_dict(), within=d.within(rtol),
                                            **(v.fold_agreement[o].as_dict()
                                               if o in v.fold_agreement else {}))
                                    for o, d in v.fold.items()}}
                fold["verdict"] = "pass" if all(d.within(rtol) for d in v.fold.values()) else "fail"
            out_variants.append({
                "bn": v.bn, "rgb": self.opt.rgb, "layers": len(v.net.layers),
                "notes": v.notes,
                "reference": {"runtime": "numpy", "seconds": round(v.reference_seconds, 3)},
                "fold_check": fold,
                "layer_names": [{"index": i, "name": layer.name, "type": layer.type,
                                 "tops": list(layer.tops)} for i, layer in enumerate(v.net.layers)],
                "subjects": subjects,
            })
        verdicts = [s["verdict"] for v in out_variants for s in v["subjects"]]
        folds_ok = all(v["fold_check"] is None or v["fold_check"]["verdict"] == "pass"
                       for v in out_variants)
        # Everything skipped (each framework refused a layer) proves nothing: a fail.
        verdict = ("pass" if folds_ok and all(x in ("pass", "skipped") for x in verdicts)
                   and any(x != "skipped" for x in verdicts) else "fail")
        first = min(firsts, key=lambda f: f[:3])[3] if firsts else None
        classes = output_classes(net, variants[0].kinds if variants else {})
        from .palettes import palette_name

        return {
            "schema": SCHEMA,
            "convertkit": __version__,
            "verdict": verdict,
            "first_divergence": first,
            "rtol": rtol,
            "model": {
                "name": net.name or None,
                "prototxt": net.prototxt_path,
                "caffemodel": net.caffemodel_path,
                "inputs": {n: list(s) for n, s in shapes.items()},
                "outputs": list(net.outputs),
                "layers": len(net.layers),
                "params": net.num_params,
                "classes": classes,
                "palette": palette_name(classes),
                "output_kinds": dict(variants[0].kinds) if variants else {},
            },
            "source": {
                "mode": ("direct" if self.opt.direct else
                         "converted" if self.opt.converted is not None else "fresh-conversion"),
                "directory": str(self.opt.converted) if self.opt.converted is not None else None,
                "formats": list(self.formats),
                "mapping": self.opt.mapping,
            },
            "runtimes": list(self.runtimes),
            "preprocessing": samples[0].preprocessing if samples else None,
            "inputs": [{"name": s.name, "path": s.path, "preprocess": s.preprocess,
                        "shape": {n: list(a.shape) for n, a in s.arrays.items()}}
                       for s in samples],
            "variants": out_variants,
            "problems": problems,
            "notes": list(dict.fromkeys(self.notes)),
            "seconds": round(seconds, 3),
        }

    def _visuals(self, variants: list[_Variant], samples) -> dict:
        return {
            "pictures": [small(s.picture) if s.picture is not None else None for s in samples],
            "variants": [{"bn": v.bn, "reference": v.ref_labels, "reference_views": v.ref_views,
                          "subjects": [{"name": t.subject.name, "labels": t.labels,
                                        "views": t.views} for t in v.tracks]}
                         for v in variants],
        }
