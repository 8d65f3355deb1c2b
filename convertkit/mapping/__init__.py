"""Mapping tables: which key, layout and flip each Caffe param becomes in a target.

Three modules, in the order they depend on each other: :mod:`.model` holds the
table's parts (rules, templates, targets) and knows nothing of files or nets;
:mod:`.read` reads and checks a TOML table and finds the built-in ones;
:mod:`.resolve` applies a table to a net. The names below are the package's face.
"""
from __future__ import annotations

from ..errors import MappingError
from .model import Dropped, Resolution, Rule, Table, Target, layer_key, module_name
from .read import builtin_paths, list_tables, load_table, read_table
from .resolve import describe, resolve

__all__ = ["Dropped", "MappingError", "Resolution", "Rule", "Table", "Target", "builtin_paths",
           "describe", "layer_key", "list_tables", "load_table", "module_name", "read_table",
           "resolve"]
