"""The theme's inline rules applied to the content before compiling (issue 15) give every
element the styles the whole-document pass gives it, and the whole-document pass is kept
wherever a rule or a component could reach what MJML writes around the content."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailer.build.compile import compile_mjml
from mailer.build.content_css import content_only, inline_content
from mailer.build.images import one_build
from mailer.build.inline import compile_and_inline, inline_css
from mailer.build.issue import load_issue
from mailer.build.render import render_mjml, template_dirs
from mailer.config import load_config

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = [
    ("issues/2018-03-iom-turkey.yaml", "en"),
    ("issues/2018-03-iom-turkey.yaml", "ar"),
    ("issues/2027-q1-harvest-bridge.yaml", "en"),
]


class _Styles(HTMLParser):
    """Every element of a document's body in order: its tag, its attributes but ``style``,
    and its style declarations as a dict (formatting and entity spelling set aside)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None], dict[str, str]]] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        style = dict(attrs).pop("style", None) or ""
        declarations = {}
        for part in style.split(";"):
            name, colon, value = part.partition(":")
            if colon:
                declarations[name.strip().lower()] = " ".join(value.split())
        others = {k: v for k, v in attrs if k != "style"}
        self.elements.append((tag, others, declarations))


def _elements(html: str) -> list[tuple[str, dict[str, str | None], dict[str, str]]]:
    body = html[html.index("<body") :]
    parser = _Styles()
    parser.feed(body)
    return parser.elements


def _sample_mjml(issue: str, lang: str) -> str:
    path = ROOT / issue
    config = load_config(ROOT / "mailer.toml")
    with one_build():
        loaded = load_issue(
            path,
            lang=None if lang == "en" else lang,
            default_language="en",
            block_dirs=template_dirs(config),
        )
        return render_mjml(loaded, config).mjml


@pytest.mark.parametrize(("issue", "lang"), SAMPLES)
def test_content_rules_give_each_element_the_whole_document_styles(issue: str, lang: str) -> None:
    mjml = _sample_mjml(issue, lang)
    assert inline_content(mjml) is not None, "the sample theme's rules are content rules"
    whole = _elements(inline_css(compile_mjml(mjml)))
    content = _elements(compile_and_inline(mjml))
    assert len(whole) == len(content)
    styled = 0
    for (tag, attrs, old), (new_tag, new_attrs, new) in zip(whole, content, strict=True):
        assert (tag, attrs) == (new_tag, new_attrs)
        if tag in ("p", "h1", "h2", "h3") or (tag == "a" and "color" in new):
            styled += 1
        if old != new:
            # MJML's own link around an image got the theme's colour from the whole-document
            # pass; a colour shows on nothing there
            assert tag == "a" and {k: v for k, v in old.items() if k != "color"} == new, (
                tag,
                attrs,
                old,
                new,
            )
    assert styled > 20  # the content did get the theme's styles


def test_the_block_is_gone_and_its_rules_are_in_the_content() -> None:
    mjml = (
        '<mjml lang="en"><mj-head><mj-style>/* mailer:inline */ h2 { color: #123456 !important; }'
        " h3 a { color: #654321; } </mj-style><mj-style>@media (prefers-color-scheme: dark) "
        "{ h2 { color: #fff !important; } }</mj-style></mj-head><mj-body><mj-section><mj-column>"
        '<mj-text><h2>Hi</h2><h3><a href="https://example.org/">There</a></h3></mj-text>'
        '<mj-button href="https://example.org/">Go <b>now</b></mj-button><mj-text />'
        "</mj-column></mj-section></mj-body></mjml>"
    )
    staged = inline_content(mjml)
    assert staged is not None and "mailer:inline" not in staged
    assert "prefers-color-scheme" in staged  # the other block stays
    out = compile_and_inline(mjml)
    assert re.search(r'<h2 style="[^"]*color: ?#123456 ?!important', out), out
    assert re.search(r'<a href="https://example.org/" style="color: ?#654321', out), out
    assert 'name="color-scheme"' in out  # the metas of declare_color_schemes


@pytest.mark.parametrize(
    "css",
    [
        ".m-content p { color: red; }",  # a class: could aim at MJML's own elements
        "td { padding: 0; }",  # an element MJML writes for its layout
        "h2 img { border: 0; }",
        "a:hover { color: red; }",
        "p[lang] { color: red; }",
        "@media (max-width: 480px) { p { margin: 0; } }",
        "p + p { margin: 0; }",
        "p { color: red; } stray",
    ],
)
def test_rules_that_may_reach_the_layout_keep_the_whole_document_pass(css: str) -> None:
    assert not content_only(css)
    mjml = (
        f"<mjml><mj-head><mj-style>/* mailer:inline */ {css}</mj-style></mj-head><mj-body>"
        "<mj-section><mj-column><mj-text><p>Hi</p></mj-text></mj-column></mj-section>"
        "</mj-body></mjml>"
    )
    assert inline_content(mjml) is None


def test_content_rules_pass_the_check() -> None:
    assert content_only("/* mailer:inline */ p { margin: 0 0 12px; }\nh1, h2 { margin: 0 }")
    assert content_only("ul > li { margin: 0; } h3 a { color: #1F2933; text-decoration: none; }")


@pytest.mark.parametrize("component", ["mj-raw", "mj-table", "mj-social", "mj-navbar"])
def test_other_html_components_keep_the_whole_document_pass(component: str) -> None:
    inner = "<p>Hi</p>" if component == "mj-raw" else "<tr><td>Hi</td></tr>"
    mjml = (
        "<mjml><mj-head><mj-style>/* mailer:inline */ p { color: #123456; }</mj-style>"
        f"</mj-head><mj-body><mj-section><mj-column><{component}>{inner}</{component}>"
        "</mj-column></mj-section></mj-body></mjml>"
    )
    assert inline_content(mjml) is None
    if component == "mj-raw":  # and the whole-document pass reaches the raw HTML
        assert re.search(r'<p style="color: ?#123456', compile_and_inline(mjml))


def test_no_marked_block_no_inlining() -> None:
    mjml = (
        "<mjml><mj-body><mj-section><mj-column><mj-text><p>Hi</p></mj-text></mj-column>"
        "</mj-section></mj-body></mjml>"
    )
    assert inline_content(mjml) is None
