"""An issue's validation errors, told at the file:line:column of the YAML.

:func:`validation_error` turns a :class:`mailer.validate.ValidationError` into one
:class:`IssueError` that names the file, line, column and field path, with a
did-you-mean for a misspelled key or block type, from the value marks
:mod:`mailer.build.issue_yaml` keeps while reading the file.

It knows nothing of the issue's models: :mod:`mailer.issue` owns them and
passes a :class:`Schema` describing where each model sits in the data.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import IssueError
from ..validate import Model, ValidationError
from .issue_yaml import KEY, Marks


@dataclass(frozen=True)
class Schema:
    """Where the issue's models sit, for field paths and did-you-mean suggestions.

    ``root`` is the issue model (whose ``blocks`` list holds the blocks),
    ``blocks`` maps a block ``type`` to its model, ``items`` a block type to
    the model of its ``items``, ``nested`` a field name (``image``) to the
    model of its mapping; ``hidden`` fields are never suggested.
    """

    root: type[Model]
    blocks: Mapping[str, type[Model]]
    items: Mapping[str, type[Model]]
    nested: Mapping[str, type[Model]]
    hidden: frozenset[str] = frozenset()


def _describe_path(data: Any, loc: tuple[Any, ...], schema: Schema) -> tuple[str, tuple[Any, ...]]:
    """The readable field path of *loc* and the part of it that exists in *data*."""
    parts: list[str] = []
    found: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            found.append(part)
            parts.append(f".{part}" if parts else str(part))
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            found.append(part)
            label = ""
            if isinstance(node, dict) and "type" in node:
                label = f" ({node['type']} {node.get('id')!r})"
            parts.append(f"[{part}]{label}")
        elif isinstance(part, str) and isinstance(node, dict) and part in schema.blocks:
            continue  # the discriminator's tag in the error's location
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts) or "(top level)", tuple(found)


def _known_keys(data: Any, found: tuple[Any, ...], schema: Schema) -> list[str]:
    """Field names allowed in the mapping at *found* (for did-you-mean)."""
    node: Any = data
    model: Any = schema.root
    block_type = ""
    for part in found:
        node = node[part] if isinstance(node, dict | list) else None
        if isinstance(part, int):
            if model is schema.root:
                block_type = str(node.get("type")) if isinstance(node, dict) else ""
                model = schema.blocks.get(block_type)
            elif model == "items":
                model = schema.items.get(block_type)
            continue
        if model is None:
            return []
        if part == "blocks":
            model = schema.root
        elif part == "items":
            model = "items"
        else:
            model = schema.nested.get(part)
    if not (isinstance(model, type) and issubclass(model, Model)):
        return []
    return [k for k in model.model_fields if k not in schema.hidden]


def validation_error(
    path: Path, data: dict[str, Any], marks: Marks, exc: ValidationError, schema: Schema
) -> IssueError:
    """The first problem in *exc* as an IssueError at its file:line:column, with a fix."""

    # a misspelled key shows up twice (unknown key + missing field): name the spelling first
    def order(error: Any) -> tuple[bool, tuple[int, int]]:
        found = _describe_path(data, tuple(error["loc"]), schema)[1]
        return error["type"] != "extra_forbidden", marks.get(found, (0, 0))

    errors = sorted(exc.errors(), key=order)
    first = errors[0]
    loc = tuple(first["loc"])
    where, found = _describe_path(data, loc, schema)
    kind = first["type"]
    line, col = marks.get(found, marks.get((), (1, 1)))
    if kind == "extra_forbidden":
        line, col = marks.get((*found, KEY), (line, col))
    hint = None
    if kind == "extra_forbidden":
        key = str(loc[-1])
        known = _known_keys(data, found[:-1], schema)
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        message = f"{where}: unknown field {key!r}"
        if close:
            hint = f"did you mean {close[0]!r}?"
        elif known:
            hint = f"allowed here: {', '.join(known)}."
    elif kind == "missing":
        message = f"{where}: this required field is missing"
        hint = f"add `{loc[-1]}: ...` here."
        if loc[-1] == "alt":
            hint = 'add `alt: ...` saying what the picture shows, or `alt: ""` if it is decorative.'

    elif kind in {"union_tag_invalid", "union_tag_not_found"}:
        got = first.get("ctx", {}).get("tag", "")
        choices = sorted(schema.blocks)
        close = difflib.get_close_matches(str(got), choices, n=1)
        message = (
            f"{where}: unknown block type {got!r}" if got else f"{where}: a block needs a `type`"
        )
        hint = (
            f"did you mean {close[0]!r}? " if close else ""
        ) + f"block types: {', '.join(choices)}."
    else:
        msg = str(first["msg"]).removeprefix("Value error, ")
        got = first.get("input")
        shown = (
            f" (got {got!r})"
            if not isinstance(got, dict | list) and got is not None and "got" not in msg
            else ""
        )
        message = f"{where}: {msg}{shown}"
        hint = _hint_for(kind)
    more = len(errors) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''}; fix this one first)"
    return IssueError(message, hint=hint, location=f"{path}:{line}:{col}")


def _hint_for(kind: str) -> str | None:
    return {
        "string_type": "write a text; put it in quotes if it looks like a number or a date.",
        "bool_parsing": "write true or false.",
        "bool_type": "write true or false.",
        "int_parsing": "write a whole number, e.g. 600.",
        "date_from_datetime_parsing": "write a date as YYYY-MM-DD, e.g. 2018-03-31.",
        "date_parsing": "write a date as YYYY-MM-DD, e.g. 2018-03-31.",
        "list_type": "write a list: each entry on its own line starting with '- '.",
        "model_type": "write a mapping of fields (key: value lines, indented).",
        "model_attributes_type": "write a mapping of fields (key: value lines, indented).",
        "too_short": "add at least one entry.",
        "string_too_short": "write a text here; it cannot be empty.",
        "too_long": "split the issue into several issues (each list has a limit).",
    }.get(kind)
