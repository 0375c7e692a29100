"""The archive's index page and its Atom feed (RFC 4287), from :class:`ArchivedIssue` rows.

The index is a plain, accessible page (``lang``, a title, one ``h1``, a section per language
with its issues newest first, no script, no outside resource); each issue page is the stored
email itself, made impersonal by :mod:`.contents`.
"""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import UTC, datetime
from xml.sax.saxutils import escape as xml_escape

from ..config import Config
from .contents import ArchivedIssue

_PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="alternate" type="application/atom+xml" title="{title}" href="{feed}">
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;
background:#f2f4f7;color:#1f2933;line-height:1.5}}
main{{max-width:40rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border-radius:8px}}
h1{{font-size:1.5rem;margin-top:0}} h2{{font-size:1.15rem;margin-top:1.5rem}}
ul{{padding-left:1.2rem}} li{{margin:.4rem 0}} a{{color:{link}}} time{{color:#4a5561}}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
{body}
<p><a href="{feed}">Atom feed</a></p>
</main>
</body>
</html>
"""


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _title(config: Config) -> str:
    s = config.settings
    return f"{s.name}: past issues"


def index_page(issues: list[ArchivedIssue], config: Config, *, prefix: str, feed: str) -> str:
    """The archive's index: a section per language (the default first), newest first."""
    by_lang: dict[str, list[ArchivedIssue]] = defaultdict(list)
    for issue in issues:
        by_lang[issue.language].append(issue)
    default = config.settings.default_language
    order = sorted(by_lang, key=lambda code: (code != default, code))
    parts = []
    for code in order:
        items = "\n".join(
            f'<li><a href="{_e(prefix + i.path)}" lang="{_e(i.language)}" dir="auto">'
            f"{_e(i.subject)}</a> "
            f'<time datetime="{i.sent_at:%Y-%m-%d}">{i.sent_at:%Y-%m-%d}</time></li>'
            for i in sorted(by_lang[code], key=lambda i: i.sent_at, reverse=True)
        )
        parts.append(
            f'<section aria-labelledby="lang-{_e(code)}">\n'
            f'<h2 id="lang-{_e(code)}">Language: {_e(code)}</h2>\n<ul>\n{items}\n</ul>\n</section>'
        )
    body = "\n".join(parts) or "<p>No issue has been published here yet.</p>"
    return _PAGE.format(
        lang=_e(default),
        title=_e(_title(config)),
        body=body,
        feed=_e(feed),
        link=_e(config.settings.brand.primary_color),
    )


def _stamp(value: datetime) -> str:
    return value.replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def atom_feed(issues: list[ArchivedIssue], config: Config, *, url: str) -> str:
    """The Atom feed of *issues*; *url* is the archive's absolute address (ending in /)."""
    updated = max((i.sent_at for i in issues), default=datetime(2000, 1, 1))
    entries = []
    for i in issues:
        link = url + i.path
        entries.append(
            "<entry>\n"
            f"<id>{xml_escape(link)}</id>\n"
            f"<title>{xml_escape(i.subject)}</title>\n"
            f"<updated>{_stamp(i.sent_at)}</updated>\n"
            f'<link rel="alternate" type="text/html" hreflang="{xml_escape(i.language)}" '
            f'href="{xml_escape(link)}"/>\n'
            f"<summary>{xml_escape(i.summary())}</summary>\n"
            "</entry>"
        )
    s = config.settings
    author = s.organisation or s.name
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{xml_escape(s.default_language)}">\n'
        f"<id>{xml_escape(url)}</id>\n"
        f"<title>{xml_escape(_title(config))}</title>\n"
        f"<updated>{_stamp(updated)}</updated>\n"
        f"<author><name>{xml_escape(author)}</name></author>\n"
        f'<link rel="alternate" type="text/html" href="{xml_escape(url)}"/>\n'
        f'<link rel="self" type="application/atom+xml" href="{xml_escape(url + "feed.xml")}"/>\n'
        + "\n".join(entries)
        + "\n</feed>\n"
    )
