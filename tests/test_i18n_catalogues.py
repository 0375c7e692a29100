"""The shipped gettext catalogues: up to date, complete for the templates, used by Jinja2."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment

from mailer.build import i18n
from support import ROOT

LOCALE = Path(i18n.__file__).parent.parent / "locale"
TEMPLATES = ROOT / "templates"
METHODS = [(f"**.{ext}", "jinja2") for ext in ("mjml", "j2", "html", "txt")]


def template_msgids() -> set[str]:
    """Every msgid in templates/** (Babel's Jinja2 extractor) and in the text part's code.

    Babel's Python extractor cannot see into f-strings before Python 3.12, so the
    ``_('...')`` calls of ``mailer/build/text.py`` and ``text_blocks.py`` are found with a
    pattern.
    """
    options = {pattern: {"extensions": "jinja2.ext.i18n"} for pattern, _ in METHODS}
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(TEMPLATES, METHODS, options):
        found.add(message if isinstance(message, str) else message[0])
    for name in ("text.py", "text_blocks.py"):
        code = (ROOT / "src" / "mailer" / "build" / name).read_text(encoding="utf-8")
        found.update(m[1] for m in re.findall(r"""\b_\((["'])(.+?)\1\)""", code))
    return found | link_labels()


def link_labels() -> set[str]:
    """The follow and share link labels of render.py, which the templates pass through `_()`."""
    tree = ast.parse((ROOT / "src" / "mailer" / "build" / "render.py").read_text(encoding="utf-8"))
    labels: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if getattr(target, "id", "") in ("SOCIAL_LABELS", "SHARE_LABELS") and node.value:
                labels.update(ast.literal_eval(node.value).values())
    return labels


def po(lang: str) -> dict[str, str]:
    with open(LOCALE / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalog = read_po(f, locale=lang)
    return {m.id: m.string for m in catalog if m.id and isinstance(m.id, str)}


@pytest.mark.parametrize("lang", i18n.SHIPPED)
def test_compiled_mo_matches_the_po(lang: str) -> None:
    """The committed .mo holds exactly the .po's translations (recompile after editing a .po)."""
    with open(LOCALE / lang / "LC_MESSAGES" / "messages.mo", "rb") as f:
        compiled = gettext.GNUTranslations(f)
    mo = {k: v for k, v in compiled._catalog.items() if k and isinstance(k, str)}  # type: ignore[attr-defined]
    assert mo == {k: v for k, v in po(lang).items() if v}, (
        f"{lang}: messages.mo is stale; run `pybabel compile -d src/mailer/locale`"
    )


def test_every_template_string_is_translated_in_turkish_and_arabic() -> None:
    """Each msgid the templates use has a non-empty Turkish and Arabic translation."""
    ids = template_msgids()
    expected = {"Read more", "Unsubscribe", "Email", "Add to calendar", "Share on", "Photo:"}
    assert expected <= ids, f"strings not found: {sorted(ids)}"
    for lang in ("tr", "ar"):
        catalog = po(lang)
        untranslated = sorted(m for m in ids if not catalog.get(m))
        assert not untranslated, f"{lang} lacks: {untranslated}"
    with open(LOCALE / "messages.pot", "rb") as f:
        pot = {m.id for m in read_po(f) if m.id}
    assert ids <= pot, f"messages.pot is stale: {sorted(ids - pot)}"


def test_translations_pick_the_language_and_fall_back_to_english() -> None:
    """`translations` finds tr for tr-TR and returns the English msgid for other languages."""
    assert i18n.translations("tr").gettext("Read more") == "Devamını oku"
    assert i18n.translations("tr-TR").gettext("Read more") == "Devamını oku"
    assert i18n.translations("ar").gettext("Unsubscribe") == "إلغاء الاشتراك"
    assert i18n.translations("en").gettext("Read more") == "Read more"
    assert i18n.translations("fr").gettext("Read more") == "Read more"


def test_a_project_catalogue_overrides_and_falls_back(tmp_path: Path) -> None:
    """A project's own localedir wins for its strings; the shipped ones fill the rest."""
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    catalog = Catalog(locale="tr")
    catalog.add("Read more", "Haberin devamı")
    (tmp_path / "tr" / "LC_MESSAGES").mkdir(parents=True)
    with open(tmp_path / "tr" / "LC_MESSAGES" / "messages.mo", "wb") as f:
        write_mo(f, catalog)
    t = i18n.translations("tr", str(tmp_path))
    assert t.gettext("Read more") == "Haberin devamı"
    assert t.gettext("Unsubscribe") == "Abonelikten çık"


def test_install_puts_the_catalogue_into_jinja() -> None:
    """`install` gives templates `_()` in the language and language-aware upper()."""
    env = Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    i18n.install(env, "tr")
    out = env.from_string("{{ _('Read more') }} | {{ _('Watch here') | upper }}").render(lang="tr")
    assert out == "Devamını oku | BURADAN İZLEYİN"
    i18n.install(env, "ar")
    assert env.from_string("{{ _('Read more') }}").render(lang="ar") == "اقرأ المزيد"
