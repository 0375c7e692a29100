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
Finding, reading and merging the files is :mod:`mailer.build.translation_files`,
the completeness check :mod:`mailer.build.translation_check` (both re-exported here).

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

import weakref
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ..errors import IssueError

# the names callers and tests import from here (the contract above)
from .translation_check import missing_translations as missing_translations
from .translation_files import FIXED_KEYS as FIXED_KEYS
from .translation_files import OVERRIDABLE_KEYS as OVERRIDABLE_KEYS
from .translation_files import TEXT_KEYS as TEXT_KEYS
from .translation_files import Overlay, compose_translation
from .translation_files import is_translation_file as is_translation_file
from .translation_files import issue_languages as issue_languages
from .translation_files import translation_path as translation_path


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
    node = compose_translation(path)
    if node is None:
        return data, Brings(fields=False, images=False)
    if not isinstance(node, yaml.MappingNode):
        raise IssueError(
            "a translation file holds a mapping of texts",
            location=f"{path}:{node.start_mark.line + 1}",
            hint="start with `subject: ...` and `blocks:` keyed by block id",
        )
    merged = Overlay(path).merge_mapping(data, node, "")
    return dict(merged), _brings(node)
