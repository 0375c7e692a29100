"""The small HTML pages of ``mailer serve``: unsubscribe form and answers.

Plain, accessible pages: ``lang`` and a title, one heading, a real ``<form>`` with one
button (no JavaScript needed), readable at any width, no outside resources.
"""

from __future__ import annotations

import html

_SHELL = """<!doctype html>
<html lang="{lang}"{dir}>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>
{style}</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""

_STYLE = """body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;
background:#f2f4f7;color:#1f2933;line-height:1.5}
main{max-width:32rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px}
h1{font-size:1.4rem;margin-top:0}
button{font:inherit;font-size:1.05rem;padding:.7rem 1.4rem;border:0;border-radius:6px;
background:#0033a0;color:#fff;cursor:pointer}
button:focus{outline:3px solid #f5a623;outline-offset:2px}
"""


def document(title: str, style: str, body: str, lang: str = "en", dir_attr: str = "") -> str:
    """The HTML page every ``mailer serve`` page is (this module's and
    :mod:`mailer.web.readerpages`'): *style* (CSS) in the head, *body* (already HTML) in
    ``main``; *dir_attr* is ``' dir="rtl"'`` or empty."""
    return _SHELL.format(
        lang=escape(lang), dir=dir_attr, title=escape(title), style=style, body=body
    )


def escape(value: str) -> str:
    """HTML-escape *value* (quotes too)."""
    return html.escape(value, quote=True)


def page(title: str, body: str) -> str:
    """A whole page around *body* (already HTML)."""
    return document(title, _STYLE, body)


def _write_to(org: str, mailto: str) -> str:
    """ "write to <mailto> and <org> will remove you." (HTML)."""
    m = escape(mailto)
    return (
        f'write to <a href="mailto:{m}?subject=unsubscribe">{m}</a> and {escape(org)} will '
        "remove you."
    )


def unsubscribe_form(org: str, newsletter: str | None = None) -> str:
    """GET /u/: one button that POSTs the RFC 8058 body to the same address."""
    o, n = escape(org), escape(newsletter or org)
    return page(
        f"Unsubscribe from {newsletter or org}",
        f"<h1>Unsubscribe from {n}</h1>\n"
        f"<p>Press the button to stop receiving the newsletter of {o}.</p>\n"
        '<form method="post">\n'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">\n'
        '<button type="submit">Unsubscribe</button>\n'
        "</form>",
    )


def unsubscribed(org: str) -> str:
    """POST /u/: done (also when it was already done)."""
    o = escape(org)
    return page(
        "You are unsubscribed",
        f"<h1>You are unsubscribed</h1>\n<p>{o} will not send you the newsletter again.</p>",
    )


def invalid_link(org: str, mailto: str) -> str:
    """/u/ with a token that does not verify."""
    return page(
        "This link is not valid",
        "<h1>This unsubscribe link is not valid</h1>\n"
        "<p>It may have been cut short when it was copied. Use the link in the email "
        f"again, or {_write_to(org, mailto)}</p>",
    )


def how_to_leave(org: str, mailto: str) -> str:
    """/leave: what the unsubscribe link of the public "view in browser" page shows."""
    return page(
        "How to unsubscribe",
        "<h1>How to unsubscribe</h1>\n"
        "<p>Every newsletter email has its own unsubscribe link at the bottom: use the one "
        f"in the email you received. Or {_write_to(org, mailto)}</p>",
    )


def try_again(org: str, mailto: str) -> str:
    """POST /u/ when the database cannot be written: nothing was changed."""
    return page(
        "Please try again",
        "<h1>We could not unsubscribe you just now</h1>\n"
        f"<p>Please press the button again in a minute, or {_write_to(org, mailto)}</p>",
    )
