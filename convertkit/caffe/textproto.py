"""A fast reader for the plain subset of protobuf text format that prototxts use.

protobuf's own ``text_format`` is pure Python and tokenizes character class by
character class: parsing a 7,000-line PSPNet101 prototxt takes longer than reading its
263 MB caffemodel. Real prototxts use a small subset (``name: value`` and
``name { ... }``, ``#`` comments, simple quoted strings, enum identifiers), which one
regular expression tokenizes. ``parse_into`` reads that subset and returns False, leaving
the message untouched, on anything else: string escapes, list syntax, extensions,
duplicate singular fields, unknown names, bad values. Callers then use ``text_format``,
which is the reference, for both the result and its error messages (with line:column).
"""
from __future__ import annotations

import re

from google.protobuf.descriptor import FieldDescriptor as FD

_TOKEN = re.compile(r"""
    \s+ | \#[^\n]*                                        # skipped
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<str>"[^"\\\n]*"|'[^'\\\n]*')
  | (?P<punct>[{}:])
""", re.VERBOSE)

_INT_TYPES = {FD.CPPTYPE_INT32, FD.CPPTYPE_INT64, FD.CPPTYPE_UINT32, FD.CPPTYPE_UINT64}
_FLOAT_TYPES = {FD.CPPTYPE_FLOAT, FD.CPPTYPE_DOUBLE}
_BOOLS = {"true": True, "True": True, "t": True, "1": True,
          "false": False, "False": False, "f": False, "0": False}


def _is_repeated(field) -> bool:
    # protobuf 6+ has is_repeated; older runtimes only the (now removed) label.
    rep = getattr(field, "is_repeated", None)
    return bool(rep) if rep is not None else field.label == FD.LABEL_REPEATED


class _Unsupported(Exception):
    """Outside the fast subset (or invalid): let text_format decide."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos, n = 0, len(text)
    match = _TOKEN.match
    while pos < n:
        m = match(text, pos)
        if m is None:
            raise _Unsupported
        pos = m.end()
        kind = m.lastgroup
        if kind is not None:
            out.append((kind, m.group(kind)))
    return out


def _scalar(field, kind: str, value: str):
    cpp = field.cpp_type
    if cpp in _INT_TYPES:
        if kind != "num" or not re.fullmatch(r"[-+]?\d+", value):
            raise _Unsupported
        return int(value)
    if cpp in _FLOAT_TYPES:
        if kind != "num":
            raise _Unsupported
        return float(value)
    if cpp == FD.CPPTYPE_BOOL:
        if value not in _BOOLS:
            raise _Unsupported
        return _BOOLS[value]
    if cpp == FD.CPPTYPE_STRING:
        if kind != "str" or field.type == FD.TYPE_BYTES:
            raise _Unsupported
        return value[1:-1]
    if cpp == FD.CPPTYPE_ENUM:
        if kind != "id":
            raise _Unsupported
        ev = field.enum_type.values_by_name.get(value)
        if ev is None:
            raise _Unsupported
        return ev.number
    raise _Unsupported


def _parse_message(msg, toks: list[tuple[str, str]], i: int, closing: bool) -> int:
    fields = msg.DESCRIPTOR.fields_by_name
    n = len(toks)
    while i < n:
        kind, value = toks[i]
        if kind == "punct" and value == "}":
            if not closing:
                raise _Unsupported
            return i + 1
        if kind != "id":
            raise _Unsupported
        field = fields.get(value)
        if field is None:
            raise _Unsupported
        i += 1
        if i < n and toks[i] == ("punct", ":"):
            i += 1
            colon = True
        else:
            colon = False
        if i >= n:
            raise _Unsupported
        if field.cpp_type == FD.CPPTYPE_MESSAGE:
            if toks[i] != ("punct", "{"):
                raise _Unsupported
            if _is_repeated(field):
                sub = getattr(msg, value).add()
            else:
                if msg.HasField(value):
                    raise _Unsupported  # text_format rejects a repeated singular field
                sub = getattr(msg, value)
                sub.SetInParent()
            i = _parse_message(sub, toks, i + 1, closing=True)
            continue
        if not colon:
            raise _Unsupported
        tkind, tvalue = toks[i]
        v = _scalar(field, tkind, tvalue)
        if _is_repeated(field):
            getattr(msg, value).append(v)
        else:
            if msg.HasField(value):
                raise _Unsupported
            setattr(msg, value, v)
        i += 1
    if closing:
        raise _Unsupported  # unbalanced braces
    return i


def parse_into(text: str, msg) -> bool:
    """Parse ``text`` into the empty message ``msg``; False (msg cleared) if outside the
    fast subset, in which case the caller must use text_format."""
    try:
        toks = _tokens(text)
        _parse_message(msg, toks, 0, closing=False)
        return True
    except (_Unsupported, ValueError, TypeError):
        msg.Clear()
        return False
