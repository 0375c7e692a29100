"""MJML → HTML with mjml-python (MRML, in process, well under a millisecond per issue).

mjml-python raises only on XML errors; unknown tags and bad attribute values pass
silently, which is why the tests also validate our MJML with the MJML reference
(npm ``mjml@5``, ``validationLevel: "strict"``).
"""

from __future__ import annotations

import re
import unicodedata

from ..errors import RenderError

#: what MRML writes that mail clients do not support (caniemail: Gmail ignores ``target``
#: and ``cursor``); removing it changes nothing a reader sees
_UNSUPPORTED = (' target="_blank"', "cursor:auto;")
#: MRML's rules for mj-image ``full-width="full-width"``; chained selectors (``table.x``) are
#: unsupported in Outlook.com, and the theme never uses the class
_FULL_WIDTH = (
    "table.mj-full-width-mobile { width: 100% !important; }",
    "td.mj-full-width-mobile { width: auto !important; }",
)
#: MRML's copy of the column widths for Thunderbird (``.moz-text-html .mj-column-per-50``):
#: descendant selectors are unsupported in Outlook.com; Thunderbird reads the @media block
_MOZ = re.compile(r'<style media="[^"]*">\.moz-text-html[^<]*</style>')


#: mjml-python 1.4 (MRML) writes a combining mark inside an attribute as Rust's debug
#: escape: Arabic "معاً" in an alt text came out as ``معا\u{64b}``
_RUST_ESCAPE = re.compile(r"\\u\{([0-9a-fA-F]{1,6})\}")


def _restore_mark(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if unicodedata.category(char).startswith("M") else match.group(0)


def tidy(html: str) -> str:
    """*html* without what the target clients do not support, and with combining marks that
    MRML escaped in attributes (harakat, tanween, decomposed accents) restored.

    Plain string operations, as few whole-document passes and copies as it takes (a search
    through 70 KB of non-Latin-1 text costs some 40 µs, a copy of it as much, a regular
    expression a millisecond): the unsupported texts are found in the body, the head's
    rules are removed from the head, and the document is joined once. What the texts'
    removal could change beyond that (one in the head, or a removal that brings a new
    one together) takes the long way, :func:`tidy_whole`, which gives the same."""
    if "\\" in html and "\\u{" in html:  # one character first: a fast scan
        html = _RUST_ESCAPE.sub(_restore_mark, html)
    end = html.find("</head>")
    if end == -1:
        end = len(html)
    cuts = _cuts(html, end)
    if cuts is None:
        return tidy_whole(html)
    pieces = [_tidy_head(html[:end], html)]
    at = end
    for start, stop in cuts:
        pieces.append(html[at:start])
        at = stop
    pieces.append(html[at:])
    return "".join(pieces)


#: what a removal could bring together: the unsupported texts and the class the head's
#: full-width rules depend on
_JOINABLE = (*_UNSUPPORTED, 'class="mj-full-width-mobile"')
_REACH = max(len(text) for text in _JOINABLE)


def _cuts(html: str, end: int) -> list[tuple[int, int]] | None:
    """Where the unsupported texts are in *html* (start, stop; in order), or None when one
    is in the head (before *end*), two are close, or a removal could bring a new one (or
    the full-width class) together: what :func:`tidy_whole` would do differently."""
    cuts: list[tuple[int, int]] = []
    for text in _UNSUPPORTED:
        start = html.find(text)
        while start != -1:
            if start < end:
                return None
            cuts.append((start, start + len(text)))
            start = html.find(text, start + len(text))
    cuts.sort()
    last = -_REACH
    for start, stop in cuts:
        if start - last < _REACH:
            return None
        around = html[max(0, start - _REACH) : start] + html[stop : stop + _REACH]
        if any(text in around for text in _JOINABLE):
            return None
        last = stop
    return cuts


def _tidy_head(head: str, html: str) -> str:
    """The head without MRML's full-width rules (unless *html* uses the class) and without
    the Thunderbird copy of the column widths."""
    if 'class="mj-full-width-mobile"' not in html:
        for text in _FULL_WIDTH:
            head = head.replace(text, "")
    start = head.find('<style media="')
    while start != -1:  # the first such block that is the Thunderbird copy
        found = _MOZ.match(head, start)
        if found:
            return head[:start] + head[found.end() :]
        start = head.find('<style media="', start + 1)
    return head


def tidy_whole(html: str) -> str:
    """:func:`tidy` by whole-document replacements (after the marks are restored)."""
    for text in _UNSUPPORTED:
        html = html.replace(text, "")
    end = html.find("</head>")
    if end == -1:
        end = len(html)
    return _tidy_head(html[:end], html) + html[end:]


def compile_mjml(mjml: str) -> str:
    """The HTML document of *mjml*. Raises :class:`RenderError` when the MJML is not valid XML."""
    import mjml as mjml_python

    try:
        html: str = mjml_python.mjml2html(mjml, disable_comments=True, fonts={})
    except (ValueError, RuntimeError) as exc:
        raise RenderError(
            f"the MJML could not be compiled: {exc}",
            hint="a template produced invalid MJML; run `mailer build` and read index.mjml.",
        ) from None
    return tidy(html)
