"""A translation file (``<stem>.<lang>.yaml`` beside the issue): where it lives, what it
may hold, how it is read and merged over the issue's data.

:func:`translation_path`, :func:`is_translation_file` and :func:`issue_languages` find
the files; :data:`TEXT_KEYS`, :data:`OVERRIDABLE_KEYS` and :data:`FIXED_KEYS` say which
fields a translation translates, may change or must repeat unchanged;
:func:`compose_translation` reads one (the issue file's limits, checked by
:mod:`mailer.build.issue_yaml`; the nodes of recent texts kept) and :class:`Overlay`
merges its nodes over the issue's plain data by block ``id``. The public entry points
are :mod:`mailer.build.translations` and :mod:`mailer.build.translation_check`.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ..errors import IssueError
from .issue_yaml import check_nodes, check_size

#: fields a translation is expected to translate (``mailer check`` lists the missing ones)
TEXT_KEYS = frozenset(
    [
        "subject",
        "preheader",
        "title",
        "text",
        "body",
        "summary",
        "outlet",
        "caption",
        "credit",
        "alt",
        "label",
        "quote",
        "attribution",
    ]
)
#: further fields a translation may change (links and images may differ per language)
OVERRIDABLE_KEYS = TEXT_KEYS | frozenset(
    ["url", "video", "image", "thumbnail", "src", "width", "share", "items", "blocks"]
)
#: structural keys a translation may repeat but never change
FIXED_KEYS = frozenset({"id", "type", "slug", "kind"})
_LANG_RE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def translation_path(issue_path: Path, lang: str) -> Path:
    """Where the *lang* translation of *issue_path* lives: ``<stem>.<lang>.yaml`` beside it."""
    issue_path = Path(issue_path)
    return issue_path.with_name(f"{issue_path.stem}.{lang}{issue_path.suffix or '.yaml'}")


def is_translation_file(path: Path, issues: Iterable[Path] | None = None) -> bool:
    """Whether *path* is a translation (``x.tr.yaml`` beside ``x.yaml``), not an issue."""
    path = Path(path)
    stem, _, lang = path.stem.rpartition(".")
    return bool(stem and _LANG_RE.match(lang) and path.with_name(stem + path.suffix).exists())


def issue_languages(issue_path: Path, default: str) -> list[str]:
    """*default* first, then each language with a sibling translation file, sorted."""
    issue_path = Path(issue_path)
    found: list[str] = []
    prefix, suffix = issue_path.stem + ".", issue_path.suffix
    try:  # a plain listing: pathlib's glob costs an fnmatch import and a regex per call
        names = os.listdir(issue_path.parent)
    except OSError:
        names = []
    for name in names:
        if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix + suffix):
            lang = name[len(prefix) : len(name) - len(suffix)]
            if _LANG_RE.match(lang) and lang != default and lang not in found:
                found.append(lang)
    return [default, *sorted(found)]


#: what :class:`Overlay` puts where the translation sets a value, when it only marks them
MARK = object()
_STR_TAG = "tag:yaml.org,2002:str"
#: libyaml's parser when PyYAML has it (about 10× faster); same nodes, same marks
FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _has_ids(value: Any) -> bool:
    """Whether *value* is a non-empty list of mappings that each carry an ``id``."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and "id" in v for v in value)
    )


