"""Reading mapping tables: TOML text -> a checked :class:`~convertkit.mapping.Table`,
and finding the built-in ones by name.

Everything a table says is checked here, before any net is seen: unknown sections and
fields, layouts, roles, regexes, template fields, lookups, format overrides, drop
reasons. Each error names the file and the line of the offending ``[[rule]]``,
``[[entry]]`` or ``[params.*]`` header (TOML syntax errors: tomllib's line and
column).
"""
from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from .. import layouts as _layouts
from ..errors import MappingError
from ..layers.base import ROLES
from ..resources import mappings_dir
from .model import (BUILTIN_FIELDS, CONST_DTYPES, WHEN, Naming, ParamSpec, Rule, Table,
                    Template)

#: Graph passes a table may ask for (run on the net before it is resolved).
TABLE_PASSES = ("fold_input_scale",)

_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")

#: The TOML type each field must have (a user's table is checked before it is used).
FIELD_TYPES = {
    "name": str, "about": str, "formats": (list, dict), "bgr_to_rgb": bool, "nets": list,
    "passes": list,
    "notes": list, "type": (str, list), "role": (str, list), "hparams": dict, "key": str,
    "params": (dict, str), "layout": (str, dict), "flip": bool, "drop": str, "when": str,
    "lookup": dict, "note": str, "layer": str, "shape": list, "value": (int, float, bool),
    "dtype": str,
}
_TYPE_WORDS = {str: "a string", list: "an array", dict: "a table", bool: "true or false",
               int: "a number", float: "a number"}


