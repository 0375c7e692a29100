"""The language helpers: casing, periods, direction, translation overlays, missing texts."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.build import i18n, translations
from mailer.errors import IssueError

ISSUE = """\
subject: Hello
preheader: The quarter in brief
masthead:
  title: IOM Turkey Newsletter
blocks:
  - id: hero
    type: story
    title: Why Gaziantep Still Matters
    body: Seven years on.
    image: {src: hero.jpg, alt: Two people talking, caption: The mayor}
  - id: highlights
    type: grid
    items:
      - {id: senior-directors, title: Senior directors meet, url: "https://example.org/1"}
      - {id: consultation, title: Bilateral consultation, url: "https://example.org/2"}
"""


@pytest.fixture
def issue(tmp_path: Path) -> Path:
    path = tmp_path / "2018-03-sample.yaml"
    path.write_text(ISSUE, encoding="utf-8")
    return path


def raw(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_turkish_upper_maps_dotted_and_dotless_i() -> None:
    """Turkish upper case keeps the dot: istanbul → İSTANBUL, ılık → ILIK."""
    assert i18n.upper("istanbul", "tr") == "İSTANBUL"
    assert i18n.upper("ılık") == "ILIK"
    assert i18n.upper("ılık", "tr") == "ILIK"
    assert i18n.upper("şanlıurfa ve kilis", "tr-TR") == "ŞANLIURFA VE KİLİS"
    assert i18n.upper("istanbul", "en") == "ISTANBUL"
    assert i18n.upper("çiğdem", "az") == "ÇİĞDEM"


def test_turkish_lower_maps_capital_i_to_dotless() -> None:
    """Turkish lower case: I → ı and İ → i, where English gives i for both."""
    assert i18n.lower("ISPARTA", "tr") == "ısparta"
    assert i18n.lower("İZMİR", "tr") == "izmir"
    assert i18n.lower("DİYARBAKIR", "tr") == "diyarbakır"
    assert i18n.lower("I\u0307STANBUL", "tr") == "istanbul"
    assert i18n.lower("ISTANBUL", "en") == "istanbul"
    assert i18n.lower(i18n.upper("kırıkkale ili", "tr"), "tr") == "kırıkkale ili"


def test_jinja_filters_follow_the_context_language() -> None:
    """The upper/lower filters read `lang` from the template context, so one env serves all."""
    from jinja2 import Environment

    env = Environment(autoescape=True)
    i18n.register_filters(env)
    t = env.from_string("{{ city | upper }} {{ city | upper_lang }} {{ 'IŞIK' | lower }}")
    assert t.render(city="izmir", lang="tr") == "İZMİR İZMİR ışık"
    assert t.render(city="izmir", lang="en") == "IZMIR IZMIR işik"


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "December 2017 – March 2018"),
        ("tr", "Aralık 2017 – Mart 2018"),
        ("ar", "ديسمبر 2017 – مارس 2018"),
        ("tr-TR", "Aralık 2017 – Mart 2018"),
        ("xx", "December 2017 – March 2018"),
    ],
)
def test_format_period_names_months_per_language(lang: str, expected: str) -> None:
    """The masthead period uses the language's month names and Latin digits."""
    assert i18n.format_period(date(2017, 12, 1), date(2018, 3, 31), lang) == expected


def test_format_period_of_one_month_is_one_month() -> None:
    """A period inside one month is written once."""
    assert i18n.format_period(date(2018, 3, 1), date(2018, 3, 31), "tr") == "Mart 2018"


def test_direction_and_layout_mirror_for_arabic() -> None:
    """Arabic is right to left: start side right, arrows pointing left; Turkish is not."""
    assert i18n.direction("ar") == "rtl"
    assert i18n.direction("ar-SY") == "rtl"
    assert i18n.direction("tr") == "ltr"
    ar, en = i18n.layout("ar"), i18n.layout("en")
    assert (ar["dir"], ar["align"], ar["align_end"], ar["arrow"]) == ("rtl", "right", "left", "←")
    assert (en["dir"], en["align"], en["align_end"], en["arrow"]) == ("ltr", "left", "right", "→")
    assert (ar["quote_open"], ar["quote_close"], ar["quote_style"]) == ("«", "»", "normal")
    assert (en["quote_open"], en["quote_close"], en["quote_style"]) == ("“", "”", "italic")


