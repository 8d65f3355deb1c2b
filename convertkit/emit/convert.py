"""One conversion: a loaded net, the passes asked for, then every output format.

Weight formats (``npy``, ``npz``, ``h5``, ``tf``, ``torch``, ``safetensors``) go through
a mapping table and a writer of :mod:`convertkit.emit`; model formats (``onnx``,
``pt2``, ``savedmodel``, ``keras``) are built by a backend. The caffemodel is read
once; every output is written atomically, checked against the inputs before any
work starts.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import emit
from ..errors import UnsupportedLayerError, UsageError
from ..fileio import atomic_write, check_outputs, make_dirs, writing
from ..graph import Net
from ..passes import flip_input_channels, fold_batchnorm, fold_input_scale

#: The table each weight format uses unless --mapping names another.
DEFAULT_TABLE = {"npy": "caffe", "npz": "caffe", "h5": "caffe", "tf": "tf",
                 "torch": "torch", "safetensors": "torch"}

PASSES = {"fold_input_scale": fold_input_scale}


@dataclass(frozen=True)
class ModelFormat:
    name: str
    suffix: str
    about: str
    needs: tuple[str, ...]
    #: build(net, path): for a file format returns its bytes; a directory format
    #: writes the model at ``path`` (a temp folder, renamed into place after).
    build: Callable[[Net, Path], bytes | None]
    #: check(net): raises the refusal of a layer the format cannot express, before
    #: anything is written.
    check: Callable[[Net], None]
    directory: bool = False


def _backend_check(name: str) -> Callable[[Net], None]:
    def check(net: Net) -> None:
        from ..backends import backend

        backend(name).check(net)
    return check


#: Format -> what the last model written in it takes (convertkit.sizes.FreeSizes):
#: its builder leaves every size the net allows free, and a framework that expresses
#: some layer at one size only pins height and width (read by :func:`convert`);
#: "net" -> (the net, its own free sizes), found once per net.
EXPORTED_SIZES: dict[str, object] = {}


def _sizes(net: Net):
    """The net's free sizes, found once per net in a conversion."""
    from ..sizes import free_sizes

    kept = EXPORTED_SIZES.get("net")
    if kept is None or kept[0] is not net:
        EXPORTED_SIZES["net"] = (net, free_sizes(net))
    return EXPORTED_SIZES["net"][1]


def _pt2_check(net: Net) -> None:
    from ..backends.torch.export import check_exportable

    check_exportable(net)


def _onnx(net: Net, path: Path) -> bytes:
    from ..backends.onnx.graph import checked_export

    model, EXPORTED_SIZES["onnx"] = checked_export(net, sizes=_sizes(net))
    return model.SerializeToString()


def _pt2(net: Net, path: Path) -> bytes:
    from ..backends.torch.export import export_with_sizes

    sizes = _sizes(net)
    data, dims = export_with_sizes(net, sizes=sizes)
    for name, have in dims.items():  # a size torch.export could not keep symbolic
        pinned = [a for a in sizes.free.get(name, ()) if isinstance(have[a], int)]
        if pinned:
            sizes = sizes.pin(pinned, layer="torch.export", type="",
                              why="a layer's PyTorch expression reads it as a number "
                                  "(e.g. PriorBox's boxes), so it keeps the planned size")
    EXPORTED_SIZES["pt2"] = sizes
    return data


def _savedmodel(net: Net, path: Path) -> None:
    from ..backends.tf.export import write_saved_model

    from ..backends.tf.export import keras_model

    knet = keras_model(net, _sizes(net))
    EXPORTED_SIZES["savedmodel"] = knet.sizes
    write_saved_model(knet, path)


def _keras(net: Net, path: Path) -> bytes:
    from ..backends.tf.export import keras_bytes

    from ..backends.tf.export import keras_model

    knet = keras_model(net, _sizes(net))
    EXPORTED_SIZES["keras"] = knet.sizes
    return keras_bytes(knet)


