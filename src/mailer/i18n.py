"""Languages (placeholder: the multilingual work replaces the bodies, keeping these names).

Contract used by the build pipeline:

* ``direction(lang) -> "ltr" | "rtl"``
* ``translations(lang) -> gettext.NullTranslations``: catalogue for template strings
  ("Read more", "Share on", "Watch here", "View in browser", "Unsubscribe", ...),
  installed into Jinja2 with ``env.install_gettext_translations(...)``.
* ``overlay(data, issue_path, lang) -> dict``: the issue's raw YAML mapping with the
  translation for *lang* applied (sibling file ``<stem>.<lang>.yaml`` overriding texts
  by block id); unchanged when there is none.
* ``issue_languages(issue_path, default) -> list[str]``: default first, then each
  language with a sibling translation file.
* ``upper(text, lang)``: case mapping with Turkish rules for ``tr``/``az``.
* ``format_period(start, end, lang)``: the masthead date range, e.g. "December 2017 – March 2018".
"""

from __future__ import annotations

import gettext
from datetime import date
from pathlib import Path
from typing import Any

RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur", "ps", "ku", "yi", "dv"})


def direction(lang: str) -> str:
    return "rtl" if lang.split("-")[0].lower() in RTL_LANGUAGES else "ltr"


def translations(lang: str) -> gettext.NullTranslations:
    return gettext.NullTranslations()


def overlay(data: dict[str, Any], issue_path: Path, lang: str) -> dict[str, Any]:
    return data


def issue_languages(issue_path: Path, default: str) -> list[str]:
    return [default]


def upper(text: str, lang: str) -> str:
    return text.upper()


def format_period(start: date, end: date, lang: str) -> str:
    return f"{start:%B %Y} – {end:%B %Y}"
