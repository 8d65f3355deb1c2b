"""Resolving a mapping table against a net, with the validation that always runs.

Per learned param, in net order: the explicit ``[[entry]]`` for it, else the first
``[[rule]]`` that matches; a drop is recorded with its reason, anything else becomes a
:class:`~convertkit.mapping.Target` whose array is flipped (BGR -> RGB) when asked and
put in its layout. Problems are collected, never raised one by one, so a table that
does not fit names every unmapped param, every duplicate key and every shape that
disagrees in one :class:`~convertkit.errors.MappingError`.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from .. import layouts as _layouts
from ..errors import ConvertError, MappingError
from ..layers.base import fmt_shape
from .model import WHEN, Dropped, Resolution, Rule, Table, Target, layer_key, module_name


def _plan(net):
    try:
        return net.plan()
    except ConvertError:
        return None  # unknown input shapes: layouts that need them say so


def _layout_name(rule_layout, spec, role: str) -> str:
    if spec is not None and spec.layout:
        return spec.layout
    if isinstance(rule_layout, dict):
        return rule_layout.get(role, "caffe")
    return rule_layout or "caffe"


class _Resolver:
    def __init__(self, table, net, fmt, input_flipped: bool):
        self.table, self.net, self.fmt = table, net, fmt
        self.input_flipped = input_flipped
        self.plan = _plan(net)
        self.problems: list[str] = []
        self.unmapped: list[str] = []
        self.targets: list[Target] = []
        self.dropped: list[Dropped] = []
        self.notes: list[str] = list(table.notes)
        self.produced: dict[str, list[str]] = {}
        #: ({layer_} or {module}, value) -> Caffe layer names rendered to it.
        self.renamed: dict[tuple[str, str], set[str]] = {}
        self.flips = 0
        self.used_entries: set[int] = set()

    # -- naming --------------------------------------------------------------------
    def values(self, rule: Rule, layer, role: str, param: str) -> dict[str, str]:
        vals = {"layer": layer.name, "layer_": layer_key(layer.name),
                "module": module_name(layer.name), "type": layer.type, "role": role,
                "param": param}
        if rule.name is not None:
            m = rule.name.fullmatch(layer.name)
            for g, v in m.groupdict().items():
                v = v or ""
                if g in rule.lookup:
                    if v not in rule.lookup[g]:
                        raise ValueError(f"{rule.where}: lookup.{g} has no entry for {v!r}")
                    v = rule.lookup[g][v]
                vals[g] = v
        return vals

    def render(self, rule: Rule, template, layer, role: str, param: str) -> str:
        key = template.render(self.values(rule, layer, role, param))
        for var, fn in (("layer_", layer_key), ("module", module_name)):
            if var in template.fields:
                self.renamed.setdefault((var, fn(layer.name)), set()).add(layer.name)
        if not key:
            raise ValueError(f"{rule.where}: the key template gives an empty key")
        return key

    def add(self, target: Target) -> None:
        self.produced.setdefault(target.key, []).append(target.source)
        self.targets.append(target)

    # -- one layer -----------------------------------------------------------------
    def layer(self, layer) -> None:
        roles = layer.roles
        if len(layer.params) != len(roles):
            have = "no weights" if not layer.params else f"{len(layer.params)} params"
            self.problems.append(f"{layer.name}: has {have}, its {layer.type} needs "
                                 f"{len(roles)} ({', '.join(roles)})")
            return
        expected = None
        bottoms = None
        if self.plan is not None:
            bottoms = self.plan.bottom_shapes(layer)
            expected = [tuple(s) for s in layer.impl.param_shapes(bottoms)]
        used_rules: list[Rule] = []
        for i, (role, arr) in enumerate(zip(roles, layer.params)):
            src = f"{layer.name}/{role}"
            if expected is not None and tuple(arr.shape) != expected[i]:
                self.problems.append(f"{src}: is {fmt_shape(arr.shape)} but the prototxt "
                                     f"implies {fmt_shape(expected[i])}")
                continue
            rule = self.find(layer, role)
            if rule is None:
                self.unmapped.append(f"{src} ({layer.type})")
                continue
            if rule.note and rule.note not in self.notes:
                self.notes.append(rule.note)
            if rule.drop is not None:
                self.drop(rule, layer, role, arr)
                continue
            if rule not in used_rules:
                used_rules.append(rule)
            try:
                self.param(rule, layer, role, arr, bottoms)
            except (ValueError, _layouts.LayoutError) as exc:
                self.problems.append(f"{src}: {exc}")
        for rule in used_rules + [e for e in self.table.entries
                                  if e.layer == layer.name and not e.roles]:
            self.constants(rule, layer)

    def find(self, layer, role: str) -> Rule | None:
        for i, e in enumerate(self.table.entries):
            if e.layer == layer.name and role in (e.roles or ()):
                self.used_entries.add(i)
                return e
        return next((r for r in self.table.rules if r.matches(layer, role, self.fmt)), None)

    def drop(self, rule: Rule, layer, role: str, arr: np.ndarray) -> None:
        if rule.when is not None and not WHEN[rule.when](arr):
            a = np.asarray(arr)
            self.problems.append(
                f"{layer.name}/{role}: is dropped only when it is all {rule.when}, and it is "
                f"not (min {a.min():.6g}, max {a.max():.6g}); the table says: {rule.drop}")
            return
        self.dropped.append(Dropped(layer.name, role, rule.drop))

    def param(self, rule: Rule, layer, role: str, arr: np.ndarray, bottoms) -> None:
        naming = rule.naming_for(self.fmt)
        spec = naming.params.get(role) if naming.params else None
        key = self.render(rule, naming.key, layer, role, spec.name if spec else role)
        layout = _layouts.get(_layout_name(naming.layout, spec, role))
        ctx = _layouts.LayoutContext(layer, role, bottoms)
        flip = spec.flip if spec is not None and spec.flip is not None else (
            rule.flip and (role == "weight" or rule.layer is not None))
        a = arr
        if flip:
            if self.input_flipped:
                self.flips += 1  # the net's input was flipped already (--rgb)
            else:
                a = _layouts.flip_input_channels(a, ctx)
                self.flips += 1
        want = layout.shape(tuple(arr.shape), ctx)
        a = np.asarray(layout.apply(a, ctx)).astype(np.float32, copy=False)
        if tuple(a.shape) != tuple(want):
            raise ValueError(f"layout {layout.name} gave {fmt_shape(a.shape)}, expected "
                             f"{fmt_shape(want)}")
        if rule.shape is not None and tuple(a.shape) != rule.shape:
            raise ValueError(f"{rule.where} states the target shape {fmt_shape(rule.shape)}, "
                             f"the param is {fmt_shape(a.shape)} in layout {layout.name}")
        self.add(Target(layer.name, role, key, layout.name, a, tuple(arr.shape)))

    def constants(self, rule: Rule, layer) -> None:
        naming = rule.naming_for(self.fmt)
        for name, spec in (naming.params or {}).items():
            if not spec.is_constant:
                continue
            try:
                key = self.render(rule, naming.key, layer, name, spec.name)
            except ValueError as exc:
                self.problems.append(f"{layer.name}/{name}: {exc}")
                continue
            self.add(Target(layer.name, name, key, "const",
                            np.asarray(spec.value, dtype=spec.dtype), None))

    # -- the whole net -------------------------------------------------------------
    def run(self, expect) -> Resolution:
        names = {lay.name for lay in self.net.layers}
        for lay in self.net.layers:
            self.layer(lay)
        if self.unmapped:
            self.problems.append(f"no rule maps {len(self.unmapped)} params: "
                                 + ", ".join(self.unmapped))
        for i, e in enumerate(self.table.entries):
            if e.roles and i not in self.used_entries:
                why = "no such layer" if e.layer not in names else f"no param {e.roles[0]}"
                self.problems.append(f"{e.where}: '{e.layer}/{e.roles[0]}': {why} in the net")
            elif not e.roles and e.layer not in names:
                self.problems.append(f"{e.where}: no layer '{e.layer}' in the net")
        dups = {k: v for k, v in self.produced.items() if len(v) > 1}
        if dups:
            self.problems.append(f"{len(dups)} keys are produced more than once: " + ", ".join(
                f"'{k}' (from {', '.join(v)})" for k, v in dups.items()))
        for (var, value), layers in self.renamed.items():
            if len(layers) > 1:
                rule = ("every character outside [A-Za-z0-9_] becomes '_'"
                        if var == "module" else "'/' becomes '_'")
                self.problems.append(f"layers {', '.join(repr(n) for n in sorted(layers))} "
                                     f"all become {{{var}}} '{value}' ({rule}): rename one")
        if self.table.bgr_to_rgb and not self.flips and not self.problems:
            self.problems.append("the target takes RGB input but no flip rule matched any "
                                 "layer: the table does not fit this net's input layers")
        if self.table.bgr_to_rgb and self.input_flipped and self.flips:
            self.notes.append(f"{self.table.name}: the net's input channels were already "
                              "flipped to RGB; the table's own flips were skipped")
        if expect is not None:
            self.check_expect(expect)
        if self.problems:
            net = self.net.name or "(unnamed)"
            src = f" ({self.net.prototxt_path})" if getattr(self.net, "prototxt_path", None) else ""
            raise MappingError(f"mapping table '{self.table.name}' does not fit net {net}{src}: "
                               + "; ".join(self.problems), problems=self.problems)
        return Resolution(self.targets, self.dropped, self.notes, self.table, self.fmt)

    def check_expect(self, expect: Mapping[str, Iterable[int]]) -> None:
        expect = {k: tuple(int(d) for d in v) for k, v in expect.items()}
        missing = [k for k in expect if k not in self.produced]
        extra = [k for k in self.produced if k not in expect]
        if missing:
            self.problems.append(f"{len(missing)} keys the target expects are not produced: "
                                 + ", ".join(missing))
        if extra:
            self.problems.append(f"{len(extra)} keys the target does not have: "
                                 + ", ".join(extra))
        for t in self.targets:
            want = expect.get(t.key)
            if want is not None and tuple(t.array.shape) != want:
                self.problems.append(f"'{t.key}' (from {t.source}): the target expects "
                                     f"{fmt_shape(want)}, the table gives "
                                     f"{fmt_shape(t.array.shape)}")


def resolve(table: Table, net, fmt: str | None = None, *, input_flipped: bool = False,
            expect: Mapping[str, Iterable[int]] | None = None) -> Resolution:
    """Every target of ``net`` through ``table``, in net order (a :class:`Resolution`,
    which is a list of :class:`Target`). ``fmt``: the naming variant (``formats.<fmt>``
    overrides; default the table's first format). ``input_flipped``: the net's input
    channels were already reversed (``--rgb``), so the table's flips are skipped.
    ``expect``: the target's own key -> shape (e.g. a model's state_dict), checked both
    ways. Raises MappingError listing every problem."""
    fmt = fmt if fmt is not None else (table.formats[0] if table.formats else None)
    return _Resolver(table, net, fmt, input_flipped).run(expect)


def _describe_naming(naming) -> str:
    parts = []
    if naming.key is not None:
        parts.append(f"-> {naming.key.text}")
    if naming.params:
        parts.append("{" + ", ".join(
            f"{r}: {s.name}" + (f" [{s.layout}]" if s.layout else "")
            + (f" = {s.value!r} ({s.dtype})" if s.is_constant else "")
            for r, s in naming.params.items()) + "}")
    if naming.layout:
        lay = naming.layout
        parts.append("layout " + (", ".join(f"{r}: {v}" for r, v in lay.items())
                                  if isinstance(lay, dict) else lay))
    return " ".join(parts)


def describe(table: Table) -> str:
    """The table as text: header, then one line per rule and entry."""
    lines = [f"{table.name}: {table.about}".rstrip(": ")]
    if table.path is not None:
        lines.append(f"  file: {table.path}")
    if table.formats:
        lines.append(f"  formats: {', '.join(table.formats)} (default {table.formats[0]})")
    if table.nets:
        lines.append(f"  nets: {', '.join(table.nets)}")
    lines.append(f"  input: {'RGB (flips BGR -> RGB)' if table.bgr_to_rgb else 'as Caffe (BGR)'}")
    for note in table.notes:
        lines.append(f"  note: {note}")
    for rule in table.rules + table.entries:
        sel = []
        if rule.layer is not None:
            sel.append(f"layer {rule.layer}" + (f" {'/'.join(rule.roles)}" if rule.roles else ""))
        if rule.types:
            sel.append("/".join(rule.types))
        if rule.name is not None:
            sel.append(f"name ~ {rule.name.pattern}")
        if rule.roles and rule.layer is None:
            sel.append("role " + "/".join(rule.roles))
        if rule.hparams:
            sel.append(", ".join(f"{k}={v}" for k, v in rule.hparams.items()))
        what = (f"drop ({rule.drop})" + (f" when all {rule.when}" if rule.when else "")
                if rule.drop is not None else _describe_naming(rule.naming))
        if rule.flip:
            what += " [flip BGR->RGB]"
        lines.append(f"  {rule.where}: {' '.join(sel) or 'any param'} {what}")
        for fmt, over in rule.formats.items():
            lines.append(f"      {fmt}: {_describe_naming(over)}")
    return "\n".join(lines)