class Overlay:
    """Merges one translation file's node tree onto the issue's plain data."""

    def __init__(self, path: Path, *, mark_only: bool = False) -> None:
        self.path = path
        self.mark_only = mark_only
        self._loader = yaml.SafeLoader("")

    def error(self, node: yaml.Node, message: str, hint: str) -> IssueError:
        line = node.start_mark.line + 1
        return IssueError(message, hint=hint, location=f"{self.path}:{line}")

    def value(self, node: yaml.Node) -> Any:
        if type(node) is yaml.ScalarNode and node.tag == _STR_TAG:
            return node.value  # what the constructor gives a text, without its dispatch
        return self._loader.construct_object(node, deep=True)

    def merge(self, base: Any, node: yaml.Node, where: str) -> Any:
        if _has_ids(base) and isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            return self.merge_by_id(base, node, where)
        if isinstance(base, dict) and isinstance(node, yaml.MappingNode):
            return self.merge_mapping(base, node, where)
        return self.leaf(node)

    def leaf(self, node: yaml.Node) -> Any:
        return MARK if self.mark_only else self.value(node)

    def merge_mapping(self, base: dict[str, Any], node: yaml.MappingNode, where: str) -> Any:
        out = copy.copy(base)
        for key_node, value_node in node.value:
            key = str(self.value(key_node))
            if key in FIXED_KEYS:
                if key in base and self.value(value_node) != base[key]:
                    raise self.error(
                        value_node,
                        f"{where}{key} is {self.value(value_node)!r} here but {base[key]!r} "
                        "in the issue",
                        f"a translation cannot change `{key}`; remove the line",
                    )
                continue
            if key not in base and key not in OVERRIDABLE_KEYS:
                close = difflib.get_close_matches(key, [*base, *sorted(TEXT_KEYS)], n=1)
                raise self.error(
                    key_node,
                    f"unknown field {where}{key!r} in the translation",
                    f"did you mean {close[0]!r}?"
                    if close
                    else f"translatable fields: {', '.join(sorted(TEXT_KEYS))}",
                )
            out[key] = (
                self.merge(base[key], value_node, f"{where}{key}.")
                if key in base
                else self.leaf(value_node)
            )
        return out

    def merge_by_id(self, base: list[Any], node: yaml.Node, where: str) -> list[Any]:
        ids = [str(b["id"]) for b in base]
        pairs: list[tuple[yaml.Node, str, yaml.Node]] = []
        if isinstance(node, yaml.MappingNode):
            pairs = [(k, str(self.value(k)), v) for k, v in node.value]
        else:
            for item in node.value:
                if not isinstance(item, yaml.MappingNode):
                    raise self.error(
                        item,
                        f"{where.rstrip('.')}: expected a mapping with an id",
                        "write `- id: <block id>` and the texts under it",
                    )
                id_node = next((v for k, v in item.value if self.value(k) == "id"), None)
                if id_node is None:
                    raise self.error(
                        item,
                        f"{where.rstrip('.')}: an entry has no id",
                        "each entry names the block it translates: `- id: hero`",
                    )
                pairs.append((id_node, str(self.value(id_node)), item))
        out = copy.copy(base)
        for id_node, ident, value_node in pairs:
            if ident not in ids:
                close = difflib.get_close_matches(ident, ids, n=1)
                raise self.error(
                    id_node,
                    f"unknown block id {ident!r} in {where.rstrip('.') or 'the translation'}",
                    (f"did you mean {close[0]!r}? " if close else "")
                    + f"ids in the issue: {', '.join(ids)}",
                )
            i = ids.index(ident)
            out[i] = self.merge(base[i], value_node, f"{where}{ident}.")
        return out


#: translation texts composed lately → their node (a preview rebuilds unchanged files)
_COMPOSED: dict[str, yaml.Node | None] = {}
_COMPOSED_MAX = 16


def compose_translation(path: Path) -> yaml.Node | None:
    return _compose_text(path, _read(path))


def _read(path: Path) -> str:
    check_size(path)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IssueError(
            f"cannot read the translation: {exc}", location=str(path), hint="save it as UTF-8 text"
        ) from exc


def _compose_text(path: Path, text: str) -> yaml.Node | None:
    if text in _COMPOSED:  # composed lately and checked then; nodes are only read
        return _COMPOSED[text]
    try:
        node = yaml.compose(text, Loader=FAST_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise IssueError(
            f"not valid YAML: {exc.problem}",
            location=where,
            hint="check the indentation and quote texts that contain ': '",
        ) from exc
    if node is not None:
        check_nodes(path, node)  # aliases and size bounded, as in the issue file
    if len(_COMPOSED) >= _COMPOSED_MAX:
        del _COMPOSED[next(iter(_COMPOSED))]
    _COMPOSED[text] = node
    return node
