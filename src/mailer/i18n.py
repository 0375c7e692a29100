"""Languages: translations of an issue, template catalogues, direction, casing, dates.

Contract used by the build pipeline (names fixed; see docs/ARCHITECTURE.md):

* ``direction(lang) -> "ltr" | "rtl"`` and ``layout(lang)``: the template variables
  that mirror a layout (``dir``, ``align``, ``align_end``, ``direction``, ``arrow``...).
* ``translations(lang) -> gettext.NullTranslations``: the catalogue for template
  strings ("Read more", "Share on", ...), from ``mailer/locale/<lang>/LC_MESSAGES/
  messages.mo``; install it with ``install(env, lang)`` or
  ``env.install_gettext_translations(translations(lang), newstyle=True)``.
* ``overlay(data, issue_path, lang) -> dict``: the issue's raw YAML mapping with the
  sibling translation ``<stem>.<lang>.yaml`` applied; unchanged when there is none.
* ``issue_languages(issue_path, default) -> list[str]``: default first, then each
  language with a sibling translation file.
* ``missing_translations(issue_path, default_lang) -> {lang: [field path, ...]}``
  for ``mailer check``.
* ``upper(text, lang)`` / ``lower(text, lang)``: case mapping with Turkish and
  Azerbaijani rules (i/İ, ı/I); ``register_filters(env)`` adds them to Jinja2.
* ``format_period(start, end, lang)``: the masthead's date range, e.g.
  "December 2017 – March 2018", "Aralık 2017 – Mart 2018", "ديسمبر 2017 – مارس 2018".

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
closest id.

Digits in Arabic: Latin digits (Babel's CLDR ``ar`` locale defaults to ``latn``).
The readers are Syrians in Turkey and international partners who read Latin
digits daily (Turkish signage, phone numbers, the English texts beside them);
numbers in the translated bodies (1.9 million, 8,600) and in links stay the same
in every language; and Latin digits keep their left-to-right order inside Arabic
text under the Unicode bidi algorithm without any help.
"""

from __future__ import annotations

import copy
import difflib
import functools
import gettext
import re
import unicodedata
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from babel.core import Locale, UnknownLocaleError
from babel.dates import format_skeleton

from .errors import IssueError

RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur", "ps", "ku", "yi", "dv", "ckb", "sd", "ug"})
TURKIC_CASING = frozenset({"tr", "az", "crh", "tt", "ba"})
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
#: languages whose catalogue ships with mailer
SHIPPED = ("en", "tr", "ar")
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
    env.install_gettext_translations(translations(lang, localedir), newstyle=True)
    register_filters(env, lang)


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

    Also ``marks`` (see :func:`escape_marks`) and ``in_default_lang``: text from
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
def _locale(lang: str) -> Locale:
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
    """
    loc = _locale(lang)
    first = format_skeleton("yMMMM", start, locale=loc)
    if (start.year, start.month) == (end.year, end.month):
        return first
    return f"{first} – {format_skeleton('yMMMM', end, locale=loc)}"


# -- plain text in right-to-left languages -------------------------------------------------
RLM = "\u200f"
_STRONG_RTL = {"R", "AL"}


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
        has_rtl = any(unicodedata.bidirectional(c) in _STRONG_RTL for c in line)
        if has_rtl and _first_strong(line) not in _STRONG_RTL:
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
    if direction(lang) != "rtl" or not any(
        unicodedata.bidirectional(c) in _STRONG_RTL for c in text
    ):
        return text
    return _LATIN_RUN.sub(lambda m: f"{FSI}{m.group(0)}{PDI}", text)


# -- translations of an issue --------------------------------------------------------------
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
    if issue_path.parent.is_dir():
        prefix = issue_path.stem + "."
        for p in issue_path.parent.glob(f"{glob_escape(prefix)}*{issue_path.suffix}"):
            lang = p.stem[len(prefix) :]
            if _LANG_RE.match(lang) and lang != default and lang not in found:
                found.append(lang)
    return [default, *sorted(found)]


def glob_escape(text: str) -> str:
    """*text* with glob wildcards escaped."""
    return re.sub(r"([*?\[])", r"[\1]", text)


_MARK = object()
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


def _compose(path: Path) -> yaml.Node | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IssueError(
            f"cannot read the translation: {exc}", location=str(path), hint="save it as UTF-8 text"
        ) from exc
    try:
        return yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise IssueError(
            f"not valid YAML: {exc.problem}",
            location=where,
            hint="check the indentation and quote texts that contain ': '",
        ) from exc


def overlay(data: dict[str, Any], issue_path: Path, lang: str) -> dict[str, Any]:
    """*data* (the issue's raw mapping) with the *lang* translation applied; never mutated.

    Texts missing from the translation keep the default language's. Blocks are
    matched by ``id``; an unknown id raises :class:`IssueError` at the translation's line.
    """
    path = translation_path(Path(issue_path), lang)
    if not path.is_file():
        return data
    node = _compose(path)
    if node is None:
        return data
    if not isinstance(node, yaml.MappingNode):
        raise IssueError(
            "a translation file holds a mapping of texts",
            location=f"{path}:{node.start_mark.line + 1}",
            hint="start with `subject: ...` and `blocks:` keyed by block id",
        )
    merged = _Overlay(path).merge_mapping(data, node, "")
    return dict(merged)


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
    try:
        data = yaml.load(Path(issue_path).read_text(encoding="utf-8"), Loader=_FAST_LOADER)
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
    from .issue import _assign_ids  # the same derived ids as load_issue gives blocks

    _assign_ids(data)
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
