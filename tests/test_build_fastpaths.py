"""The build's short cuts (issue 15) give what the long way gives: URL quoting, href
rewriting, MRML's clean-up, the color-scheme metas, the theme's Jinja2 calls, the theme's
block declarations and a translation's values, each checked against the library call or
the plain expression it replaces."""

from __future__ import annotations

import html as htmllib
import re
from pathlib import Path
from urllib.parse import quote

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.build import translations
from mailer.build.compile import tidy
from mailer.build.inline import declare_color_schemes
from mailer.build.links import quote_all, rewrite_hrefs
from mailer.build.render import environment
from mailer.build.theme_blocks import find_theme_blocks

#: texts with what URLs and titles hold: reserved ASCII, Turkish and Arabic letters, emoji
TEXTS = st.text(
    alphabet=st.one_of(
        st.characters(max_codepoint=127),
        st.sampled_from("çğıİöşüÇĞÖŞÜ“”’–ءابةتثمعاًّ😀"),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=60,
)


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_quote_all_is_urllib_quote_with_nothing_safe(text: str) -> None:
    assert quote_all(text) == quote(text, safe="")


_HREF = re.compile(r'href="([^"]*)"')


def _rewrite_reference(text: str, fn: object) -> str:
    assert callable(fn)
    return _HREF.sub(
        lambda m: f'href="{htmllib.escape(fn(htmllib.unescape(m[1])), quote=True)}"', text
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            TEXTS.map(lambda t: t.replace('"', "")),
            st.sampled_from(
                ['href="', '"', 'href=""', "&amp;", '<a href="https://x.org/?a=1&amp;b=2">']
            ),
        ),
        max_size=12,
    )
)
def test_rewrite_hrefs_is_one_substitution_per_href(pieces: list[str]) -> None:
    text = "".join(pieces)
    seen: list[str] = []

    def fn(url: str) -> str:
        seen.append(url)
        return f"{url}?n={len(seen)}&x=<'>"

    expected_seen: list[str] = []

    def reference_fn(url: str) -> str:
        expected_seen.append(url)
        return f"{url}?n={len(expected_seen)}&x=<'>"

    assert rewrite_hrefs(text, fn) == _rewrite_reference(text, reference_fn)
    assert seen == expected_seen


def _tidy_reference(html: str) -> str:
    """The clean-up as whole-document replacements (before issue 15)."""
    rust = re.compile(r"\\u\{([0-9a-fA-F]{1,6})\}")

    def mark(m: re.Match[str]) -> str:
        import unicodedata

        char = chr(int(m.group(1), 16))
        return char if unicodedata.category(char).startswith("M") else m.group(0)

    html = rust.sub(mark, html)
    for text in (' target="_blank"', "cursor:auto;"):
        html = html.replace(text, "")
    if 'class="mj-full-width-mobile"' not in html:
        for text in (
            "table.mj-full-width-mobile { width: 100% !important; }",
            "td.mj-full-width-mobile { width: auto !important; }",
        ):
            html = html.replace(text, "")
    start = html.find('<style media="')
    if start != -1:
        moz = re.compile(r'<style media="[^"]*">\.moz-text-html[^<]*</style>')
        html = html[:start] + moz.sub("", html[start:], count=1)
    return html


MEDIA = '<style media="screen and (min-width:480px)">'
HEAD_STYLES = [
    f"{MEDIA}.mj-column-per-100 {{ width:100% !important; }}</style>",
    f"{MEDIA}.moz-text-html .mj-column-per-100 {{ width:100% !important; }}</style>",
    "<style>table.mj-full-width-mobile { width: 100% !important; }"
    "td.mj-full-width-mobile { width: auto !important; }</style>",
]
BODIES = [
    '<a href="x" target="_blank" style="cursor:auto;color:red">Read</a>',
    '<img alt="معا\\u{64b}" src="a.png" class="mj-full-width-mobile" />',
    '<p title="\\u{41}">x</p>',
    "<p>plain</p>",
]


@pytest.mark.parametrize("styles", [[], HEAD_STYLES, HEAD_STYLES[1:], HEAD_STYLES[::-1]])
@pytest.mark.parametrize("body", [*BODIES, "".join(BODIES)])
def test_tidy_equals_the_whole_document_replacements(styles: list[str], body: str) -> None:
    html = f"<!doctype html><html><head>{''.join(styles)}</head><body>{body}</body></html>"
    assert tidy(html) == _tidy_reference(html)


