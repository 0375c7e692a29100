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

    Plain string operations, as few whole-document passes as it takes (a search through
    70 KB of non-Latin-1 text costs some 40 µs, a regular expression a millisecond): the
    rules MRML writes in the head's ``<style>`` blocks are removed from the head only."""
    if "\\" in html and "\\u{" in html:  # one character first: a fast scan
        html = _RUST_ESCAPE.sub(_restore_mark, html)
    for text in _UNSUPPORTED:
        html = html.replace(text, "")
    end = html.find("</head>")
    if end == -1:
        end = len(html)
    head = html[:end]
    if 'class="mj-full-width-mobile"' not in html:
        for text in _FULL_WIDTH:
            head = head.replace(text, "")
    start = head.find('<style media="')
    while start != -1:  # the first such block that is the Thunderbird copy
        found = _MOZ.match(head, start)
        if found:
            head = head[:start] + head[found.end() :]
            break
        start = head.find('<style media="', start + 1)
    return head + html[end:]


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