def _keras_weights(net: Net, path: Path) -> bytes:
    from ..backends.tf.export import weights_h5_bytes

    return weights_h5_bytes(net)


MODEL_FORMATS = {
    "onnx": ModelFormat("onnx", ".onnx", "ONNX model (opset 18), runs in onnxruntime alone",
                        ("onnx",), _onnx, _backend_check("onnx")),
    "pt2": ModelFormat("pt2", ".pt2", "torch.export program, runs with torch alone",
                       ("torch",), _pt2, _pt2_check),
    "savedmodel": ModelFormat("savedmodel", ".savedmodel",
                              "TensorFlow SavedModel, runs with tf.saved_model.load alone",
                              ("tensorflow",), _savedmodel, _backend_check("tf"),
                              directory=True),
    "keras": ModelFormat("keras", ".keras", "Keras 3 model (load after import convertkit.backends.tf)",
                         ("tensorflow",), _keras, _backend_check("tf")),
    "keras-weights": ModelFormat("keras-weights", ".weights.h5",
                                 "Keras weights of convertkit's Keras model (model.load_weights)",
                                 ("tensorflow",), _keras_weights, _backend_check("tf")),
}


def all_formats() -> list[str]:
    return emit.formats() + list(MODEL_FORMATS)


def refusal(net: Net, fmt: str | None = None, runtime: str | None = None
            ) -> UnsupportedLayerError | None:
    """Why format ``fmt`` (a runnable format's own check) or the backend of
    ``runtime`` cannot express a layer of ``net`` (by its type), or None."""
    from ..backends import BACKENDS, backend

    try:
        if fmt in MODEL_FORMATS:
            MODEL_FORMATS[fmt].check(net)
        if runtime in BACKENDS:
            backend(runtime).check(net)
    except UnsupportedLayerError as exc:
        return exc
    return None


def refusals(net: Net, formats) -> dict[str, UnsupportedLayerError]:
    """The model formats among ``formats`` whose framework cannot express a layer of
    ``net`` (by its type), each with its refusal naming the layer."""
    found = {fmt: refusal(net, fmt) for fmt in formats if fmt in MODEL_FORMATS}
    return {fmt: exc for fmt, exc in found.items() if exc is not None}


def cut_for(net: Net, fmt: str | None = None, runtime: str | None = None
            ) -> tuple[Net, str] | None:
    """(``net`` cut before its data-dependent layers, a note saying where it ends and
    why) when those layers are what the format or runtime cannot express and it can
    express the rest; else None."""
    from ..passes.cut import cut_data_dependent, data_dependent

    dynamic = data_dependent(net)
    refused = refusal(net, fmt, runtime) if dynamic else None
    if refused is None or refused.layer not in dynamic:
        return None
    cut, notes = cut_data_dependent(net)
    if refusal(cut, fmt, runtime) is not None:
        return None
    # e.g. "...: detection_out (DetectionOutput) gives ...; onnx cannot express DetectionOutput"
    return cut, f"{notes[0]}; {refused.cause.split(':')[0]}"


def output_paths(fmt: str, out_dir: Path, stem: str) -> tuple[Path, list[Path]]:
    """(the path given to the writer, the files it creates)."""
    if fmt in MODEL_FORMATS:
        path = out_dir / f"{stem}{MODEL_FORMATS[fmt].suffix}"
        return path, [path]
    spec = emit.get(fmt)
    path = out_dir / f"{stem}{spec.suffix}"
    return path, emit.output_files(fmt, path)