def test_tidy_of_the_compiled_sample_equals_the_whole_document_replacements() -> None:
    import mjml

    from mailer.build import build_issue
    from mailer.config import load_config
    from support import ROOT

    config = load_config(ROOT / "mailer.toml")
    for lang in ("en", "ar"):
        source = build_issue(ROOT / "issues" / "2018-03-iom-turkey.yaml", config, lang=lang).mjml
        raw = mjml.mjml2html(source, disable_comments=True, fonts={})
        assert tidy(raw) == _tidy_reference(raw)


def _declare_reference(html: str) -> str:
    schemes = (
        '<meta name="color-scheme" content="light dark">'
        '<meta name="supported-color-schemes" content="light dark">'
    )
    head, sep, rest = html.partition("</head>")
    if not sep or "prefers-color-scheme" not in head or 'name="color-scheme"' in head:
        return html
    return f"{head}{schemes}{sep}{rest}"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["<head>", "</head>", "prefers-color-scheme", 'name="color-scheme"', "x", "<body>"]
        ),
        max_size=8,
    )
)
def test_color_scheme_metas_as_before(pieces: list[str]) -> None:
    html = "".join(pieces)
    assert declare_color_schemes(html) == _declare_reference(html)


def test_theme_context_calls_each_kind_of_callable_as_jinja2_does(tmp_path: Path) -> None:
    """The theme's environment shortens calls of plain functions and methods; every kind of
    callable gets the first argument Jinja2's own Context would give it."""
    (tmp_path / "t.j2").write_text(
        "{{ plain(1) }}|{{ method(2) }}|{{ ctx_fn(3) }}|{{ eval_fn(4) }}|{{ env_fn(5) }}|"
        "{{ obj(6) }}|{{ stop() is undefined }}|"
        "{% for i in [7] %}{{ ctx_fn(i) }}{% endfor %}|"
        "{% autoescape false %}{{ eval_fn(8) }}{% endautoescape %}|{{ _('Read more') }}",
        encoding="utf-8",
    )

    class Holder:
        def method(self, x: int) -> str:
            return f"m{x}"

    @jinja2.pass_context
    def ctx_fn(ctx: jinja2.runtime.Context, x: int) -> str:
        return f"c{x}:{ctx.get('i', '-')}"

    @jinja2.pass_eval_context
    def eval_fn(ev: jinja2.nodes.EvalContext, x: int) -> str:
        return f"e{x}:{ev.autoescape}"

    @jinja2.pass_environment
    def env_fn(env: jinja2.Environment, x: int) -> str:
        return f"v{x}:{env.autoescape}"

    class Callable:
        @jinja2.pass_context
        def __call__(self, ctx: jinja2.runtime.Context, x: int) -> str:
            return f"o{x}:{ctx.get('name')}"

    def stop() -> None:
        raise StopIteration

    values = {
        "plain": lambda x: f"p{x}",
        "method": Holder().method,
        "ctx_fn": ctx_fn,
        "eval_fn": eval_fn,
        "env_fn": env_fn,
        "obj": Callable(),
        "stop": stop,
        "name": "n",
    }
    ours = environment((str(tmp_path),), "en")
    theirs = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(tmp_path)),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
    theirs.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    assert ours.context_class is not jinja2.runtime.Context
    out = ours.get_template("t.j2").render(values)
    assert out == theirs.get_template("t.j2").render(values)
    assert out.startswith("p1|m2|c3:-|e4:True|v5:True|o6:n|True|c7:-|e8:False|")


def test_theme_blocks_found_as_a_glob_finds_them(tmp_path: Path) -> None:
    blocks = tmp_path / "blocks"
    blocks.mkdir()
    for name in ("b_card", "a_card", "z_card"):
        (blocks / f"{name}.yaml").write_text(
            "fields:\n  text: {type: string, required: true}\n", encoding="utf-8"
        )
        (blocks / f"{name}.mjml.j2").write_text("x", encoding="utf-8")
        (blocks / f"{name}.txt.j2").write_text("x", encoding="utf-8")
    (blocks / "notes.yml").write_text("not a declaration", encoding="utf-8")
    found = find_theme_blocks([tmp_path, tmp_path / "missing"])
    assert [d.path for d in found] == sorted(blocks.glob("*.yaml"))


