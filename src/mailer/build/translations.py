"""Translations of an issue: sibling ``<stem>.<lang>.yaml`` files over the issue's texts.

Contract used by the build pipeline (names fixed; see docs/ARCHITECTURE.md):

* ``overlay(data, issue_path, lang) -> dict``: the issue's raw YAML mapping with the
  sibling translation ``<stem>.<lang>.yaml`` applied; unchanged when there is none
  (``overlay_fields``: the same, and whether it brings merge fields or images).
* ``issue_languages(issue_path, default) -> list[str]``: default first, then each
  language with a sibling translation file.
* ``translation_path(issue_path, lang)``: where that translation file lives.
* ``missing_translations(issue_path, default_lang) -> {lang: [field path, ...]}``
  for ``mailer check``.

Template catalogues, layout direction, casing and dates are :mod:`mailer.i18n`.

Why translations live in sibling files (``issues/2018-03-iom-turkey.tr.yaml``)
rather than per-field language maps inside the issue: the main file stays the
editor's source of truth and reads like one newsletter, not a matrix of languages;
a translator gets a small file of texts only, which they can edit (or which can be
sent to a translation agency) without touching structure, links or order; a new
language is a new file, not an edit to every field; and a translation that falls
behind never breaks the issue: whatever it does not override falls back to the
default language, and :func:`missing_translations` lists what is left.
A translation overrides texts, matched per block by the block's ``id`` (a list of
mappings with ``id`` may be given as a list, or as a mapping from id to fields).
It cannot add, remove, reorder or retype blocks: an unknown id is an
:class:`~mailer.errors.IssueError` naming the translation file, the line and the
closest id. A translation file has the issue file's limits (size, aliases, values:
:mod:`mailer.build.issue_yaml`).
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ..errors import IssueError
from .ids import assign_ids
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


_MARK = object()
_STR_TAG = "tag:yaml.org,2002:str"
#: libyaml's parser when PyYAML has it (about 10× faster); same nodes, same marks
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _has_ids(value: Any) -> bool:
    """Whether *value* is a non-empty list of mappings that each carry an ``id``."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and "id" in v for v in value)
    )


class _Overlay:
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
        return _MARK if self.mark_only else self.value(node)

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


class Brings(NamedTuple):
    """What a translation's values may bring to an issue that its file must then be
    looked at for again: a merge field (a text with ``{{``), an image (a ``src`` key)."""

    fields: bool
    images: bool


#: what each composed translation brings (by its node: composed once per text, kept
#: while the node is)
_BRINGS: weakref.WeakKeyDictionary[yaml.Node, Brings] = weakref.WeakKeyDictionary()


def _brings(node: yaml.Node) -> Brings:
    found = _BRINGS.get(node)
    if found is None:
        fields = images = False
        stack = [node]
        while stack:
            item = stack.pop()
            if isinstance(item, yaml.ScalarNode):
                fields = fields or "{{" in item.value
            elif isinstance(item, yaml.MappingNode):
                for key, value in item.value:
                    images = images or (isinstance(key, yaml.ScalarNode) and key.value == "src")
                    stack += (key, value)
            elif isinstance(item, yaml.SequenceNode):
                stack += item.value
        found = _BRINGS[node] = Brings(fields, images)
    return found


def _compose(path: Path) -> yaml.Node | None:
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
        node = yaml.compose(text, Loader=_FAST_LOADER)
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


def overlay(data: dict[str, Any], issue_path: Path, lang: str) -> dict[str, Any]:
    """*data* (the issue's raw mapping) with the *lang* translation applied; never mutated.

    Texts missing from the translation keep the default language's. Blocks are
    matched by ``id``; an unknown id raises :class:`IssueError` at the translation's line.
    """
    return overlay_fields(data, issue_path, lang)[0]