def plan_outputs(formats: list[str], out_dir: Path, stem: str, *, inputs, force: bool,
                 single: Path | None = None) -> dict[str, tuple[Path, list[Path]]]:
    """Every output path, checked (no input, existing files only with force)."""
    known = all_formats()
    unknown = [f for f in formats if f not in known]
    if unknown:
        raise UsageError(f"unknown output format(s) {', '.join(unknown)}; known: {', '.join(known)}")
    outputs = {}
    for fmt in formats:
        if single is not None:
            outputs[fmt] = (single, emit.output_files(fmt, single) if fmt in emit.FORMATS else [single])
        else:
            outputs[fmt] = output_paths(fmt, out_dir, stem)
        suffix = None
        if single is not None and fmt in emit.FORMATS and fmt != "tf":
            suffix = emit.get(fmt).suffix
        check_outputs(outputs[fmt][1], inputs=inputs, force=force, suffix=suffix,
                      what=f"a {fmt} file", directories=fmt in MODEL_FORMATS
                      and MODEL_FORMATS[fmt].directory)
    for fmt in formats:
        for name in MODEL_FORMATS[fmt].needs if fmt in MODEL_FORMATS else emit.get(fmt).needs:
            _require(name, fmt)
    return outputs


def _require(module: str, fmt: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        extra = {"tensorflow": "tensorflow", "torch": "torch", "onnx": "onnx", "h5py": "h5"}.get(module)
        hint = f"pip install 'convertkit[{extra}]'" if extra else f"pip install {module}"
        raise UsageError(f"--to {fmt} needs the Python package '{module}': {hint}")


def prepare(net: Net, *, bn: str = "keep", rgb: bool = False) -> tuple[Net, list[str]]:
    """The net after --bn merge and --rgb."""
    notes: list[str] = []
    if bn == "merge":
        net, more = fold_batchnorm(net)
        notes += more
    elif bn != "keep":
        raise UsageError(f"--bn must be keep or merge, not {bn!r}")
    if rgb:
        net, more = flip_input_channels(net)
        notes += more
    return net, notes


def convert(net: Net, outputs: dict[str, tuple[Path, list[Path]]], *, mapping: str | None = None,
            rgb: bool = False, meta: dict[str, str] | None = None, force: bool = False,
            inputs=(), progress: Callable[[str], None] | None = None) -> dict:
    """Write every format of ``outputs`` for ``net`` (already prepared). Returns a
    summary: per format its files, bytes, params and seconds, and notes."""
    from ..mapping import load_table, resolve

    summary: dict = {"formats": {}, "notes": []}
    tables: dict[str, tuple] = {}
    EXPORTED_SIZES.clear()
    for fmt, (path, files) in outputs.items():
        t0 = time.perf_counter()
        if progress:
            progress(fmt)
        if fmt in MODEL_FORMATS:
            _write_model(MODEL_FORMATS[fmt], net, path, force)
            n_params = net.num_params
        else:
            name = mapping or DEFAULT_TABLE[fmt]
            if name not in tables:  # each table once: its passes, then its notes
                table, source = load_table(name), net
                for p in table.passes:
                    source, more = PASSES[p](source)
                    summary["notes"] += [f"{table.name}: {n}" for n in more]
                tables[name] = (table, source)
            table, source = tables[name]
            targets = resolve(table, source, fmt=fmt if fmt in table.formats else None,
                                    input_flipped=rgb)
            summary["notes"] += [n for n in targets.notes if n not in summary["notes"]]
            emit.write(fmt, targets, path, meta=meta, force=force, inputs=inputs)
            n_params = int(sum(t.array.size for t in targets))
        size = sum(_size(f) for f in files)
        summary["formats"][fmt] = {"files": [str(f) for f in files], "bytes": size,
                                   "params": n_params,
                                   "seconds": round(time.perf_counter() - t0, 3)}
        if fmt in EXPORTED_SIZES:
            summary["formats"][fmt]["sizes"] = EXPORTED_SIZES[fmt].as_json()
    summary["notes"] += size_notes({f: EXPORTED_SIZES[f] for f in outputs if f in EXPORTED_SIZES},
                                   _sizes(net) if "net" in EXPORTED_SIZES else None)
    return summary


def size_notes(exported: dict, base=None) -> list[str]:
    """One note on the sizes the runnable formats take, when some stay fixed: the
    fixed ones and the layers that fix them, and what a framework pinned more.
    ``base``: the net's own free sizes (found again when not given)."""
    if not exported:
        return []
    from ..sizes import fixed_text, free_sizes

    first = next(iter(exported.values()))
    base = base if base is not None else free_sizes(first.net, first.plan)
    extra = [f"in {fmt} " + "; ".join(fixed_text(f) for f in sizes.fixed if f not in base.fixed)
             for fmt, sizes in exported.items() if any(f not in base.fixed for f in sizes.fixed)]
    if base.note() is None and not extra:
        return []
    if base.note() is None:  # free in the net, pinned by a framework
        shown = ", ".join(f"{n} {'x'.join(map(str, s))}" for n, s in base.plan.inputs.items())
        return [f"sizes: the runnable formats take {shown} with every size free, except "
                + "; ".join(extra)]
    return [base.note() + ("; " + "; ".join(extra) if extra else "")]


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size if path.exists() else 0


def _write_model(spec: ModelFormat, net: Net, path: Path, force: bool) -> None:
    """Build, then put in place atomically (a temp file or folder beside the target)."""
    if not spec.directory:
        data = spec.build(net, path)
        with atomic_write(path, "wb") as fh:
            fh.write(data)
        return
    make_dirs(path.parent)
    with writing(path):
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        with writing(path):
            try:
                spec.build(net, tmp / "model")
            except Exception as exc:  # TensorFlow reports a full disk as its own error
                if type(exc).__module__.startswith("tensorflow.python.framework.errors"):
                    raise OSError(str(exc).strip().splitlines()[0]) from None
                raise
            old = tmp / "old"
            if path.exists() and force:
                os.replace(path, old)  # the old model leaves only once the new one is whole
            os.replace(tmp / "model", path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def format_of(path: str | os.PathLike) -> str:
    """The output format a file name asks for, by its ending (``.weights.h5`` before
    ``.h5``; a TF checkpoint is named by its prefix, ``NAME.ckpt``)."""
    name = Path(path).name
    endings = [(emit.get(f).suffix, f) for f in emit.formats()]
    endings += [(spec.suffix, f) for f, spec in MODEL_FORMATS.items()]
    for suffix, fmt in sorted(endings, key=lambda e: -len(e[0])):
        if name.endswith(suffix) and len(name) > len(suffix):
            return fmt
    known = ", ".join(s for s, _ in endings)
    raise UsageError(f"{path}: no output format ends like this; name the format "
                     f"(fmt=...) or use one of {known}")


def save(net: Net, path: str | os.PathLike, fmt: str | None = None, *, bn: str = "keep",
         rgb: bool = False, mapping: str | None = None, force: bool = False) -> dict:
    """Write ``net`` to ``path`` in one format, as ``convertkit convert --to FMT`` does.

    ``fmt`` is any name of ``convertkit convert --to`` (weights: npy, npz, h5, tf,
    torch, safetensors; runnable models: onnx, pt2, savedmodel, keras,
    keras-weights); without it, the format is taken from the file name's ending
    (:func:`format_of`). ``bn="merge"`` folds BatchNorm into the convolutions first,
    ``rgb=True`` makes the model take RGB input, ``mapping`` names a mapping table
    other than the format's default. The file is written atomically, never over one
    of the net's own Caffe files, and replaces an existing one only with
    ``force=True``.

    Returns the summary of :func:`convert` (files, bytes, params, seconds, notes).
    Raises UsageError (bad format or options), OutputFileError (the path) or
    UnsupportedLayerError (the format cannot express a layer, named in the message).
    """
    path = Path(path)
    fmt = fmt or format_of(path)
    inputs = [p for p in (net.prototxt_path, net.caffemodel_path) if p]
    outputs = plan_outputs([fmt], path.parent, path.stem, inputs=inputs, force=force,
                           single=path)
    net, notes = prepare(net, bn=bn, rgb=rgb)
    refused = refusals(net, outputs)
    if refused:
        raise refused[fmt]
    summary = convert(net, outputs, mapping=mapping, rgb=rgb, force=force, inputs=inputs,
                      meta={"converter": "convertkit", "bn": bn, "rgb": str(rgb).lower()})
    summary["notes"] = notes + summary["notes"]
    return summary