def test_bidi_text_marks_arabic_lines_that_start_with_latin() -> None:
    """An Arabic line opening with a Latin name gets an RLM; Latin-only lines stay as they are."""
    text = "IOM تركيا\nمرحبا\nhttps://example.org/a\n"
    out = i18n.bidi_text(text, "ar")
    assert out.split("\n") == ["\u200fIOM تركيا", "مرحبا", "https://example.org/a", ""]
    assert i18n.bidi_text(text, "tr") == text


def test_issue_languages_lists_sibling_translations(issue: Path) -> None:
    """Languages are the default first, then each `<stem>.<lang>.yaml` beside the issue."""
    assert translations.issue_languages(issue, "en") == ["en"]
    (issue.parent / "2018-03-sample.tr.yaml").write_text("subject: Merhaba\n", encoding="utf-8")
    (issue.parent / "2018-03-sample.ar.yaml").write_text("subject: مرحبا\n", encoding="utf-8")
    (issue.parent / "2018-03-sample.notes.txt").write_text("x", encoding="utf-8")
    (issue.parent / "2018-03-other.de.yaml").write_text("subject: Hallo\n", encoding="utf-8")
    assert translations.issue_languages(issue, "en") == ["en", "ar", "tr"]
    assert translations.is_translation_file(issue.parent / "2018-03-sample.tr.yaml")
    assert not translations.is_translation_file(issue)


def test_overlay_replaces_texts_by_block_id_and_keeps_the_rest(issue: Path) -> None:
    """A translation overrides only the texts it names; the input mapping is not mutated."""
    (issue.parent / "2018-03-sample.tr.yaml").write_text(
        "subject: Merhaba\n"
        "blocks:\n"
        "  hero:\n"
        "    title: Gaziantep Neden Hâlâ Önemli\n"
        "    image: {alt: İki kişi konuşuyor}\n"
        "  highlights:\n"
        "    items:\n"
        "      - id: consultation\n"
        "        title: İkili istişare\n"
        "        url: https://example.org/tr/2\n",
        encoding="utf-8",
    )
    data = raw(issue)
    before = yaml.safe_dump(data)
    tr = translations.overlay(data, issue, "tr")
    assert yaml.safe_dump(data) == before
    assert tr["subject"] == "Merhaba"
    assert tr["preheader"] == "The quarter in brief"
    hero = tr["blocks"][0]
    assert hero["title"] == "Gaziantep Neden Hâlâ Önemli"
    assert hero["image"] == {"src": "hero.jpg", "alt": "İki kişi konuşuyor", "caption": "The mayor"}
    items = tr["blocks"][1]["items"]
    assert items[0]["title"] == "Senior directors meet"
    assert items[1] == {
        "id": "consultation",
        "title": "İkili istişare",
        "url": "https://example.org/tr/2",
    }
    assert translations.overlay(data, issue, "ar") is data


def test_overlay_unknown_block_id_names_file_line_and_closest_id(issue: Path) -> None:
    """A misspelt block id is an IssueError at the translation's line with a suggestion."""
    path = issue.parent / "2018-03-sample.ar.yaml"
    path.write_text("subject: مرحبا\nblocks:\n  highlight:\n    title: أبرز\n", encoding="utf-8")
    with pytest.raises(IssueError) as err:
        translations.overlay(raw(issue), issue, "ar")
    assert err.value.location == f"{path}:3"
    assert "'highlight'" in err.value.message
    assert err.value.hint and "did you mean 'highlights'" in err.value.hint


def test_overlay_refuses_structure_changes_and_unknown_fields(issue: Path) -> None:
    """A translation cannot retype a block, and a misspelt field is named with a suggestion."""
    path = issue.parent / "2018-03-sample.tr.yaml"
    path.write_text("blocks:\n  - id: hero\n    type: video\n", encoding="utf-8")
    with pytest.raises(IssueError, match="cannot change `type`") as err:
        translations.overlay(raw(issue), issue, "tr")
    assert err.value.location == f"{path}:3"
    path.write_text("blocks:\n  hero:\n    titel: Başlık\n", encoding="utf-8")
    with pytest.raises(IssueError, match="unknown field") as err:
        translations.overlay(raw(issue), issue, "tr")
    assert err.value.hint == "did you mean 'title'?"
    path.write_text("subject: [unclosed\n", encoding="utf-8")
    with pytest.raises(IssueError, match="not valid YAML"):
        translations.overlay(raw(issue), issue, "tr")