class _Reader:
    """Turns a parsed TOML document into a Table, naming file and line on errors."""

    RULE_KEYS = {"type", "name", "role", "hparams", "key", "params", "layout", "flip",
                 "drop", "when", "lookup", "note", "formats"}
    ENTRY_KEYS = {"layer", "role", "key", "layout", "flip", "drop", "when", "note",
                  "shape", "value", "dtype", "formats"}
    SPEC_KEYS = {"name", "layout", "flip", "value", "dtype"}

    def __init__(self, path: Path, text: str):
        self.path, self.text = path, text
        self.lines = text.splitlines()

    def fail(self, msg: str, line: int | None = None) -> MappingError:
        where = f"{self.path}:{line}" if line else str(self.path)
        return MappingError(msg, path=where)

    def header_line(self, pattern: str, index: int) -> int | None:
        """Line (1-based) of the index-th header matching ``pattern``."""
        rx = re.compile(pattern)
        hits = [i + 1 for i, ln in enumerate(self.lines) if rx.match(ln)]
        return hits[index] if index < len(hits) else None

    def check_types(self, raw: dict, where: str, line: int | None) -> None:
        """Every field of ``raw`` has its TOML type (FIELD_TYPES)."""
        for name, value in raw.items():
            want = FIELD_TYPES.get(name)
            if want is None or isinstance(value, want):
                continue
            words = " or ".join(dict.fromkeys(_TYPE_WORDS[t] for t in
                                              (want if isinstance(want, tuple) else (want,))))
            raise self.fail(f"{where}: {name} must be {words}, not {value!r}", line)

    def read(self, doc: dict) -> "Table":
        unknown = set(doc) - {"table", "params", "rule", "entry"}
        if unknown:
            raise self.fail(f"unknown top-level section(s): {', '.join(sorted(unknown))}; "
                            "a table has [table], [params.*], [[rule]] and [[entry]]")
        head = doc.get("table", {})
        for section, kind in (("table", dict), ("params", dict), ("rule", list), ("entry", list)):
            if section in doc and not isinstance(doc[section], kind):
                raise self.fail(f"'{section}' must be written as "
                                + ("[[" + section + "]]" if kind is list else f"[{section}]"))
        self.check_types(head, "[table]", self.header_line(r"\s*\[table\]", 0))
        if not isinstance(head.get("formats", []), list):
            raise self.fail("[table]: formats must be an array of format names",
                            self.header_line(r"\s*\[table\]", 0))
        extra = set(head) - {"name", "about", "formats", "bgr_to_rgb", "nets", "notes", "passes"}
        if extra:
            raise self.fail(f"[table]: unknown field(s) {', '.join(sorted(extra))}",
                            self.header_line(r"\s*\[table\]", 0))
        passes = tuple(head.get("passes", ()))
        unknown = [p for p in passes if p not in TABLE_PASSES]
        if unknown:
            raise self.fail(f"[table]: unknown pass(es) {', '.join(map(str, unknown))}; "
                            f"known: {', '.join(TABLE_PASSES)}", self.header_line(r"\s*\[table\]", 0))
        formats = tuple(head.get("formats", ()))
        shared = {}
        for pname, spec in doc.get("params", {}).items():
            line = self.header_line(r"\s*\[params\." + re.escape(pname) + r"\]", 0)
            shared[pname] = self.param_map(spec, f"[params.{pname}]", line)
        rules = [self.rule(r, i, shared, formats) for i, r in enumerate(doc.get("rule", []))]
        entries = [self.entry(e, i, shared, formats) for i, e in enumerate(doc.get("entry", []))]
        bgr = head.get("bgr_to_rgb", False)
        if not bgr and any(r.flip or _any_flip(r) for r in rules + entries):
            raise self.fail("flip rules need `bgr_to_rgb = true` in [table]: they make "
                            "the target take RGB input")
        return Table(name=str(head.get("name") or self.path.stem), about=head.get("about", ""),
                     path=self.path, formats=formats, bgr_to_rgb=bool(bgr),
                     nets=tuple(head.get("nets", ())), notes=tuple(head.get("notes", ())),
                     rules=rules, entries=entries, passes=passes)

    def param_map(self, raw: Any, where: str, line: int | None) -> dict[str, ParamSpec]:
        if not isinstance(raw, dict):
            raise self.fail(f"{where}: params must be a table of role = name", line)
        out = {}
        for role, spec in raw.items():
            if isinstance(spec, str):
                spec = {"name": spec}
            if not isinstance(spec, dict):
                raise self.fail(f"{where}: {role}: give a name or a table", line)
            bad = set(spec) - self.SPEC_KEYS
            if bad:
                raise self.fail(f"{where}: {role}: unknown field(s) {', '.join(sorted(bad))}",
                                line)
            self.check_types(spec, f"{where}: {role}", line)
            if "value" in spec:
                dtype = spec.get("dtype", "float32")
                if dtype not in CONST_DTYPES:
                    raise self.fail(f"{where}: {role}: dtype must be one of "
                                    f"{', '.join(CONST_DTYPES)}", line)
            elif role not in ROLES:
                raise self.fail(f"{where}: '{role}' is not a param role (roles: "
                                f"{', '.join(ROLES)}); a constant needs a value", line)
            layout = spec.get("layout")
            self.check_layout(layout, f"{where}: {role}", line)
            out[role] = ParamSpec(name=str(spec.get("name", role)), layout=layout,
                                  flip=spec.get("flip"), value=spec.get("value"),
                                  dtype=spec.get("dtype", "float32") if "value" in spec else None)
        return out

    def check_layout(self, layout: Any, where: str, line: int | None) -> None:
        if layout is None:
            return
        values = layout.values() if isinstance(layout, dict) else [layout]
        for v in values:
            if v not in _layouts.LAYOUTS:
                raise self.fail(f"{where}: unknown layout {v!r}; known: "
                                f"{', '.join(_layouts.names())}", line)
        if isinstance(layout, dict):
            bad = [r for r in layout if r not in ROLES]
            if bad:
                raise self.fail(f"{where}: layout for unknown role(s) {', '.join(bad)}", line)

    def naming(self, raw: dict, where: str, line: int | None, shared: dict) -> Naming:
        key = raw.get("key")
        try:
            template = Template.parse(key) if key is not None else None
        except ValueError as exc:
            raise self.fail(f"{where}: {exc}", line) from None
        params = raw.get("params")
        if isinstance(params, str):
            if params not in shared:
                raise self.fail(f"{where}: no [params.{params}] section (have: "
                                f"{', '.join(shared) or 'none'})", line)
            params = shared[params]
        elif params is not None:
            params = self.param_map(params, where, line)
        self.check_layout(raw.get("layout"), where, line)
        return Naming(template, params, raw.get("layout"))

    def common(self, raw: dict, rule: Rule, shared: dict, formats: tuple) -> Rule:
        where, line = rule.where, rule.line
        rule.naming = self.naming(raw, where, line, shared)
        if not isinstance(raw.get("formats", {}), dict):
            raise self.fail(f"{where}: formats must be a table (formats.<fmt>.key = ...)", line)
        for fmt, over in raw.get("formats", {}).items():
            if not isinstance(over, dict):
                raise self.fail(f"{where}: formats.{fmt} must be a table", line)
            self.check_types(over, f"{where}: formats.{fmt}", line)
            if formats and fmt not in formats:
                raise self.fail(f"{where}: format '{fmt}' is not in [table] formats "
                                f"({', '.join(formats)})", line)
            bad = set(over) - {"key", "params", "layout"}
            if bad:
                raise self.fail(f"{where}: formats.{fmt}: only key, params and layout can "
                                f"differ, not {', '.join(sorted(bad))}", line)
            rule.formats[fmt] = self.naming(over, f"{where}: formats.{fmt}", line, shared)
        rule.flip = bool(raw.get("flip", False))
        rule.drop = raw.get("drop")
        rule.when = raw.get("when")
        rule.note = raw.get("note")
        if rule.drop is not None and (not isinstance(rule.drop, str) or not rule.drop.strip()):
            raise self.fail(f"{where}: drop needs a reason (a sentence saying why the "
                            "param is not needed)", line)
        if rule.when is not None:
            if rule.drop is None:
                raise self.fail(f"{where}: `when` goes with `drop`", line)
            if rule.when not in WHEN:
                raise self.fail(f"{where}: when must be one of {', '.join(WHEN)}", line)
        if rule.drop is None and rule.naming.key is None:
            raise self.fail(f"{where}: give a key template (or drop = \"reason\")", line)
        if rule.drop is not None and (rule.naming.key is not None or rule.formats):
            raise self.fail(f"{where}: a dropped param has no key", line)
        groups = set(rule.name.groupindex) if rule.name is not None else set()
        for naming in [rule.naming, *rule.formats.values()]:
            if naming.key is None:
                continue
            for f in naming.key.fields:
                if f not in BUILTIN_FIELDS and f not in groups:
                    raise self.fail(f"{where}: key template field {{{f}}} is neither built "
                                    f"in ({', '.join(BUILTIN_FIELDS)}) nor a named group of "
                                    "the name regex", line)
        return rule

    def open_table(self, kind: str, raw: dict, i: int, keys) -> tuple[str, int]:
        """The ``i``-th ``[[kind]]`` table: where it is, and its fields checked."""
        line = self.header_line(rf"\s*\[\[\s*{kind}\s*\]\]", i)
        where = f"{kind} {i + 1}"
        bad = set(raw) - keys
        if bad:
            raise self.fail(f"{where}: unknown field(s) {', '.join(sorted(bad))} ({kind} "
                            f"fields: {', '.join(sorted(keys))})", line)
        self.check_types(raw, where, line)
        return where, line

    def rule(self, raw: dict, i: int, shared: dict, formats: tuple) -> Rule:
        where, line = self.open_table("rule", raw, i, self.RULE_KEYS)
        rule = Rule(where=where, line=line)
        if "type" in raw:
            rule.types = tuple(_str_list(raw["type"]))
        if "name" in raw:
            try:
                rule.name = re.compile(raw["name"])
            except re.error as exc:
                raise self.fail(f"{where}: bad name regex {raw['name']!r}: {exc}", line) \
                    from None
        if "role" in raw:
            rule.roles = tuple(_str_list(raw["role"]))
            bad = [r for r in rule.roles if r not in ROLES]
            if bad:
                raise self.fail(f"{where}: unknown role(s) {', '.join(bad)}", line)
        rule.hparams = dict(raw.get("hparams", {}))
        lookup = raw.get("lookup", {})
        groups = set(rule.name.groupindex) if rule.name is not None else set()
        for g, table in lookup.items():
            if not isinstance(table, dict):
                raise self.fail(f"{where}: lookup.{g} must be a table of value = text", line)
            if g not in groups:
                raise self.fail(f"{where}: lookup.{g}: the name regex has no group '{g}'", line)
            rule.lookup[g] = {str(k): str(v) for k, v in table.items()}
        return self.common(raw, rule, shared, formats)

    def entry(self, raw: dict, i: int, shared: dict, formats: tuple) -> Rule:
        where, line = self.open_table("entry", raw, i, self.ENTRY_KEYS)
        if "layer" not in raw:
            raise self.fail(f"{where}: needs layer = \"<Caffe layer name>\"", line)
        rule = Rule(where=where, line=line, layer=str(raw["layer"]))
        if "value" in raw:
            # A constant under this layer: a one-entry param map named by its role.
            name = str(raw.get("role", "value"))
            raw = dict(raw)
            spec = {"value": raw.pop("value"), "dtype": raw.pop("dtype", "float32")}
            raw["params"] = {name: spec}
            raw.pop("role", None)
            rule.roles = ()
        else:
            if raw.get("role") not in ROLES:
                raise self.fail(f"{where}: role must be one of {', '.join(ROLES)}", line)
            rule.roles = (raw["role"],)
        if "shape" in raw:
            if not all(isinstance(d, int) and d >= 0 for d in raw["shape"]):
                raise self.fail(f"{where}: shape must be an array of sizes, e.g. [3, 3, 3, 64]",
                                line)
            rule.shape = tuple(raw["shape"])
        return self.common(raw, rule, shared, formats)