def overlay_fields(
    data: dict[str, Any], issue_path: Path, lang: str
) -> tuple[dict[str, Any], Brings]:
    """:func:`overlay`, and what the translation's values bring (:class:`Brings`)."""
    path = translation_path(Path(issue_path), lang)
    if not path.is_file():
        return data, Brings(fields=False, images=False)
    node = _compose(path)
    if node is None:
        return data, Brings(fields=False, images=False)
    if not isinstance(node, yaml.MappingNode):
        raise IssueError(
            "a translation file holds a mapping of texts",
            location=f"{path}:{node.start_mark.line + 1}",
            hint="start with `subject: ...` and `blocks:` keyed by block id",
        )
    merged = _Overlay(path).merge_mapping(data, node, "")
    return dict(merged), _brings(node)


def _text_paths(value: Any, path: str, key: str | None = None) -> Iterable[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k in FIXED_KEYS:
                continue
            yield from _text_paths(v, f"{path}.{k}" if path else str(k), str(k))
    elif isinstance(value, list):
        if value and all(isinstance(v, dict) and "id" in v for v in value):
            for v in value:
                yield from _text_paths(v, f"{path}.{v['id']}", key)
        elif key in TEXT_KEYS and value:
            yield path
        else:
            for i, v in enumerate(value):
                yield from _text_paths(v, f"{path}[{i}]", key)
    elif key in TEXT_KEYS and isinstance(value, str) and value.strip():
        yield path


def _translated_paths(data: dict[str, Any], node: yaml.Node | None, path: Path) -> set[str]:
    """Field paths the translation sets, spelled as :func:`_text_paths` spells them."""
    if not isinstance(node, yaml.MappingNode):
        return set()
    merged = _Overlay(path, mark_only=True).merge_mapping(data, node, "")
    return {p for p, v in _leaves(merged, "") if v is _MARK}


def _leaves(value: Any, path: str) -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif (
        isinstance(value, list) and value and all(isinstance(v, dict) and "id" in v for v in value)
    ):
        for v in value:
            yield from _leaves(v, f"{path}.{v['id']}")
    else:
        yield path, value


def _load_issue_mapping(issue_path: Path) -> dict[str, Any]:
    check_size(Path(issue_path))
    try:
        node = yaml.compose(Path(issue_path).read_text(encoding="utf-8"), Loader=_FAST_LOADER)
        if node is not None:
            check_nodes(Path(issue_path), node)
        data = yaml.SafeLoader("").construct_document(node) if node is not None else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise IssueError(
            f"cannot read the issue: {exc}",
            location=str(issue_path),
            hint="run `mailer check` on the issue first",
        ) from exc
    if not isinstance(data, dict):
        raise IssueError(
            "an issue file holds a mapping",
            location=str(issue_path),
            hint="start with `subject: ...`",
        )
    assign_ids(data)  # the same derived ids as load_issue gives blocks
    return data


def missing_translations(
    issue_path: Path, default_lang: str, languages: Iterable[str] | None = None
) -> dict[str, list[str]]:
    """For each translation language, the text fields it does not translate (in order).

    Field paths read like ``subject`` or ``blocks.hero.image.caption`` (block and item
    ids as keys, as a translation file writes them). *languages* adds
    languages that should exist (e.g. ``mailer.toml``'s ``languages``); one without a
    translation file lists every text. Languages with nothing missing map to ``[]``.
    """
    issue_path = Path(issue_path)
    data = _load_issue_mapping(issue_path)
    texts = list(dict.fromkeys(_text_paths(data, "")))
    langs = issue_languages(issue_path, default_lang)[1:]
    for extra in languages or ():
        if extra != default_lang and extra not in langs:
            langs.append(extra)
    result: dict[str, list[str]] = {}
    for lang in langs:
        path = translation_path(issue_path, lang)
        done = _translated_paths(data, _compose(path), path) if path.is_file() else set()
        result[lang] = [
            t
            for t in texts
            if t not in done
            and not any(t.startswith(d + ".") or t.startswith(d + "[") for d in done)
        ]
    return result