def test_translation_values_keep_their_yaml_types(tmp_path: Path) -> None:
    """Texts are read straight from the nodes; numbers, booleans and dates still go through
    the YAML constructor."""
    issue = tmp_path / "x.yaml"
    issue.write_text("subject: S\nblocks: []\n", encoding="utf-8")
    (tmp_path / "x.tr.yaml").write_text(
        "subject: Konu\nblocks:\n  a:\n    title: Başlık\n    share: false\n"
        "    image: {src: b.jpg, width: 300, alt: '12'}\n",
        encoding="utf-8",
    )
    data = {
        "subject": "S",
        "blocks": [
            {"id": "a", "type": "story", "title": "T", "share": True, "image": {"src": "a.jpg"}}
        ],
    }
    merged = translations.overlay(data, issue, "tr")
    block = merged["blocks"][0]
    assert merged["subject"] == "Konu" and block["title"] == "Başlık"
    assert block["share"] is False
    assert block["image"] == {"src": "b.jpg", "width": 300, "alt": "12"}


def test_every_right_to_left_letter_is_in_the_blocks_has_rtl_looks_at() -> None:
    """``has_rtl`` looks up only the characters of the right-to-left blocks: every code point
    of bidi class R or AL in this Python's Unicode database is in one of them."""
    import sys
    import unicodedata

    from mailer.build import i18n

    letters = [
        chr(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.bidirectional(chr(c)) in ("R", "AL")
    ]
    assert len(letters) > 1000
    assert all(i18n.has_rtl(ch) for ch in letters)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_has_rtl_is_any_right_to_left_character(text: str) -> None:
    import unicodedata

    from mailer.build import i18n

    expected = any(unicodedata.bidirectional(c) in ("R", "AL") for c in text)
    assert i18n.has_rtl(text) is expected


def test_theme_icon_lists_each_folder_per_render_as_is_file_would_answer(tmp_path: Path) -> None:
    """``icon(label)`` finds what ``Path.is_file`` finds (a file, a symlink to one; not a
    folder, not a dangling link; the first folder that has it), and a later render
    (a new ``theme_icon``) sees an icon added meanwhile, as a preview must."""
    import os

    from mailer.build.icons import network_key, theme_icon

    own, theme = tmp_path / "own", tmp_path / "theme"
    for folder in (own, theme):
        (folder / "icons").mkdir(parents=True)
    (theme / "icons" / "icon-facebook.png").write_bytes(b"png")
    (theme / "icons" / "icon-x.png").write_bytes(b"png")
    (own / "icons" / "icon-x.png").mkdir()  # a folder: not an icon
    os.symlink(theme / "icons" / "icon-x.png", own / "icons" / "icon-linkedin.png")
    os.symlink(tmp_path / "nowhere.png", own / "icons" / "icon-youtube.png")
    dirs = (str(own), str(theme), str(tmp_path / "missing"))
    labels = ["Facebook", "X (Twitter)", "LinkedIn", "YouTube", "WhatsApp", "Email"]

    def expected(label: str) -> str:
        name = f"icons/icon-{network_key(label)}.png"
        for folder in dirs:
            if (Path(folder) / name).is_file():
                return f"{folder}|{name}"
        return ""

    def img(name: str, folder: Path) -> str:
        return f"{folder}|{name}"

    icon = theme_icon(img, dirs)
    assert [icon(label) for label in labels] == [expected(label) for label in labels]
    assert icon("LinkedIn") == f"{own}|icons/icon-linkedin.png"
    assert icon("WhatsApp") == ""
    (theme / "icons" / "icon-whatsapp.png").write_bytes(b"png")
    assert theme_icon(img, dirs)("WhatsApp") == f"{theme}|icons/icon-whatsapp.png"


def test_the_image_outside_is_named_at_its_own_line_among_several(tmp_path: Path) -> None:
    """``check_image_paths`` walks the issue without paths and looks for the line only when
    an image is refused: the error names the second of three images that share one ``src``
    text, the one whose file is a symlink out, at its own line and column."""
    from mailer.build.images import check_image_paths, one_build
    from mailer.build.issue_yaml import compose
    from mailer.errors import IssueError

    issues = tmp_path / "issues"
    (issues / "assets").mkdir(parents=True)
    (issues / "assets" / "a.jpg").write_bytes(b"jpg")
    (tmp_path / "secret.jpg").write_bytes(b"jpg")
    (issues / "assets" / "b.jpg").symlink_to(tmp_path / "secret.jpg")
    text = (
        "blocks:\n"
        "  - type: image\n"
        "    image: {src: assets/a.jpg}\n"
        "  - type: story\n"
        "    items:\n"
        "      - thumbnail: {src: https://x.org/b.jpg}\n"
        "      - image:\n"
        "          src: assets/b.jpg\n"
        "  - type: image\n"
        "    image: {src: assets/b.jpg}\n"
    )
    issue = issues / "x.yaml"
    data, marks = compose(issue, text)
    with one_build(), pytest.raises(IssueError) as caught:
        check_image_paths(issue, data, marks)
    assert caught.value.location == f"{issue}:8:16"
    assert "'assets/b.jpg'" in str(caught.value)


def test_a_template_edited_between_renders_shows_in_the_next_render(project: Path) -> None:
    """Templates are looked at once per render (Jinja2 asks at every include and import):
    an edit of one that a render includes many times (the follow/share link macro) shows
    in the next render, everywhere, and an unedited theme renders the same as before."""
    import os

    from mailer.build.images import one_build
    from mailer.build.issue import load_issue
    from mailer.build.render import render_mjml, template_dirs
    from mailer.config import load_config

    config = load_config(project / "mailer.toml")
    sample = project / "issues" / "2018-03-iom-turkey.yaml"

    def render() -> str:
        with one_build():
            issue = load_issue(sample, block_dirs=template_dirs(config))
            return render_mjml(issue, config).mjml

    first = render()
    assert render() == first
    macro = project / "templates" / "network_link.mjml.j2"
    assert 'style="white-space:nowrap"' in first
    macro.write_text(
        macro.read_text(encoding="utf-8").replace("white-space:nowrap", "white-space:pre"),
        encoding="utf-8",
    )
    stat = macro.stat()
    os.utime(macro, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    second = render()
    assert 'style="white-space:nowrap"' not in second
    assert second.count('style="white-space:pre"') == first.count('style="white-space:nowrap"')


@pytest.mark.parametrize(
    ("translated", "subject", "fields"),
    [
        ("subject: Merhaba\n", "Merhaba", set()),
        ("subject: Selam {{ subscriber.first_name }}\n", "Selam %%first_name%%", {"first_name"}),
        # a double-quoted YAML escape spells the braces: no "{{" in the file's text
        ('subject: "Merhaba \\x7b\\x7b subscriber.name }}"\n', "Merhaba %%name%%", {"name"}),
    ],
)
def test_a_translation_that_brings_merge_fields_has_them_as_tokens(
    tmp_path: Path, translated: str, subject: str, fields: set[str]
) -> None:
    """The issue's values are tokenised for a language only when the issue or the
    translation may hold a merge field; what a translation brings is always found."""
    from mailer.build.issue import load_issue

    issue = tmp_path / "x.yaml"
    issue.write_text("subject: Hello\nblocks:\n  - {type: text, body: Hi}\n", encoding="utf-8")
    (tmp_path / "x.tr.yaml").write_text(translated, encoding="utf-8")
    loaded = load_issue(issue, lang="tr")
    assert loaded.subject == subject
    assert {ref.field for ref in loaded.merge_fields} == fields
    assert loaded.blocks[0].body == "Hi"


def test_an_image_a_translation_sets_outside_is_refused_at_the_translation(tmp_path: Path) -> None:
    """The translation's images are looked at again only when it sets a ``src``: one that
    points outside the issue's folder is refused, named in the translation file; a
    translation that sets texts only loads."""
    from mailer.build.issue import load_issue
    from mailer.errors import IssueError

    issues = tmp_path / "issues"
    (issues / "assets").mkdir(parents=True)
    (issues / "assets" / "a.jpg").write_bytes(b"jpg")
    (tmp_path / "secret.jpg").write_bytes(b"jpg")
    (issues / "assets" / "b.jpg").symlink_to(tmp_path / "secret.jpg")
    issue = issues / "x.yaml"
    issue.write_text(
        "subject: Hello\nblocks:\n"
        "  - type: image\n    id: pic\n    image: {src: assets/a.jpg, alt: A}\n",
        encoding="utf-8",
    )
    translation = issues / "x.tr.yaml"
    translation.write_text("subject: Merhaba\nblocks:\n  pic:\n    image: {alt: B}\n", "utf-8")
    assert load_issue(issue, lang="tr").blocks[0].image.alt == "B"
    translation.write_text(
        "subject: Merhaba\nblocks:\n  pic:\n    image: {src: assets/b.jpg, alt: B}\n", "utf-8"
    )
    with pytest.raises(IssueError) as caught:
        load_issue(issue, lang="tr")
    assert caught.value.location == str(translation)
    assert "'assets/b.jpg'" in str(caught.value)
