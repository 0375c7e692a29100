"""The theme's inline rules applied to the content alone, before MJML is compiled.

A theme's ``/* mailer:inline */`` block styles what editors write: the paragraphs,
headings, links and lists their Markdown becomes inside ``mj-text`` (and a button's
label). Inlining them into the whole compiled document (:func:`.inline.inline_css`)
means parsing and writing out some 70 KB of MJML's tables to reach 20 KB of content;
this module inlines them into each ``mj-text``/``mj-button`` content of the MJML
instead (css-inline's ``inline_fragment``), drops the block, and the compiled document
needs no inlining pass. Same styles on the same content elements, in about a third
of the time.

It applies only where that gives the reader the same thing, else :func:`inline_content`
returns ``None`` and the whole document is inlined as before:

* every selector of the block is made of element names with descendant or child
  combinators (``p``, ``h3 a``, ``ul > li``): a class, an id, an attribute, a pseudo-class
  or an at-rule could aim at what MJML writes around the content;
* no selector names an element MJML writes for its layout (``div``, ``table``, ``td``,
  ``img`` ...), which only the whole-document pass reaches;
* the MJML has no component whose content is other HTML (``mj-raw``, ``mj-table``,
  ``mj-navbar``, ``mj-social``, ``mj-accordion``), which only the whole-document pass
  reaches.

MJML's own ``<a>`` of a button and ``<p>`` of a divider carry their own inline colours,
margins and fonts, which win over a theme's ``a``/``p`` rules in the whole-document pass
too.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from ..errors import RenderError

MARKER = "mailer:inline"
#: an element's open tag from its ``<``: attribute values may hold ``>``
_OPEN = re.compile(r"""<mj-(text|button)\b(?:[^>"']|"[^"]*"|'[^']*')*>""")
_STYLED = ("<mj-text", "<mj-button")
#: components whose content is HTML other than an ``mj-text``'s or a button's label
_OTHER_HTML = ("<mj-raw", "<mj-table", "<mj-navbar", "<mj-social", "<mj-accordion")
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_SELECTOR = re.compile(r"[a-z][a-z0-9]*(?:\s*>\s*[a-z][a-z0-9]*|\s+[a-z][a-z0-9]*)*")
#: elements MJML writes for its layout (and the document's own)
_LAYOUT = frozenset(
    [
        "html",
        "head",
        "body",
        "meta",
        "title",
        "style",
        "link",
        "div",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "td",
        "th",
        "img",
        "center",
    ]
)


def content_only(css: str) -> bool:
    """Whether every rule of *css* (the marked block's text) selects by element names
    only, none of them one MJML writes for its layout."""
    text = _COMMENT.sub("", css)
    if "@" in text:
        return False
    rules = text.split("}")
    if rules[-1].strip():
        return False  # text after the last rule: not a stylesheet this check understands
    for rule in rules[:-1]:
        selectors, brace, _declarations = rule.partition("{")
        if not brace:
            return False
        for selector in selectors.split(","):
            selector = selector.strip().lower()
            if not _SELECTOR.fullmatch(selector):
                return False
            if _LAYOUT.intersection(selector.replace(">", " ").split()):
                return False
    return True


@functools.cache
def _inliner() -> Any:
    import css_inline

    return css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=True)


def _blocks(mjml: str) -> tuple[str, list[str]]:
    """*mjml* without its ``mj-style`` blocks that hold the marker, and their texts."""
    texts: list[str] = []
    parts: list[str] = []
    done = 0
    at = mjml.find(MARKER)
    while at != -1:
        start = mjml.rfind("<mj-style", done, at)
        open_end = mjml.find(">", start) + 1
        end = mjml.find("</mj-style>", at)
        if start == -1 or open_end == 0 or open_end > at or end == -1:
            break  # the marker outside an mj-style (a comment, a text): not a block
        texts.append(mjml[open_end:end])
        parts.append(mjml[done:start])
        done = end + len("</mj-style>")
        at = mjml.find(MARKER, done)
    parts.append(mjml[done:])
    return "".join(parts), texts


def _contents(mjml: str) -> list[tuple[int, int]] | None:
    """Where the content of each ``mj-text`` and ``mj-button`` of *mjml* starts and ends
    (those with an element in it), or ``None`` when *mjml* has a component whose content
    is other HTML or an element is not closed."""
    spans: list[tuple[int, int]] = []
    at = mjml.find("<mj-")
    while at != -1:
        if mjml.startswith(_OTHER_HTML, at):
            return None
        tag = _OPEN.match(mjml, at) if mjml.startswith(_STYLED, at) else None
        if tag is None or tag[0].endswith("/>"):  # another component, or an empty one
            at = mjml.find("<mj-", at + 4)
            continue
        close = f"</mj-{tag[1]}>"
        end = mjml.find(close, tag.end())
        if end == -1:
            return None  # not well formed: MJML's own error comes from the whole pass
        if mjml.find("<", tag.end(), end) != -1:  # text alone: nothing for a rule to style
            spans.append((tag.end(), end))
        at = mjml.find("<mj-", end + len(close))
    return spans


def inline_content(mjml: str) -> str | None:
    """*mjml* with its ``mailer:inline`` rules copied into the content of its ``mj-text``
    and ``mj-button`` elements and the block removed; ``None`` when the rules or the MJML
    need the whole-document pass (see the module's text), or when there is no block.

    Plain searches rather than regular expressions over the document (a lazy match
    through 20 KB of content costs ten times the searches)."""
    rest, texts = _blocks(mjml)
    if not texts:
        return None
    css = "\n".join(texts)
    spans = _contents(rest) if content_only(css) else None
    if spans is None:
        return None
    inliner = _inliner()
    parts: list[str] = []
    done = 0
    for start, end in spans:
        try:
            styled: str = inliner.inline_fragment(rest[start:end], css)
        except ValueError as exc:
            raise RenderError(f"CSS inlining failed: {exc}") from None
        parts += (rest[done:start], styled)
        done = end
    parts.append(rest[done:])
    return "".join(parts)
