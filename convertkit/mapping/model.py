"""Mapping tables: for every Caffe param, the key, role and layout a target expects.

A table is data (TOML, in ``mappings/`` or a user's ``--mapping FILE``); this module
reads it, checks it, and resolves it against a net:

.. code-block:: toml

    [table]
    name = "my-port"
    about = "a TensorFlow port of an ICNet"
    formats = ["npy", "tf"]          # naming variants; the first is the default
    bgr_to_rgb = true                # the target takes RGB (needs a flip below)

    [params.bn]                      # a shared role -> name map
    gamma = "scale"
    beta = "offset"
    mean = "mean"
    variance = "variance"

    [[rule]]                         # first matching rule wins, per param
    type = "Convolution"             # layer type(s)
    name = 'conv\\d.*'               # regex, matched against the whole layer name
    key = "{layer_}/{param}"         # key template
    params = { weight = { name = "weights", layout = "hwio" }, bias = "biases" }

    [[rule]]
    type = "BN"
    key = "{layer_}/{param}"
    params = "bn"
    layout = "flat"
    formats.tf.params = { gamma = "gamma", beta = "beta", mean = "moving_mean", variance = "moving_variance" }

    [[rule]]
    name = "data_sub1"
    drop = "the TF ports feed `data` straight in"   # a reason is required
    when = "ones"                    # ...and only while the param is all ones

    [[entry]]                        # one param, by name; entries win over rules
    layer = "conv1"
    role = "weight"
    key = "stem/kernel"
    layout = "hwio"
    flip = true                      # BGR -> RGB: reverse the input channels
    shape = [3, 3, 3, 64]            # the target shape, checked

Rule fields: ``type``, ``name`` (regex; named groups become template fields),
``role``, ``hparams`` (hyper-parameters the layer must have, e.g. ``{ group = 1 }``)
select params; ``key``, ``params`` (a map or the name of a ``[params.*]`` map),
``layout`` (one name or a role -> name map), ``flip``, ``lookup`` (group -> {value ->
text}), ``note`` and ``formats.<fmt>`` (overrides of key/params/layout) say what they
become; ``drop`` + ``when`` drop them. A map value is a name or a table with ``name``,
``layout``, ``flip``, or ``value`` + ``dtype`` for a constant no Caffe param supplies
(PyTorch's ``num_batches_tracked``, Chainer's ``N``).

Key templates: ``{layer}`` (the Caffe name), ``{layer_}`` ('/' -> '_'), ``{module}``
(:func:`module_name`), ``{type}``, ``{role}``, ``{param}`` (the map's name, else the
role), the name regex's groups, ``{group-1}`` / ``{group+1}`` (integer offsets); a
group listed in ``lookup`` is looked up. ``{{`` and ``}}`` are literal braces.

Resolution always validates: every param is mapped exactly once or dropped with a
reason, every key is produced once, each array has the shape its layout implies (and
any stated shape). A failure lists every offender at once (:class:`MappingError`).

This module holds the table's parts and knows nothing of files or nets: reading a
file (and finding the built-in tables) is in :mod:`convertkit.mapping.read`,
resolving against a net in :mod:`convertkit.mapping.resolve`, and the layouts in
:mod:`convertkit.layouts`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np


#: dtypes a constant may have.
CONST_DTYPES = ("int64", "int32", "float32", "float64", "bool")
#: Drop conditions: the param must satisfy this for the drop to be lossless.
WHEN = {"ones": lambda a: bool(np.all(np.asarray(a) == 1))}
BUILTIN_FIELDS = ("layer", "layer_", "module", "type", "role", "param")


def module_name(layer_name: str) -> str:
    """The PyTorch module name of a Caffe layer: every character outside
    [A-Za-z0-9_] becomes '_' (``conv1_1_3x3_s2/bn`` -> ``conv1_1_3x3_s2_bn``). Two
    layers that end up with one name are an error (:func:`convertkit.mapping.resolve`)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", layer_name)


def layer_key(layer_name: str) -> str:
    """hellochick's and caffe-tensorflow's op name: the Caffe name with '/' -> '_'."""
    return layer_name.replace("/", "_")


# -- what a resolution gives ---------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Target:
    """One array to write: from ``layer``'s param ``role`` (or a constant named
    ``role``), under ``key``, in ``layout``. ``array`` is float32 unless the table
    states a dtype; ``caffe_shape`` is None for constants."""

    layer: str
    role: str
    key: str
    layout: str
    array: np.ndarray
    caffe_shape: tuple[int, ...] | None

    @property
    def source(self) -> str:
        return f"{self.layer}/{self.role}"


@dataclass(frozen=True)
class Dropped:
    layer: str
    role: str
    reason: str


