"""What a translation leaves untranslated: :func:`missing_translations` for ``mailer check``
(the issue's text fields, by field path, that each language's translation file does not set).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ..errors import IssueError
from .ids import assign_ids
from .issue_yaml import check_nodes, check_size
from .translation_files import (
    FAST_LOADER,
    FIXED_KEYS,
    MARK,
    TEXT_KEYS,
    Overlay,
    compose_translation,
    issue_languages,
    translation_path,
)


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
    merged = Overlay(path, mark_only=True).merge_mapping(data, node, "")
    return {p for p, v in _leaves(merged, "") if v is MARK}


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
        node = yaml.compose(Path(issue_path).read_text(encoding="utf-8"), Loader=FAST_LOADER)
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
        done = _translated_paths(data, compose_translation(path), path) if path.is_file() else set()
        result[lang] = [
            t
            for t in texts
            if t not in done
            and not any(t.startswith(d + ".") or t.startswith(d + "[") for d in done)
        ]
    return result
