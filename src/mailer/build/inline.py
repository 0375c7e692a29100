"""CSS inlining: css-inline by default, premailer when ``inliner = "premailer"``.

Both are configured the same safe way: no network (no remote stylesheets), the
``<style>`` blocks kept (media queries for phones), ``!important`` kept, the
doctype and the MSO conditional comments kept.

Only the theme's own rules are inlined: the ``<style>`` block marked with the
comment ``/* mailer:inline */`` (the theme's ``mj-style``). MJML's reset and
responsive blocks stay in the head as MJML itself leaves them; inlining them onto
every table cell would add some 25 KB to an issue (Gmail clips at 102 KB).
css-inline then drops the rules it inlined from that block (every element they match
already carries them; rules that matched nothing stay): 0.4 KB less per issue.
When the block holds content rules only (``content_css``), :func:`compile_and_inline`
puts them into the content before MJML compiles instead, and this pass is not needed.

A theme with a ``@media (prefers-color-scheme: dark)`` block gets the ``color-scheme``
and ``supported-color-schemes`` metas (:func:`declare_color_schemes`), which tell Apple
Mail and Outlook.com/iOS/Android that it brings its own dark colours.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from ..errors import ConfigError, RenderError

INLINERS = ("css-inline", "premailer")
MARKER = "mailer:inline"
_CSS_INLINE_IGNORE = 'data-css-inline="ignore"'
_PREMAILER_IGNORE = 'data-premailer="ignore"'
_STYLE = re.compile(r"<style\b([^>]*)>(.*?)</style>", re.DOTALL | re.IGNORECASE)


def _mark(html: str, attribute: str) -> str:
    """Add *attribute* to every ``<style>`` block without the inline marker."""

    def sub(m: re.Match[str]) -> str:
        if MARKER in m[2]:
            return m[0]
        return f"<style{m[1]} {attribute}>{m[2]}</style>"

    return _STYLE.sub(sub, html)


def _unmark(html: str, attribute: str) -> str:
    return html.replace(f" {attribute}>", ">")


@functools.cache
def _css_inline() -> Any:
    import css_inline

    return css_inline.CSSInliner(
        keep_style_tags=True,
        keep_link_tags=False,
        load_remote_stylesheets=False,
        remove_inlined_selectors=True,
    )


def _premailer(html: str) -> str:
    try:
        import logging

        from premailer import Premailer
    except ImportError:
        raise ConfigError(
            'inliner = "premailer" but premailer is not installed',
            hint="pip install 'mailer[premailer]', or use the default css-inline.",
        ) from None
    doctype = ""
    stripped = html.lstrip()
    if stripped[:9].lower() == "<!doctype":
        doctype = stripped[: stripped.index(">") + 1]
    out: str = Premailer(
        _mark(html, _PREMAILER_IGNORE),
        allow_network=False,
        strip_important=False,
        keep_style_tags=True,
        remove_classes=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    ).transform(pretty_print=False)
    if doctype and out.lstrip()[:9].lower() != "<!doctype":
        out = f"{doctype}\n{out}"
    return _unmark(out, _PREMAILER_IGNORE)


_SCHEMES = (
    '<meta name="color-scheme" content="light dark">'
    '<meta name="supported-color-schemes" content="light dark">'
)


def declare_color_schemes(html: str) -> str:
    """*html* with the light/dark ``color-scheme`` metas at the end of its head when a
    ``<style>`` of it has a ``prefers-color-scheme`` media query and it declares none."""
    end = html.find("</head>")  # the head is searched, the body is copied once
    if (
        end == -1
        or html.find("prefers-color-scheme", 0, end) == -1
        or html.find('name="color-scheme"', 0, end) != -1
    ):
        return html
    return html.replace("</head>", f"{_SCHEMES}</head>", 1)


def compile_and_inline(mjml: str, inliner: str = "css-inline") -> str:
    """The HTML document of *mjml* with the theme's rules inlined: into the content
    before compiling when :func:`.content_css.inline_content` can, else into the whole
    compiled document (:func:`inline_css`)."""
    from .compile import compile_mjml
    from .content_css import inline_content

    staged = inline_content(mjml) if inliner == "css-inline" else None
    if staged is None:
        return inline_css(compile_mjml(mjml), inliner)
    return declare_color_schemes(compile_mjml(staged))


def inline_css(html: str, inliner: str = "css-inline") -> str:
    """*html* with its CSS inlined into ``style`` attributes by *inliner* (and the
    color-scheme metas of :func:`declare_color_schemes`)."""
    return declare_color_schemes(_inline(html, inliner))


def _inline(html: str, inliner: str) -> str:
    if inliner == "css-inline":
        try:
            out: str = _css_inline().inline(_mark(html, _CSS_INLINE_IGNORE))
        except ValueError as exc:
            raise RenderError(f"CSS inlining failed: {exc}") from None
        return _unmark(out, _CSS_INLINE_IGNORE)
    if inliner == "premailer":
        return _premailer(html)
    raise ConfigError(f"unknown inliner {inliner!r}", hint=f"use one of {', '.join(INLINERS)}.")