class Resolution(list):
    """The targets in net order (a list of :class:`Target`), plus what was dropped
    (with reasons) and notes for the user."""

    def __init__(self, targets: Iterable[Target], dropped: list[Dropped], notes: list[str],
                 table: "Table", fmt: str | None):
        super().__init__(targets)
        self.dropped = dropped
        self.notes = notes
        self.table = table
        self.fmt = fmt


# -- templates -------------------------------------------------------------------------

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)([+-]\d+)?\}|[{}]")


@dataclass(frozen=True)
class Template:
    text: str
    #: Literal text and (field, offset) pairs, in order.
    parts: tuple

    @classmethod
    def parse(cls, text: str) -> "Template":
        parts, pos = [], 0
        for m in _FIELD.finditer(text):
            parts.append(text[pos:m.start()])
            tok = m.group(0)
            if tok in ("{{", "}}"):
                parts.append(tok[0])
            elif m.group(1) is None:
                raise ValueError(f"unbalanced '{tok}' in key template {text!r} "
                                 "(write {{ or }} for a literal brace)")
            else:
                parts.append((m.group(1), int(m.group(2) or 0)))
            pos = m.end()
        parts.append(text[pos:])
        return cls(text, tuple(p for p in parts if p != ""))

    @property
    def fields(self) -> list[str]:
        return [p[0] for p in self.parts if isinstance(p, tuple)]

    def render(self, values: Mapping[str, str]) -> str:
        out = []
        for p in self.parts:
            if isinstance(p, str):
                out.append(p)
                continue
            name, offset = p
            value = values[name]
            if offset:
                try:
                    value = str(int(value) + offset)
                except ValueError:
                    raise ValueError(f"{{{name}{offset:+d}}} needs a number, got {value!r}") \
                        from None
            out.append(value)
        return "".join(out)


# -- the table's parts ---------------------------------------------------------------

@dataclass(frozen=True)
class ParamSpec:
    """One entry of a param map: what ``{param}`` becomes, and per-param options."""

    name: str
    layout: str | None = None
    flip: bool | None = None
    value: Any = None
    dtype: str | None = None

    @property
    def is_constant(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class Naming:
    """How matched params are named (a rule, or one of its format overrides)."""

    key: Template | None
    params: dict[str, ParamSpec] | None
    layout: str | dict[str, str] | None


@dataclass(eq=False)
class Rule:
    where: str                      # "rule 3" / "entry 2", for messages
    line: int | None
    types: tuple[str, ...] | None = None
    name: re.Pattern | None = None
    roles: tuple[str, ...] | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    naming: Naming = Naming(None, None, None)
    formats: dict[str, Naming] = field(default_factory=dict)
    flip: bool = False
    drop: str | None = None
    when: str | None = None
    lookup: dict[str, dict[str, str]] = field(default_factory=dict)
    note: str | None = None
    #: Entries only: the exact layer, and the stated target shape.
    layer: str | None = None
    shape: tuple[int, ...] | None = None

    def naming_for(self, fmt: str | None) -> Naming:
        over = self.formats.get(fmt) if fmt else None
        if over is None:
            return self.naming
        return Naming(over.key or self.naming.key,
                      over.params if over.params is not None else self.naming.params,
                      over.layout if over.layout is not None else self.naming.layout)

    def matches(self, layer, role: str, fmt: str | None) -> bool:
        if self.layer is not None:
            return layer.name == self.layer and role in (self.roles or ())
        if self.types is not None and layer.type not in self.types:
            return False
        if self.name is not None and not self.name.fullmatch(layer.name):
            return False
        if self.roles is not None and role not in self.roles:
            return False
        params = self.naming_for(fmt).params
        if params is not None and (role not in params or params[role].is_constant):
            return False
        return all(_hparam_equals(layer.hparams, k, v) for k, v in self.hparams.items())


def _hparam_equals(hp: Any, name: str, want: Any) -> bool:
    have = getattr(hp, name, _MISSING)
    if have is _MISSING:
        return False
    if isinstance(have, (tuple, list)):
        want = tuple(want) if isinstance(want, list) else (want,) * len(have)
        return tuple(have) == want
    return have == want


_MISSING = object()


# -- the table and its resolution -----------------------------------------------------

@dataclass
class Table:
    name: str
    about: str
    path: Path | None
    formats: tuple[str, ...]
    bgr_to_rgb: bool
    nets: tuple[str, ...]
    notes: tuple[str, ...]
    rules: list[Rule]
    entries: list[Rule]
    #: Graph passes to run on the net first (e.g. "fold_input_scale").
    passes: tuple[str, ...] = ()
