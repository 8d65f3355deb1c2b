"""Caffe message classes, built at run time in a private descriptor pool.

We never import the protoc-generated ``caffe_protos/caffe_pb2.py``: modules generated
by a new protoc refuse older protobuf runtimes, and one that registers package
``caffe`` in the default pool clashes with any other Caffe tool loaded in the same
process (pycaffe, an older caffe_pb2, OpenCV's Python helpers...). Instead the
serialized ``FileDescriptorSet`` that protoc wrote next to it (``caffe.desc``) is added
to a pool of our own, and the classes are made from that pool. This works on every
protobuf runtime from 4.21 (the first with ``GetMessageClassesForFiles``) on.
"""
from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from ..resources import caffe_desc

PROTO_FILE = "caffe.proto"


@lru_cache(maxsize=1)
def pool() -> descriptor_pool.DescriptorPool:
    data = caffe_desc()  # convertkit/_caffe_protos/caffe.desc (caffe_protos/ in the repo)
    fds = descriptor_pb2.FileDescriptorSet.FromString(data)
    private = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        private.Add(fd)
    return private


@lru_cache(maxsize=1)
def caffe_pb2() -> SimpleNamespace:
    """A namespace like a generated ``caffe_pb2`` module: ``caffe_pb2().NetParameter`` ..."""
    classes = message_factory.GetMessageClassesForFiles([PROTO_FILE], pool())
    ns = SimpleNamespace()
    for full_name, cls in classes.items():
        name = full_name.split(".", 1)[1]
        if "." not in name:  # top-level messages; nested ones stay on their parent
            setattr(ns, name, cls)
    ns.Phase = pool().FindEnumTypeByName("caffe.Phase")
    return ns


def message(name: str):
    """The class of message ``name`` (e.g. ``"LayerParameter"``)."""
    return getattr(caffe_pb2(), name)


def parse_text(text: str, name: str = "NetParameter"):
    """Parse protobuf text format into a new message; raises text_format.ParseError."""
    msg = message(name)()
    text_format.Parse(text, msg, descriptor_pool=pool())
    return msg


def to_text(msg) -> str:
    return text_format.MessageToString(msg, descriptor_pool=pool())
