"""Languages in templates: catalogues, direction and layout, casing, dates, bidi text.

Contract used by the build pipeline (names fixed; see docs/ARCHITECTURE.md):

* ``direction(lang) -> "ltr" | "rtl"`` and ``layout(lang)``: the template variables
  that mirror a layout (``dir``, ``align``, ``align_end``, ``direction``, ``arrow``...).
* ``translations(lang) -> gettext.NullTranslations``: the catalogue for template
  strings ("Read more", "Share on", ...), from ``mailer/locale/<lang>/LC_MESSAGES/
  messages.mo``; install it with ``install(env, lang)`` or
  ``env.install_gettext_translations(translations(lang), newstyle=True)``.
* ``upper(text, lang)`` / ``lower(text, lang)``: case mapping with Turkish and
  Azerbaijani rules (i/İ, ı/I); ``register_filters(env)`` adds them to Jinja2.
* ``format_period(start, end, lang)``: the masthead's date range, e.g.
  "December 2017 – March 2018", "Aralık 2017 – Mart 2018", "ديسمبر 2017 – مارس 2018".
* ``bidi_text(text, lang)`` / ``isolate_latin(text, lang)``: plain text that reads
  right to left.

An issue's translation files (``<stem>.<lang>.yaml``: ``overlay``, ``issue_languages``,
``missing_translations``) are :mod:`mailer.translations`.

Digits in Arabic: Latin digits (Babel's CLDR ``ar`` locale defaults to ``latn``).
The readers are Syrians in Turkey and international partners who read Latin
digits daily (Turkish signage, phone numbers, the English texts beside them);
numbers in the translated bodies (1.9 million, 8,600) and in links stay the same
in every language; and Latin digits keep their left-to-right order inside Arabic
text under the Unicode bidi algorithm without any help.
"""

from __future__ import annotations

import functools
import gettext
import re
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

from .month_names import PERIOD_FORMATS

RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur", "ps", "ku", "yi", "dv", "ckb", "sd", "ug"})
TURKIC_CASING = frozenset({"tr", "az", "crh", "tt", "ba"})
LOCALE_DIR = Path(__file__).parent.parent / "locale"
DOMAIN = "messages"
#: languages whose catalogue ships with mailer
SHIPPED = ("en", "tr", "ar")


def _base(lang: str) -> str:
    return lang.replace("_", "-").split("-")[0].lower()


#: quotation marks per language (CLDR's delimiters; Babel does not expose them)
QUOTES = {
    "ar": ("«", "»"),
    "fa": ("«", "»"),
    "fr": ("« ", " »"),
    "de": ("„", "“"),
    "ru": ("«", "»"),
    "he": ("”", "”"),
}


# -- direction and layout ------------------------------------------------------------------
def direction(lang: str) -> str:
    """``"rtl"`` for right-to-left scripts (Arabic, Persian, Hebrew, Urdu...), else ``"ltr"``."""
    return "rtl" if _base(lang) in RTL_LANGUAGES else "ltr"


def layout(lang: str) -> dict[str, str]:
    """Template variables that mirror a layout for *lang*.

    ``dir`` for ``<html dir>``/``mj-section direction``; ``align`` the start side
    (``left`` in English, ``right`` in Arabic), ``align_end`` the other side;
    ``arrow`` points forward in reading order ("→" / "←"); ``bullet_side`` where list
    bullets hang; ``quote_open``/``quote_close`` the language's quotation marks and
    ``quote_style`` the quote's font style (never italic in Arabic script).
    """
    rtl = direction(lang) == "rtl"
    quote_open, quote_close = QUOTES.get(_base(lang), ("“", "”"))
    return {
        "lang": lang,
        "dir": "rtl" if rtl else "ltr",
        "direction": "rtl" if rtl else "ltr",
        "align": "right" if rtl else "left",
        "align_end": "left" if rtl else "right",
        "arrow": "←" if rtl else "→",
        "back_arrow": "→" if rtl else "←",
        "bullet_side": "right" if rtl else "left",
        "quote_open": quote_open,
        "quote_close": quote_close,
        # Arabic script has no italics: browsers slant it synthetically, which reads badly
        "quote_style": "normal" if rtl else "italic",
    }


