"""TensorFlow TF1 name-based checkpoint, written by TensorFlow's own ``SaveV2`` op.

``path`` is the checkpoint prefix (``out/model.ckpt``), as for ``Saver.save``; the
files are ``<prefix>.index`` and ``<prefix>.data-00000-of-00001``. They read with
``tf.train.load_checkpoint(prefix)`` and restore with a TF1
``tf.compat.v1.train.Saver().restore(sess, prefix)`` in a graph that declares
variables named by the keys (what hellochick's code does).

Whole or not at all: SaveV2 writes both files into a fresh temp folder beside the
target; each is flushed to disk, then renamed into place, the data file first and the
index last. The index is the checkpoint's entry point (readers open it first and it
lists the data), so a crash leaves at most a data file without an index, never an
index that points at missing or other data. Replacing a checkpoint (``force``)
removes the old index before the new data goes in, for the same reason. The temp
folder is removed in every case.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from ..errors import UsageError
from ..fileio import make_dirs, writing
from .base import register

DATA_SUFFIX = ".data-00000-of-00001"
INDEX_SUFFIX = ".index"
#: TF variable (op) names: what a TF1 Saver can declare and restore.
_TF_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\-/]*")


def files(prefix: Path) -> list[Path]:
    return [prefix.with_name(prefix.name + DATA_SUFFIX),
            prefix.with_name(prefix.name + INDEX_SUFFIX)]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@register("tf", suffix=".ckpt", about="TensorFlow TF1 checkpoint (prefix.index + prefix.data-*)",
          needs=("tensorflow",), files=files)
def write(targets, prefix: Path, meta) -> None:
    bad = [t.key for t in targets if not _TF_NAME.fullmatch(t.key)]
    if bad:
        raise UsageError(f"{len(bad)} keys are not valid TensorFlow variable names, so a TF1 "
                         f"Saver could not restore them: {', '.join(map(repr, bad))}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    parent = make_dirs(prefix.parent)
    with writing(prefix):
        tmp = Path(tempfile.mkdtemp(prefix=f".{prefix.name}.", suffix=".tmp", dir=parent))
    try:
        with writing(prefix):
            staged = tmp / prefix.name
            tf.raw_ops.SaveV2(prefix=str(staged), tensor_names=[t.key for t in targets],
                              shape_and_slices=[""] * len(targets),
                              tensors=[tf.constant(t.array) for t in targets])
            data, index = files(prefix)
            new_data, new_index = files(staged)
            umask = os.umask(0)
            os.umask(umask)
            for f in (new_data, new_index):
                os.chmod(f, 0o666 & ~umask)
                _fsync(f)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(index)  # an old index must never point at the new data
            os.replace(new_data, data)
            os.replace(new_index, index)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
