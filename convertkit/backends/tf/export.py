"""Standalone TensorFlow exports of a net: SavedModel, ``.keras`` and ``.weights.h5``.

* :func:`write_saved_model` writes a SavedModel that runs with TensorFlow alone (no
  convertkit import)::

      m = tf.saved_model.load(directory)
      out = m.serve(x)                                   # x: N x C x H x W float32
      out = m.signatures["serving_default"](data=x)      # the same, by input name

  Both return a dict {output blob: N x C x H x W float32}. The graph holds the
  values of the params; batch, height and width are free (None) wherever the net's
  layers allow it (convertkit.sizes), else the net's declared ones.
* :func:`keras_bytes` gives a ``.keras`` file of the functional model (NCHW dict in,
  NCHW dict out). Its Caffe-specific layers are convertkit's, registered under the
  package "convertkit": load it with ``import convertkit.backends.tf`` first, then
  ``keras.models.load_model(path)`` (or :func:`load_keras`).
* :func:`weights_h5_bytes` / :func:`load_weights_h5`: Keras's own weights file
  (``model.save_weights`` / ``model.load_weights``) of the model convertkit builds
  for the net.

The params come from the net itself or, with ``checkpoint=PREFIX``, from an emitted
TF checkpoint (by name, through ``table``; see :mod:`convertkit.backends.tf.model`).
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import keras
import tensorflow as tf

from ...errors import UsageError
from ...graph import Net
from .model import KerasNet, build, layer_name


def _built(net: Net, checkpoint: str | None, table: str, fmt: str | None,
           sizes=None) -> KerasNet:
    """The Keras model with every input size the net allows left free (``sizes``,
    default :func:`convertkit.sizes.free_sizes`)."""
    from ...sizes import free_sizes

    sizes = sizes if sizes is not None else free_sizes(net)
    return build(net, sizes.plan, checkpoint=checkpoint, table=table, fmt=fmt, sizes=sizes)


class _Serving(tf.Module):
    """What the SavedModel holds: the Keras model and one ``serve`` function."""

    def __init__(self, knet: KerasNet):
        super().__init__(name="convertkit")
        self.model = knet.model
        names = list(knet.input_names)
        specs = [tf.TensorSpec(tuple(knet.model.input[n].shape if isinstance(knet.model.input, dict)
                                     else knet.inputs[n].shape), tf.float32,
                               name=layer_name(n)) for n in names]
        model = self.model

        def serve(*xs):
            out = model(dict(zip(names, xs)), training=False)
            return {k: tf.identity(v, name=layer_name(k)) for k, v in out.items()}

        self.serve = tf.function(serve, input_signature=specs)


def keras_model(net: Net, sizes=None) -> KerasNet:
    """The Keras model of ``net`` with its params and every input size the net allows
    free (``model.sizes``: what it takes)."""
    return _built(net, None, "tf", None, sizes)


def write_saved_model(net: Net | KerasNet, directory: str | Path, *, checkpoint: str | None = None,
                      table: str = "tf", fmt: str | None = None, sizes=None) -> list[Path]:
    """Write the SavedModel into ``directory`` (which must be empty or absent); returns
    the files written."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise UsageError("the SavedModel directory is not empty", path=str(directory))
    knet = net if isinstance(net, KerasNet) else _built(net, checkpoint, table, fmt, sizes)
    module = _Serving(knet)
    concrete = module.serve.get_concrete_function()
    tf.saved_model.save(module, str(directory), signatures={"serving_default": concrete})
    _settle_fingerprint(directory / "fingerprint.pb")
    return sorted(p for p in directory.rglob("*") if p.is_file())


def _settle_fingerprint(path: Path) -> None:
    """TensorFlow puts a random UUID in a SavedModel's fingerprint.pb; the same model
    should give the same bytes every time, so the UUID is made from the fingerprint's
    own hashes of the graph, signatures, objects and checkpoint."""
    if not path.is_file():
        return
    import hashlib

    from tensorflow.core.protobuf import fingerprint_pb2

    fp = fingerprint_pb2.FingerprintDef()
    fp.ParseFromString(path.read_bytes())
    fp.ClearField("uuid")
    digest = hashlib.sha256(fp.SerializeToString(deterministic=True)).digest()
    fp.uuid = str(int.from_bytes(digest[:16], "big"))
    path.write_bytes(fp.SerializeToString(deterministic=True))


def _saved_bytes(suffix: str, save) -> bytes:
    with tempfile.TemporaryDirectory(prefix="convertkit-keras-") as tmp:
        path = Path(tmp) / f"model{suffix}"
        with warnings.catch_warnings():
            # Keras's TF backend calls np.array(variable), which numpy 2 flags once per
            # variable; the values are unaffected.
            warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept",
                                    category=DeprecationWarning)
            save(str(path))
        return path.read_bytes()


def keras_bytes(net: Net | KerasNet, *, checkpoint: str | None = None, table: str = "tf",
                fmt: str | None = None, sizes=None) -> bytes:
    """The ``.keras`` file of the net's Keras model (or of a built one), with its params."""
    knet = net if isinstance(net, KerasNet) else _built(net, checkpoint, table, fmt, sizes)
    return _reproducible_zip(_saved_bytes(".keras", knet.model.save))


def _reproducible_zip(data: bytes) -> bytes:
    """A ``.keras`` archive whose bytes depend on the model alone: Keras stamps its
    entries and ``metadata.json`` with the time of saving, which are set to the zip
    epoch (1980-01-01) and dropped."""
    import io
    import json
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "metadata.json":
                meta = json.loads(body)
                meta.pop("date_saved", None)
                body = json.dumps(meta).encode()
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type, entry.external_attr = info.compress_type, info.external_attr
            dst.writestr(entry, body)
    return out.getvalue()


def weights_h5_bytes(model: KerasNet | Net, *, checkpoint: str | None = None, table: str = "tf",
                     fmt: str | None = None) -> bytes:
    """Keras's ``.weights.h5`` of a built model, or of the model built for a net."""
    knet = model if isinstance(model, KerasNet) else _built(model, checkpoint, table, fmt)
    return _saved_bytes(".weights.h5", knet.model.save_weights)


def load_weights_h5(net: Net, path: str | Path, input_shapes=None) -> KerasNet:
    """The Keras model of ``net`` with its variables read from a ``.weights.h5``
    (``model.load_weights``: the layers must be those of this net)."""
    path = Path(path)
    if not path.name.endswith(".weights.h5"):
        raise UsageError("a Keras weights file must end in .weights.h5", path=str(path))
    if not path.is_file():
        raise UsageError("file not found", path=str(path))
    knet = KerasNet(net, net.plan(input_shapes))
    try:
        knet.model.load_weights(str(path))
    except Exception as exc:  # Keras names the layer whose weights do not fit
        raise UsageError(f"the weights do not fit the net: {exc}", path=str(path)) from None
    return knet


def load_keras(path: str | Path) -> keras.Model:
    """``keras.models.load_model`` with convertkit's layers registered (importing
    this package registered them)."""
    return keras.models.load_model(str(path))


__all__: Sequence[str] = ["write_saved_model", "keras_bytes", "weights_h5_bytes",
                          "load_weights_h5", "load_keras"]
