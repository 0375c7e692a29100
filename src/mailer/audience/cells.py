"""Reading single CSV cells: control characters, dates, tag lists and language names.

Every cell of an imported file passes :func:`control_character` (CR, LF, NUL and the other C0
controls, and DEL, are refused: one of them in a name or an attribute used in a subject breaks
the message built for that reader; TAB is allowed). :func:`parse_time` reads the timestamps other
tools write (``2024-03-01 10:22:33``, ISO 8601 with ``Z`` or an offset) as naive UTC.
:func:`parse_tags` reads Mailchimp's ``"a","b"``, Ghost's ``a,b``, Buttondown's and listmonk's
lists. :func:`language_from_name` maps a language's name (``English``, ``Türkçe``, ``العربية``)
to its code.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from datetime import UTC, datetime
from functools import lru_cache

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_NAMES = {"\n": "a line break (LF)", "\r": "a line break (CR)", "\x00": "NUL"}


def control_character(value: str) -> str | None:
    """What control character *value* holds (``a line break (LF)``), or None."""
    found = _CONTROL.search(value)
    if found is None:
        return None
    char = found.group()
    return _CONTROL_NAMES.get(char) or f"the control character U+{ord(char):04X}"


def parse_time(value: str) -> datetime | None:
    """A timestamp as naive UTC, or None when *value* is empty or not a date and time."""
    text = value.strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" UTC", ""))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when


def parse_tags(value: str) -> list[str]:
    """Tags from a cell: a JSON list, Mailchimp's ``"a","b"``, or ``a, b`` / ``a; b``."""
    text = value.strip()
    if not text:
        return []
    items: list[str] = []
    if text.startswith("["):
        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = json.loads(text.replace("'", '"')) if "'" in text else None
        if isinstance(loaded, list):
            items = [str(t.get("name", "") if isinstance(t, dict) else t) for t in loaded]
    if not items:
        sep = "," if "," in text or ";" not in text else ";"
        items = next(csv.reader([text], delimiter=sep, skipinitialspace=True), [])
    return sorted({t.strip() for t in items if t.strip()})


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).strip().casefold()


@lru_cache(maxsize=1)
def _language_names() -> dict[str, str]:
    """Language names in English, Turkish and Arabic, and each of those in its own language."""
    from babel import Locale

    names: dict[str, str] = {}
    for ui in ("en", "tr", "ar"):
        for code, name in Locale.parse(ui).languages.items():
            if "_" not in code and len(code) <= 3:
                names.setdefault(_fold(name), code)
    for code in ("en", "tr", "ar", "fr", "de", "es", "ku", "fa", "ru", "uk", "pt", "it", "nl"):
        own = Locale.parse(code).get_language_name(code)
        if own:
            names.setdefault(_fold(own), code)
    return names


def language_from_name(value: str) -> str | None:
    """The code of the language called *value* (``English`` → ``en``), or None."""
    return _language_names().get(_fold(value))
