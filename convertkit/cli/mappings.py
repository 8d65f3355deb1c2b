"""``convertkit mappings``: the mapping tables that name converted params."""
from __future__ import annotations

import json

import click

from .options import json_option


@click.group("mappings")
def command() -> None:
    """Mapping tables: for every Caffe param, its key, role and layout in a target.

    Built-in tables live in the package's mappings/ folder; pass your own with
    --mapping FILE (the format is described in mappings/README.md).
    """


@command.command("list")
@json_option("Print a JSON list of {name, about}.")
def list_tables(as_json: bool) -> None:
    """The built-in tables."""
    from ..mapping import list_tables as tables

    rows = [{"name": n, "about": a} for n, a in tables()]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        click.echo(f"{r['name']:<{width}}  {r['about']}")


@command.command("show")
@click.argument("name")
@json_option("Print the table as JSON: name, about, formats, passes and its rules.")
def show(name: str, as_json: bool) -> None:
    """What table NAME (or a .toml file) maps: its rules, drops and notes."""
    from ..mapping import describe, load_table

    table = load_table(name)
    if as_json:
        click.echo(json.dumps({
            "name": table.name, "about": table.about, "path": str(table.path),
            "formats": list(table.formats), "bgr_to_rgb": table.bgr_to_rgb,
            "passes": list(table.passes), "nets": list(table.nets), "notes": list(table.notes),
            "description": describe(table)}, indent=1))
        return
    click.echo(describe(table))
