"""What TensorFlow's family modules share: TensorFlow imported quietly, the backend,
:class:`Op` and its builders, and what every Keras layer of the backend shares: its
registration for ``.keras`` files, float32 by default, and the model's layout.

Layout: a 4-axis blob is NHWC inside the model (Caffe's N x C x H x W with the
channels moved last); a blob of any other rank keeps Caffe's axis order. The helpers
:func:`to_caffe`, :func:`to_internal` and :func:`internal_axis` convert between the two.
Everything a layer needs to know about sizes is read from the static H and W of its
input when the model is built for one input size; where H or W is None (an export
with free sizes) it is computed from ``tf.shape`` by Caffe's integer rules. The batch
may be any size.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Callable, Sequence


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras with file descriptor 2 silenced: TF's C++ side
    prints absl/oneDNN notices at import that no setting turns off (an import error
    still raises, after stderr is back)."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):
        import tensorflow  # noqa: F401
        return
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ..base import Backend, Context  # noqa: E402


BACKEND = Backend("tf")


@dataclass
class Op:
    """One Caffe layer in Keras."""

    #: The Keras layer (named after the Caffe layer), or None.
    layer: keras.layers.Layer | None
    #: Bottom tensors -> top tensors (model layout).
    call: Callable[[list], list]
    #: Caffe param role -> (attribute of ``layer`` holding the variable, layout).
    variables: dict[str, tuple[str, str]] = field(default_factory=dict)


def _name(ctx: Context) -> str:
    return ctx.options["name"]


def _rank(ctx: Context) -> int:
    return len(ctx.bottom_shapes[0])


def _single(layer: keras.layers.Layer, variables: dict | None = None) -> Op:
    """A one-bottom, one-top layer."""
    return Op(layer, lambda xs: [layer(xs[0])], variables or {})


def _multi(layer: keras.layers.Layer, variables: dict | None = None) -> Op:
    """A several-bottom, one-top layer."""
    return Op(layer, lambda xs: [layer(list(xs))], variables or {})


F32 = np.float32

PACKAGE = "convertkit"
register = keras.saving.register_keras_serializable(package=PACKAGE)

#: Caffe axis -> NHWC axis for a 4-axis blob.
_NHWC_AXIS = (0, 3, 1, 2)
_TO_NHWC = (0, 2, 3, 1)
_TO_NCHW = (0, 3, 1, 2)
FLT_MAX = float(np.finfo(np.float32).max)
FLT_MIN = float(np.finfo(np.float32).tiny)


def internal_axis(axis: int, rank: int) -> int:
    """Where Caffe's (canonical) ``axis`` of a ``rank``-axis blob sits inside the model."""
    return _NHWC_AXIS[axis] if rank == 4 else axis


def internal_shape(shape: Sequence) -> tuple:
    """A Caffe shape in the model's layout."""
    shape = tuple(shape)
    return tuple(shape[i] for i in _TO_NHWC) if len(shape) == 4 else shape


def caffe_shape(shape: Sequence) -> tuple:
    """A shape in the model's layout, in Caffe's axis order."""
    shape = tuple(shape)
    return tuple(shape[i] for i in _TO_NCHW) if len(shape) == 4 else shape


def to_caffe(x: tf.Tensor) -> tf.Tensor:
    return tf.transpose(x, _TO_NCHW) if x.shape.rank == 4 else x


def to_internal(x: tf.Tensor) -> tf.Tensor:
    return tf.transpose(x, _TO_NHWC) if x.shape.rank == 4 else x


def to_internal_array(a: np.ndarray) -> np.ndarray:
    """A Caffe-layout numpy array in the model's layout."""
    return np.ascontiguousarray(a.transpose(_TO_NHWC)) if a.ndim == 4 else a


def dims(x: tf.Tensor) -> list:
    """The shape of ``x``: Python ints where static, scalar tensors where not."""
    dynamic = tf.shape(x)
    return [d if d is not None else dynamic[i] for i, d in enumerate(x.shape)]


def _pair(v) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    v = tuple(int(d) for d in v)
    return v if len(v) == 2 else (v[0], v[0])


def _base(kwargs: dict) -> dict:
    """Keras Layer kwargs, float32 unless the caller says otherwise."""
    kwargs.setdefault("dtype", "float32")
    return kwargs
