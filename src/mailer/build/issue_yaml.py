"""Read an issue file's YAML keeping positions, and report errors at them.

This module owns the file:line:column half of loading an issue: reading the
file as UTF-8, composing the YAML into nodes and building plain data while
remembering each value's (line, column) in :data:`Marks`. Turning a
:class:`mailer.validate.ValidationError` into one :class:`IssueError` at those
marks is :mod:`mailer.build.yaml_errors`.

It also bounds what a hostile file can cost: a file over :data:`MAX_FILE_BYTES` is
refused before it is read, and :func:`check_nodes` refuses a document with more
than :data:`MAX_ALIASES` alias uses or more than :data:`MAX_VALUES` values once
aliases are expanded (a "billion laughs" file fails in milliseconds); translation
files go through the same two checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import IssueError

# -- limits ----------------------------------------------------------------------------------
#: an issue or translation file larger than this is refused (a real issue is a few KB)
MAX_FILE_BYTES = 1024 * 1024
#: alias uses (``*name``) allowed in one file; an issue rarely needs any
MAX_ALIASES = 100
#: values (mappings, lists, scalars) in one file once aliases are expanded
MAX_VALUES = 200_000
#: mappings and lists inside each other (an issue needs about 6)
MAX_DEPTH = 40


def check_size(path: Path) -> None:
    """IssueError when the file at *path* is over :data:`MAX_FILE_BYTES` (not read)."""
    try:
        size = path.stat().st_size
    except OSError:
        return  # reading it reports the problem
    if size > MAX_FILE_BYTES:
        raise IssueError(
            f"the file is {size / 1024 / 1024:.1f} MB; the limit is "
            f"{MAX_FILE_BYTES // 1024 // 1024} MB",
            location=str(path),
            hint="an issue is texts and links (images are separate files in issues/assets/); "
            "split it into several issues.",
        )


def check_nodes(path: Path, node: yaml.Node) -> None:
    """IssueError when *node*'s document uses more than :data:`MAX_ALIASES` aliases,
    expands to more than :data:`MAX_VALUES` values or nests deeper than :data:`MAX_DEPTH`.
    Stops at the first excess, so a document built to explode costs at most that many
    steps."""
    seen: set[int] = set()
    aliases = values = 0
    stack: list[tuple[yaml.Node, int, bool]] = [(node, 0, False)]
    while stack:
        current, depth, repeated = stack.pop()
        values += 1
        if depth > MAX_DEPTH:
            mark = current.start_mark
            raise IssueError(
                f"values are nested more than {MAX_DEPTH} levels deep",
                location=f"{path}:{mark.line + 1}:{mark.column + 1}",
                hint="check the indentation and the brackets: an issue needs a few levels.",
            )
        if id(current) in seen and not repeated:  # an alias; what it holds is counted once
            repeated = True
            aliases += 1
            if aliases > MAX_ALIASES:
                mark = current.start_mark
                raise IssueError(
                    f"more than {MAX_ALIASES} YAML aliases (*name); the value at line "
                    f"{mark.line + 1} is repeated again and again",
                    location=f"{path}:{mark.line + 1}:{mark.column + 1}",
                    hint="write the values out instead of repeating anchors (&name / *name).",
                )
        else:
            seen.add(id(current))
        if values > MAX_VALUES:
            mark = current.start_mark
            raise IssueError(
                f"the file holds more than {MAX_VALUES} values (counting repeated anchors)",
                location=f"{path}:{mark.line + 1}:{mark.column + 1}",
                hint="an issue has at most a few hundred blocks; remove repeated anchors "
                "(*name) or split the issue.",
            )
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack.extend(((key, depth + 1, repeated), (value, depth + 1, repeated)))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, depth + 1, repeated) for item in current.value)


# -- YAML with positions ---------------------------------------------------------------------
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Marks = dict[tuple[Any, ...], tuple[int, int]]
_STR_TAG = "tag:yaml.org,2002:str"
#: marks of a mapping key are stored under (*path, key, KEY)
KEY = "<key>"


class _Builder:
    """Turns a node tree into plain data, remembering each value's (line, column)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.marks: Marks = {}
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, where: tuple[Any, ...] = ()) -> Any:
        self.marks[where] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self._constructor.construct_object(key_node)
                if not isinstance(key, str | int | float | bool) or isinstance(key, bool):
                    key = str(key)
                key = str(key)
                if key in out:
                    line = key_node.start_mark.line + 1
                    raise IssueError(
                        f"the key {key!r} appears twice in the same mapping",
                        location=f"{self.path}:{line}:{key_node.start_mark.column + 1}",
                        hint="keep one of them; YAML keys must be unique.",
                    )
                km = key_node.start_mark
                self.marks[(*where, key, KEY)] = (km.line + 1, km.column + 1)
                out[key] = self.build(value_node, (*where, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*where, i)) for i, item in enumerate(node.value)]
        if node.tag == _STR_TAG:
            return node.value  # most scalars: no constructor needed
        try:
            return self._constructor.construct_object(node)
        except ValueError as exc:
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
            raise IssueError(
                f"{node.value!r} is not a valid value here: {exc}",
                location=f"{self.path}:{line}:{col}",
                hint="write dates as YYYY-MM-DD with a real day (e.g. 2018-03-31); quote texts "
                "that look like dates or numbers.",
            ) from None