def _str_list(v: Any) -> list[str]:
    return [v] if isinstance(v, str) else [str(x) for x in v]


def _any_flip(rule: Rule) -> bool:
    namings = [rule.naming, *rule.formats.values()]
    return any(s.flip for n in namings if n.params for s in n.params.values())


def read_table(path: str | os.PathLike) -> "Table":
    """Read and check one table file; errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError("mapping table file not found", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read the mapping table: {exc}", path=str(path)) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_POS.search(msg)
        where = f"{path}:{m.group(1)}:{m.group(2)}" if m else str(path)
        raise MappingError(f"TOML syntax error: {_TOML_POS.sub('', msg)}", path=where) from None
    return _Reader(path, text).read(doc)


def builtin_paths() -> dict[str, Path]:
    """Built-in table name -> file (``mappings/*.toml``)."""
    folder = mappings_dir()
    return {p.stem: p for p in sorted(folder.glob("*.toml"))} if folder.is_dir() else {}


def list_tables() -> list[tuple[str, str]]:
    """(name, about) of every built-in table, by name."""
    return [(name, read_table(p).about) for name, p in builtin_paths().items()]


def load_table(name_or_path: str | os.PathLike) -> Table:
    """A built-in table by name, or a user's table file (a path, or a name ending in
    ``.toml``). An unknown name lists the available ones."""
    text = os.fspath(name_or_path)
    builtin = builtin_paths()
    if text in builtin:
        return read_table(builtin[text])
    if text.endswith(".toml") or os.sep in text or "/" in text or Path(text).is_file():
        return read_table(text)
    raise MappingError(f"unknown mapping table '{text}'; available: "
                       f"{', '.join(builtin) or 'none'} (or give a .toml file)")