# -- catalogues ----------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def translations(lang: str, localedir: str | None = None) -> gettext.NullTranslations:
    """The gettext catalogue of template strings for *lang* (English strings when none).

    ``tr-TR`` falls back to ``tr``. A project may add or override catalogues in its
    own *localedir* (same layout as ``mailer/locale``); mailer's own are the fallback.
    """
    norm = lang.replace("-", "_")
    candidates = [norm, _base(lang)] if norm != _base(lang) else [norm]
    shipped: gettext.NullTranslations = gettext.translation(
        DOMAIN, LOCALE_DIR, languages=candidates, fallback=True
    )
    if localedir is None:
        return shipped
    own = gettext.translation(DOMAIN, localedir, languages=candidates, fallback=True)
    if type(own) is gettext.NullTranslations:
        return shipped
    own.add_fallback(shipped)
    return own


def install(env: Any, lang: str, localedir: str | None = None) -> None:
    """Install *lang*'s catalogue (newstyle gettext) and the casing filters into *env*."""
    if "jinja2.ext.InternationalizationExtension" not in env.extensions:
        env.add_extension("jinja2.ext.i18n")
    catalogue = translations(lang, localedir)
    env.install_gettext_translations(catalogue, newstyle=True)
    env.globals["_"] = fast_gettext(catalogue.gettext)
    register_filters(env, lang)


def fast_gettext(translate: Any) -> Any:
    """``_()`` for templates, as Jinja2's newstyle gettext answers it (the translation,
    ``Markup`` where autoescape is on, ``%(name)s`` filled from keyword arguments), without
    resolving ``gettext`` from the context and formatting a string that has nothing to
    fill: a render calls ``_()`` some 50 times (issue 15)."""
    from jinja2 import pass_eval_context
    from markupsafe import Markup

    @pass_eval_context
    def gettext(eval_ctx: Any, string: str, **variables: Any) -> Any:
        rv = translate(string)
        if eval_ctx.autoescape:
            rv = Markup(rv)
        if variables or "%" in rv:
            return rv % variables
        return rv

    return gettext


# -- casing --------------------------------------------------------------------------------
def upper(text: str, lang: str = "en") -> str:
    """Upper case with the language's rules: in Turkish "istanbul" → "İSTANBUL", "ılık" → "ILIK"."""
    if _base(lang) in TURKIC_CASING:
        text = text.replace("i", "İ")
    return text.upper()


def lower(text: str, lang: str = "en") -> str:
    """Lower case with the language's rules: in Turkish "ISPARTA" → "ısparta", "İZMİR" → "izmir"."""
    if _base(lang) in TURKIC_CASING:
        text = text.replace("İ", "i").replace("I", "ı")
        # a decomposed I + combining dot above is also a capital dotted İ
        text = unicodedata.normalize("NFC", text).replace("ı\u0307", "i")
    return text.lower()


def register_filters(env: Any, lang: str | None = None) -> None:
    """Add ``upper_lang``/``lower_lang`` and make ``upper``/``lower`` language-aware.

    Also ``in_default_lang``: text from
    ``mailer.toml`` (the reason for the email, the address) is in the default
    language; in another language's variant it is wrapped in ``<span lang="en">``
    (screen readers switch voice), with ``dir="ltr"`` in a right-to-left variant so
    its full stop stays at its end (``<bdi>`` is not supported by Gmail or Outlook;
    the ``dir`` attribute is).

    The filters read ``lang`` from the template context (so one environment serves
    every language); *lang* is the fallback when the context has none.
    """
    from jinja2 import pass_context

    fallback = lang or "en"

    @pass_context
    def _upper(ctx: Any, value: Any) -> str:
        return upper(str(value), str(ctx.get("lang") or fallback))

    @pass_context
    def _lower(ctx: Any, value: Any) -> str:
        return lower(str(value), str(ctx.get("lang") or fallback))

    @pass_context
    def _in_default_lang(ctx: Any, value: Any) -> Any:
        from markupsafe import Markup, escape

        settings = ctx.get("settings")
        default = str(getattr(settings, "default_language", None) or fallback)
        lang = str(ctx.get("lang") or fallback)
        if _base(lang) == _base(default):
            return value
        if direction(lang) == direction(default):
            return Markup('<span lang="{}">{}</span>').format(default, escape(value))
        return Markup('<span lang="{}" dir="{}">{}</span>').format(
            default, direction(default), escape(value)
        )

    env.filters.update(
        upper_lang=_upper,
        lower_lang=_lower,
        upper=_upper,
        lower=_lower,
        in_default_lang=_in_default_lang,
    )