def read_text(path: Path) -> str:
    """The issue file's text (UTF-8, BOM dropped); IssueError if unreadable, empty or
    over :data:`MAX_FILE_BYTES`."""
    check_size(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IssueError(
            f"cannot read the issue file: {exc.strerror}",
            location=str(path),
            hint="check the path; issue files live in issues/ (e.g. issues/2018-03.yaml).",
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise IssueError(
            f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            location=f"{path}:{line}",
            hint="save the file as UTF-8 (most editors: File → Save with encoding → UTF-8).",
        ) from None
    if not text.strip():
        raise IssueError(
            "the issue file is empty",
            location=f"{path}:1",
            hint="start with `subject: ...` and a `blocks:` list; `mailer init` writes an example.",
        )
    return text.removeprefix("\ufeff")


#: texts composed lately → (data, marks): a build of three languages reads the issue three
#: times and a preview rebuilds unchanged files; the key is the whole text, so an edit misses
_COMPOSED: dict[str, tuple[dict[str, Any], Marks]] = {}
_COMPOSED_MAX = 16


def _copy(value: Any) -> Any:
    """*value* with every mapping and list copied (scalars are immutable: shared, and not
    passed through a call each)."""
    if type(value) is dict:
        return {k: _copy(v) if type(v) in _CONTAINERS else v for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) if type(v) in _CONTAINERS else v for v in value]
    return value


_CONTAINERS = frozenset({dict, list})


def compose(path: Path, text: str) -> tuple[dict[str, Any], Marks]:
    """The top-level mapping of *text* as plain data, and the marks of its values.

    The caller owns what it gets (a fresh copy: callers add ids and defaults). A text
    composed lately is not parsed again; errors are never cached."""
    found = _COMPOSED.get(text)
    if found is not None:
        return _copy(found[0]), dict(found[1])
    data, marks = _compose(path, text)
    if len(_COMPOSED) >= _COMPOSED_MAX:
        del _COMPOSED[next(iter(_COMPOSED))]
    _COMPOSED[text] = (_copy(data), dict(marks))
    return data, marks


def _compose(path: Path, text: str) -> tuple[dict[str, Any], Marks]:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        context = ""
        if exc.context and exc.context_mark:
            c = exc.context_mark
            context = f" ({exc.context} that starts at line {c.line + 1}, column {c.column + 1})"
        raise IssueError(
            f"not valid YAML: {exc.problem or exc.context}{context}",
            location=where,
            hint="check the indentation and put quotes around texts that contain ': ' or start "
            "with a quote, '*', '&', '[' or '{'.",
        ) from None
    except yaml.YAMLError as exc:
        raise IssueError(f"not valid YAML: {exc}", location=str(path)) from None
    if not isinstance(node, yaml.MappingNode):
        line = node.start_mark.line + 1 if node is not None else 1
        raise IssueError(
            "an issue file holds a mapping of fields, not a single value or a list",
            location=f"{path}:{line}",
            hint="start with `subject: ...` and a `blocks:` list.",
        )
    check_nodes(path, node)
    builder = _Builder(path)
    try:
        data = builder.build(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise IssueError(f"not valid YAML: {exc.problem}", location=where) from None
    return data, builder.marks
