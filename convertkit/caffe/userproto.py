"""A user's own ``caffe.proto`` (``convertkit --caffe-proto FILE``), for a fork whose
parameter blocks convertkit's schema does not know.

The file is compiled at run time (protoc from grpcio-tools, in a child process) into
a descriptor set, and a prototxt is parsed with the user's ``NetParameter``. Its
bytes are then read back with convertkit's schema: every field convertkit knows keeps
its meaning, and the fork's own fields travel as unknown fields. Layer types that
convertkit does not know still need a plugin (``--plugin``).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from ..errors import PrototxtError, UsageError

_ACTIVE: Path | None = None


def use(path: str | os.PathLike | None) -> None:
    """Parse every prototxt with this caffe.proto from now on (None: convertkit's)."""
    global _ACTIVE
    if path is not None:
        net_class(Path(path).resolve())  # compile now: a bad file fails before any work
        _ACTIVE = Path(path).resolve()
    else:
        _ACTIVE = None


def active() -> Path | None:
    return _ACTIVE


@lru_cache(maxsize=4)
def net_class(path: Path):
    """The user's NetParameter message class, compiled from ``path``."""
    if not path.is_file():
        raise UsageError("caffe.proto not found", path=path)
    try:
        import grpc_tools  # noqa: F401
    except ImportError:
        raise UsageError("--caffe-proto needs protoc from grpcio-tools: pip install "
                         "grpcio-tools", path=path) from None
    with tempfile.TemporaryDirectory(prefix="convertkit-proto-") as tmp:
        out = Path(tmp) / "user.desc"
        res = subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{path.parent}",
             f"--descriptor_set_out={out}", "--include_imports", str(path)],
            capture_output=True, text=True)
        if res.returncode != 0:
            first = (res.stderr or res.stdout).strip().splitlines()
            raise UsageError(f"does not compile: {first[0] if first else 'protoc failed'}",
                             path=path)
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    names = [f"{fd.package}.NetParameter" if fd.package else "NetParameter" for fd in fds.file]
    for name in names:
        try:
            desc = pool.FindMessageTypeByName(name)
        except KeyError:
            continue
        return message_factory.GetMessageClass(desc)
    raise UsageError("defines no NetParameter message", path=path)


def parse(text: str, ours, source) -> None:
    """Parse ``text`` with the active user schema into ``ours`` (convertkit's
    NetParameter), through the wire format."""
    theirs = net_class(_ACTIVE)()
    try:
        text_format.Parse(text, theirs, allow_unknown_extension=False)
    except text_format.ParseError as exc:
        where = f"{source}:{exc.GetLine()}:{exc.GetColumn()}" if exc.GetLine() else str(source)
        raise PrototxtError(f"syntax error (with {_ACTIVE.name}): {str(exc).split(' : ', 1)[-1]}",
                            path=where) from None
    try:
        ours.ParseFromString(theirs.SerializeToString())
    except Exception as exc:  # a field number both schemas use with different types
        raise PrototxtError(f"{_ACTIVE.name} and convertkit's schema disagree on a field "
                            f"number: {exc}", path=source) from None
