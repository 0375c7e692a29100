"""Block types a theme declares: ``blocks/<type>.yaml`` beside its templates.

A templates folder (the project's ``templates/``, or ``templates = "..."`` in
mailer.toml) adds a block type with three files and no change to mailer::

    templates/blocks/quote_card.yaml       # the fields the issue may set
    templates/blocks/quote_card.mjml.j2    # the HTML part (MJML)
    templates/blocks/quote_card.txt.j2     # the text part

The declaration lists the fields, each with a type (``string``, ``markdown``, ``url``,
``image``, ``list`` of texts) and whether it is ``required``::

    description: A quotation on a tinted card
    fields:
      text: {type: markdown, required: true}
      author: {type: string, required: true}
      portrait: image                        # short form: optional
      url: url

This module reads the declarations (:func:`find_theme_blocks`) and makes one
:mod:`mailer.validate` model per type (:class:`ThemeBlock` subclasses), so
:mod:`mailer.build.issue` validates an issue's theme blocks like built-in ones:
file:line:column, field path, did-you-mean.
A declaration that is itself wrong is an :class:`IssueError` at its own file:line.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import IssueError
from ..validate import Field, make_model
from .fields import Image, Strict, Url
from .issue_yaml import KEY, compose, read_text

#: what a declared field may hold
FIELD_TYPES = ("string", "markdown", "url", "image", "list")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: the most fields one theme block may declare
MAX_FIELDS = 30


class ThemeBlock(Strict):
    """The base of every theme-declared block: its ``id`` (and ``type``, set per model)."""

    id: str


@dataclass(frozen=True)
class FieldSpec:
    """One declared field: name, type (one of :data:`FIELD_TYPES`), required or not."""

    name: str
    kind: str
    required: bool


@dataclass(frozen=True)
class Declaration:
    """A theme block type: its name, fields, and the file that declares it."""

    type: str
    fields: tuple[FieldSpec, ...]
    path: Path
    description: str = ""


def _fail(
    path: Path, marks: dict[Any, tuple[int, int]], where: tuple[Any, ...], message: str, hint: str
) -> IssueError:
    line, col = marks.get(where, marks.get((), (1, 1)))
    return IssueError(message, location=f"{path}:{line}:{col}", hint=hint)


def read_declaration(path: Path, builtin: Iterable[str] = ()) -> Declaration:
    """The declaration in *path* (``blocks/<type>.yaml``); IssueError at its line when wrong."""
    block_type = path.name.removesuffix(".yaml")
    if not _NAME_RE.match(block_type):
        raise IssueError(
            f"{block_type!r} is not a usable block type name",
            location=str(path),
            hint="name the file with lowercase letters, digits and _ (e.g. quote_card.yaml).",
        )
    if block_type in set(builtin):
        raise IssueError(
            f"the theme declares {block_type!r}, which is one of mailer's own block types",
            location=str(path),
            hint="pick another name; to restyle a built-in block, only copy its template.",
        )
    data, marks = compose(path, read_text(path))
    for key in data:
        if key not in {"description", "fields"}:
            raise _fail(
                path,
                marks,
                (key, KEY),
                f"unknown key {key!r} in a block declaration",
                "a declaration has `description:` and `fields:`.",
            )
    fields = data.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise _fail(
            path,
            marks,
            ("fields",),
            "a block declaration needs a `fields:` mapping",
            "list the fields, e.g. `fields: {text: {type: markdown, required: true}}`.",
        )
    if len(fields) > MAX_FIELDS:
        raise _fail(
            path,
            marks,
            ("fields",),
            f"more than {MAX_FIELDS} fields",
            "split the block into two block types.",
        )
    specs = []
    for name, spec in fields.items():
        where = ("fields", name)
        if not _NAME_RE.match(name) or name in {"id", "type"}:
            raise _fail(
                path,
                marks,
                (*where, KEY),
                f"{name!r} cannot be a field name",
                "use lowercase letters, digits and _; `id` and `type` are reserved.",
            )
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, dict) or set(spec) - {"type", "required"}:
            raise _fail(
                path,
                marks,
                where,
                f"field {name!r}: expected `{{type: ..., required: ...}}`",
                f"e.g. `{name}: {{type: string, required: true}}` or `{name}: string`.",
            )
        kind = spec.get("type")
        if kind not in FIELD_TYPES:
            raise _fail(
                path,
                marks,
                (*where, "type") if "type" in spec else where,
                f"field {name!r}: unknown type {kind!r}",
                f"field types: {', '.join(FIELD_TYPES)}.",
            )
        required = spec.get("required", False)
        if not isinstance(required, bool):
            raise _fail(
                path,
                marks,
                (*where, "required"),
                f"field {name!r}: required is not true/false",
                "write `required: true` or leave it out (optional).",
            )
        specs.append(FieldSpec(name, kind, required))
    description = str(data.get("description") or "")
    return Declaration(block_type, tuple(specs), path, description)


def _declarations(folder: Path) -> list[Path]:
    """``sorted(folder.glob("*.yaml"))`` (hidden files too, as pathlib's) from one listing:
    a build asks once per language, and pathlib's glob costs some 40 µs a folder."""
    try:
        names = os.listdir(folder)
    except OSError:  # no such folder (or not one): nothing declared there
        return []
    return [folder / name for name in sorted(names) if name.endswith(".yaml")]


def find_theme_blocks(
    dirs: Iterable[str | Path], builtin: Iterable[str] = ()
) -> tuple[Declaration, ...]:
    """The block types declared in ``blocks/*.yaml`` of *dirs* (first folder wins per type)."""
    builtin = tuple(builtin)
    found: dict[str, Declaration] = {}
    for folder in dirs:
        for path in _declarations(Path(folder, "blocks")):
            name = path.name.removesuffix(".yaml")
            if name not in found:
                found[name] = read_declaration(path, builtin)
    for declaration in found.values():
        for suffix in (".mjml.j2", ".txt.j2"):
            if not any(Path(d, "blocks", declaration.type + suffix).is_file() for d in dirs):
                raise IssueError(
                    f"the theme declares the block {declaration.type!r} but has no "
                    f"blocks/{declaration.type}{suffix}",
                    location=str(declaration.path),
                    hint=f"write blocks/{declaration.type}{suffix} beside the declaration.",
                )
    return tuple(found[k] for k in sorted(found))


def _annotation(spec: FieldSpec) -> tuple[Any, Any]:
    if spec.kind in {"string", "markdown"}:
        return str, (Field(min_length=1) if spec.required else "")
    if spec.kind == "url":
        return (Url, ...) if spec.required else (Url | None, None)
    if spec.kind == "image":
        return (Image, ...) if spec.required else (Image | None, None)
    items = list[str]
    return items, (
        Field(min_length=1, max_length=100) if spec.required else Field(default=[], max_length=100)
    )


@functools.lru_cache(maxsize=64)
def block_model(declaration: Declaration) -> type[ThemeBlock]:
    """The model of a declared block type (made once per declaration)."""
    fields: dict[str, Any] = {"type": (Literal[declaration.type], ...)}  # type: ignore[valid-type]
    for spec in declaration.fields:
        fields[spec.name] = _annotation(spec)
    name = "".join(part.title() for part in declaration.type.split("_")) + "Block"
    model: type[ThemeBlock] = make_model(name, ThemeBlock, fields)
    return model
