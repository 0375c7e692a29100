"""CLDR month names and "month year" patterns of the languages mailer ships, as data.

:func:`mailer.build.i18n.format_period` writes the masthead's period ("March 2018",
"Mart 2018", "مارس 2018") from this table for these languages, so a build needs neither
Babel nor its locale data (importing Babel and unpickling the ``tr`` and ``ar`` locales
cost about 50 ms a process); any other language goes through Babel as before.

The values are Babel's own (``Locale.datetime_skeletons["yMMMM"]`` and the wide format
month names); :func:`from_babel` computes them again, and a test checks that the table
and Babel agree for every shipped language and month (run
``python -m mailer.build.month_names`` to print a fresh table when Babel's data change).
"""

from __future__ import annotations

from typing import Any

#: language → ("month year" pattern with {month} and {year}, the 12 month names)
PERIOD_FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "en": (
        "{month} {year}",
        (
            "January", "February", "March", "April", "May", "June",
            "July", "August", "September", "October", "November", "December",
        ),
    ),
    "tr": (
        "{month} {year}",
        (
            "Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran",
            "Temmuz", "Ağustos", "Eylül", "Ekim", "Kasım", "Aralık",
        ),
    ),
    "ar": (
        "{month} {year}",
        (
            "يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو",
            "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر",
        ),
    ),
}  # fmt: skip

#: the only Babel patterns this table knows how to write
_PATTERNS = {"MMMM y": "{month} {year}", "y MMMM": "{year} {month}"}


def from_babel(lang: str) -> tuple[str, tuple[str, ...]]:
    """The table's entry for *lang* computed with Babel (for the test and regeneration)."""
    from babel.core import Locale

    loc: Any = Locale.parse(lang)
    pattern = str(loc.datetime_skeletons["yMMMM"].pattern)
    months = loc.months["format"]["wide"]
    return _PATTERNS[pattern], tuple(str(months[i]) for i in range(1, 13))


if __name__ == "__main__":  # pragma: no cover - prints a fresh table
    for code in PERIOD_FORMATS:
        print(f"{code!r}: {from_babel(code)!r},")
