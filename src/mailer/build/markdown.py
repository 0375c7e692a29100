"""Markdown in issue texts → sanitised HTML, and → plain text for the text part.

Raw HTML in an issue is not rendered (markdown-it's ``html`` option is off), and the
result goes through nh3 with a short allow-list: no ``<script>``, no ``style``
attributes, no event handlers, and links only to https, http or mailto. So an issue
file can neither inject script nor break the email's layout.

Rendered texts are kept in a :class:`~mailer.build.cache.TextCache` keyed by this
module's source and the installed markdown-it and nh3, so a build whose texts did not
change since the last one does not import markdown-it at all (about 40 ms a process).
"""

from __future__ import annotations

import functools
import html as htmllib
import re
from typing import Any

#: tags a story body may produce
ALLOWED_TAGS = frozenset(
    {"p", "br", "a", "strong", "em", "b", "i", "ul", "ol", "li", "blockquote", "code", "h3", "h4"}
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = frozenset({"https", "http", "mailto"})


@functools.cache
def _parser() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "typographer": False, "breaks": False})
    md.disable(["image", "code", "fence", "table"], ignoreInvalid=True)
    return md


def sanitize(html: str) -> str:
    """Keep only the allowed tags, attributes and URL schemes."""
    import nh3

    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=None,
        strip_comments=True,
    )


def _version() -> str:
    """What the HTML of a text depends on besides the text: this module's source and the
    installed markdown-it and nh3 (their files' sizes and times), without importing them."""
    import importlib.util
    import os

    parts = [__file__, str(os.stat(__file__).st_mtime_ns)]
    for name in ("markdown_it", "nh3"):
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec else None
        if origin and os.path.exists(origin):
            stat = os.stat(origin)
            parts += [origin, str(stat.st_size), str(stat.st_mtime_ns)]
        else:
            parts.append(f"{name}: not found")
    return "\n".join(parts)


@functools.cache
def _store() -> Any:
    from .cache import TextCache

    return TextCache("markdown", _version())


@functools.lru_cache(maxsize=512)
def to_html(text: str) -> str:
    """Render Markdown *text* to sanitised HTML (paragraphs, emphasis, lists, links)."""
    if not text.strip():
        return ""
    store = _store()
    html = store.get(text)
    if html is None:
        html = sanitize(_parser().render(text)).strip()
        store.put(text, html)
    return str(html)


_BLOCK_END = re.compile(r"</(p|li|h3|h4|blockquote)>|<br\s*/?>", re.IGNORECASE)
_LINK = re.compile(r'<a\s[^>]*?href="([^"]*)"[^>]*>(.*?)</a>', re.IGNORECASE | re.DOTALL)
_LI = re.compile(r"<li>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def html_to_text(html: str) -> str:
    """Plain text of sanitised HTML: paragraphs separated by blank lines, links as
    ``text (url)``, list items as ``- item``."""
    if not html:
        return ""

    def link(m: re.Match[str]) -> str:
        url, label = htmllib.unescape(m[1]), _TAG.sub("", m[2]).strip()
        return f"{label} ({url})" if label and label != url else url

    text = _LINK.sub(link, html)
    text = _LI.sub("- ", text)
    text = _BLOCK_END.sub("\n\n", text)
    text = htmllib.unescape(_TAG.sub("", text))
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def to_text(text: str) -> str:
    """Markdown *text* as plain text (same words as its HTML)."""
    return html_to_text(to_html(text))