def test_missing_translations_lists_untranslated_fields_per_language(issue: Path) -> None:
    """`mailer check` gets, per language, the text fields its translation leaves in English."""
    (issue.parent / "2018-03-sample.tr.yaml").write_text(
        "subject: Merhaba\npreheader: Çeyrek özeti\nmasthead: {title: IOM Türkiye Bülteni}\n"
        "blocks:\n  hero:\n    title: Başlık\n    body: Metin\n"
        "    image: {alt: Alt, caption: Altyazı}\n"
        "  highlights:\n    items:\n      senior-directors: {title: Üst düzey}\n",
        encoding="utf-8",
    )
    missing = translations.missing_translations(issue, "en", languages=["en", "tr", "ar"])
    assert missing["tr"] == ["blocks.highlights.items.consultation.title"]
    assert missing["ar"] == [
        "subject",
        "preheader",
        "masthead.title",
        "blocks.hero.title",
        "blocks.hero.body",
        "blocks.hero.image.alt",
        "blocks.hero.image.caption",
        "blocks.highlights.items.senior-directors.title",
        "blocks.highlights.items.consultation.title",
    ]
    assert "en" not in missing


def test_isolate_latin_wraps_latin_runs_only_in_arabic_text() -> None:
    """Latin names inside Arabic are isolated; Latin-only and Turkish texts are untouched."""
    assert i18n.isolate_latin("تصوير: IOM / Lanna Walsh", "ar") == (
        "تصوير: \u2068IOM / Lanna Walsh\u2069"
    )
    assert i18n.isolate_latin("منظمة IOM في 2018", "ar") == "منظمة \u2068IOM\u2069 في 2018"
    assert i18n.isolate_latin("Lanna Walsh", "ar") == "Lanna Walsh"
    assert i18n.isolate_latin("IOM Türkiye", "tr") == "IOM Türkiye"


def test_combining_marks_survive_mjml_python() -> None:
    """Arabic harakat in an alt text reach the HTML intact (MRML debug-escapes them in
    attributes as ``\\u{64b}``; the compile stage restores them)."""
    from markupsafe import escape

    from mailer.build.compile import compile_mjml

    alt = "طلاب يرسمون معاً & <أُسرهم>"
    mjml_doc = (
        '<mjml><mj-body><mj-section><mj-column><mj-image src="https://example.org/a.png" '
        f'alt="{escape(alt)}" /></mj-column></mj-section></mj-body></mjml>'
    )
    html = compile_mjml(mjml_doc)
    assert "\\u{" not in html
    got = re.search(r'alt="([^"]*)"', html)
    assert got and __import__("html").unescape(got.group(1)) == alt


def test_default_language_text_keeps_its_language_and_direction() -> None:
    """Config text (English) in a tr/ar variant is marked lang="en", and dir="ltr" in Arabic."""
    from types import SimpleNamespace

    from jinja2 import Environment

    env = Environment(autoescape=True)
    i18n.register_filters(env)
    t = env.from_string("{{ why | in_default_lang }}")
    settings = SimpleNamespace(default_language="en")
    why = "You asked to hear from us <3."
    assert t.render(why=why, lang="ar", settings=settings) == (
        '<span lang="en" dir="ltr">You asked to hear from us &lt;3.</span>'
    )
    assert t.render(why=why, lang="tr", settings=settings) == (
        '<span lang="en">You asked to hear from us &lt;3.</span>'
    )
    assert t.render(why=why, lang="en-GB", settings=settings) == "You asked to hear from us &lt;3."


def test_blocks_without_id_are_matched_by_their_derived_id(tmp_path: Path) -> None:
    """A block with no `id` gets the one load_issue derives from its title, here too."""
    issue = tmp_path / "x.yaml"
    issue.write_text(
        "subject: Hi\nblocks:\n  - type: heading\n    text: Our Stories\n"
        "  - type: story\n    title: Why Gaziantep\n    body: Text.\n",
        encoding="utf-8",
    )
    (tmp_path / "x.tr.yaml").write_text(
        "subject: Merhaba\nblocks:\n  why-gaziantep: {title: Neden Gaziantep, body: Metin.}\n",
        encoding="utf-8",
    )
    missing = translations.missing_translations(issue, "en")
    assert len(missing["tr"]) == 1 and missing["tr"][0].endswith(".text")
    assert missing["tr"][0].startswith("blocks.") and "[" not in missing["tr"][0]


TURKISH_LOWER = "abcçdefgğhıijklmnoöprsştuüvyz"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=TURKISH_LOWER + " ", max_size=40))
def test_turkish_case_round_trips(word: str) -> None:
    """Any lower-case Turkish text survives upper() then lower() in Turkish, letter for letter."""
    up = i18n.upper(word, "tr")
    assert len(up) == len(word)
    assert i18n.lower(up, "tr") == word
    assert "i" not in up and "ı" not in up