# -- dates ---------------------------------------------------------------------------------
def _locale(lang: str) -> Any:
    from babel.core import Locale, UnknownLocaleError

    try:
        return Locale.parse(lang.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        try:
            return Locale.parse(_base(lang))
        except (UnknownLocaleError, ValueError):
            return Locale.parse("en")


def format_period(start: date, end: date, lang: str) -> str:
    """The masthead's period: "December 2017 – March 2018" (month names per language).

    One month gives "March 2018"; digits are Latin in every language (see above).
    Shipped languages are written from :data:`~mailer.build.month_names.PERIOD_FORMATS`
    (Babel's own names, without loading Babel); others through Babel.
    """
    known = PERIOD_FORMATS.get(lang)
    if known is not None:
        pattern, months = known

        def one(day: date) -> str:
            return pattern.format(month=months[day.month - 1], year=day.year)

        first = one(start)
        if (start.year, start.month) == (end.year, end.month):
            return first
        return f"{first} – {one(end)}"
    from babel.dates import format_skeleton

    loc = _locale(lang)
    first = format_skeleton("yMMMM", start, locale=loc)
    if (start.year, start.month) == (end.year, end.month):
        return first
    return f"{first} – {format_skeleton('yMMMM', end, locale=loc)}"


# -- plain text in right-to-left languages -------------------------------------------------
RLM = "\u200f"
_STRONG_RTL = {"R", "AL"}
#: the blocks that hold every right-to-left letter (bidi class R or AL): Hebrew to Arabic
#: Extended-A, the RLM, the presentation forms, and the historic and Adlam/Arabic
#: mathematical planes; a line with none of these has no right-to-left letter
_RTL_BLOCKS = re.compile(
    "[\u0590-\u08ff\u200f\ufb1d-\ufdff\ufe70-\ufeff\U00010800-\U00010fff\U0001e800-\U0001efff]"
)


def has_rtl(text: str) -> bool:
    """Whether *text* holds a right-to-left letter (bidi class R or AL); only the
    characters of the right-to-left blocks are looked up."""
    return any(unicodedata.bidirectional(m[0]) in _STRONG_RTL for m in _RTL_BLOCKS.finditer(text))


def _first_strong(line: str) -> str | None:
    for ch in line:
        bidi = unicodedata.bidirectional(ch)
        if bidi in _STRONG_RTL or bidi == "L":
            return bidi
    return None


def bidi_text(text: str, lang: str) -> str:
    """Mark lines of a right-to-left plain-text part so they read right to left.

    Plain-text mail clients choose each paragraph's direction from its first strong
    character; an Arabic line that starts with a Latin name ("IOM ...") or a number
    would be laid out left to right. Such lines get a RIGHT-TO-LEFT MARK in front.
    Lines with no Arabic at all (URLs, addresses) are left alone, and nothing changes
    for left-to-right languages.
    """
    if direction(lang) != "rtl":
        return text
    out = []
    for line in text.split("\n"):
        if has_rtl(line) and _first_strong(line) not in _STRONG_RTL:
            line = RLM + line
        out.append(line)
    return "\n".join(out)


FSI, PDI = "\u2068", "\u2069"
_LATIN_RUN = re.compile(
    r"[A-Za-z\u00c0-\u024f][A-Za-z0-9\u00c0-\u024f'’.&/\- ]*[A-Za-z0-9\u00c0-\u024f.]|[A-Za-z]"
)


def isolate_latin(text: str, lang: str) -> str:
    """In right-to-left text, wrap runs of Latin script in Unicode isolates (FSI … PDI).

    "تصوير: IOM / Lanna Walsh" keeps its colon and slash where an Arabic reader
    expects them. Unchanged for left-to-right languages and for text without
    Arabic. For plain-text fields (titles, captions, credits), before escaping.
    """
    if direction(lang) != "rtl" or not has_rtl(text):
        return text
    return _LATIN_RUN.sub(lambda m: f"{FSI}{m.group(0)}{PDI}", text)
