"""Outgoing links: UTM parameters, share URLs and the list of links of a render.

Small pure functions; :class:`LinkCollector` records each link once (by URL)
with the block it belongs to and its kind, as :class:`mailer.rendered.Link`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from ..rendered import Link

SHARE_NETWORKS = ("facebook", "x", "linkedin", "whatsapp", "email")
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content")


def with_params(url: str, params: dict[str, str]) -> str:
    """*url* with *params* added; existing query parameters are kept, except those
    *params* replaces (e.g. an old ``utm_source``)."""
    if not url.startswith(("http://", "https://")):
        return url
    return _with_params(url, tuple(params.items()))


@functools.lru_cache(maxsize=4096)
def _with_params(url: str, params: tuple[tuple[str, str], ...]) -> str:
    keys = {k for k, _ in params}
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in keys]
    query.extend(params)
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def add_utm(url: str, *, source: str, medium: str, campaign: str, content: str | None) -> str:
    """*url* with ``utm_source/medium/campaign`` (and ``utm_content`` when given)."""
    params = {"utm_source": source, "utm_medium": medium, "utm_campaign": campaign}
    if content:
        params["utm_content"] = content
    return with_params(url, params)


def shared_url(url: str, network: str, campaign: str) -> str:
    """The URL a reader shares on *network*: ``utm_source=<network>&utm_medium=social``."""
    return with_params(
        url, {"utm_source": network, "utm_medium": "social", "utm_campaign": campaign}
    )


#: what ``quote(text, safe="")`` encodes, by runs: all but letters, digits and ``_.-~``
_RESERVED = re.compile(r"([^A-Za-z0-9_.~-]+)")
#: the encoding of each ASCII character
_ASCII_QUOTED = {chr(code): f"%{code:02X}" for code in range(128)}


def quote_all(text: str) -> str:
    """``urllib.parse.quote(text, safe="")``: every byte but letters, digits and ``_.-~``
    percent-encoded (UTF-8), by runs of characters instead of byte by byte (a render
    quotes some 40 share links, and an Arabic title is all such bytes): the text is cut
    at its runs (no call per run from the regular expression), each run encoded at once."""
    parts = _RESERVED.split(text)
    quoted = _ASCII_QUOTED.get
    for i in range(1, len(parts), 2):
        run = parts[i]
        parts[i] = quoted(run) or "%" + run.encode("utf-8").hex("%").upper()
    return "".join(parts)


def share_url(network: str, url: str, title: str) -> str:
    """The link that shares *url* (titled *title*) on *network*.

    Only the email carries the title (as its subject): the networks read the title
    from the page, and an encoded title (six bytes per Arabic letter) in every share
    link would cost kilobytes of the 102 KB Gmail allows."""
    u = quote_all(url)
    if network == "facebook":
        return f"https://www.facebook.com/sharer/sharer.php?u={u}"
    if network == "x":
        return f"https://twitter.com/intent/tweet?url={u}"
    if network == "linkedin":
        return f"https://www.linkedin.com/sharing/share-offsite/?url={u}"
    if network == "whatsapp":
        return f"https://api.whatsapp.com/send?text={u}"
    if network == "email":
        return f"mailto:?subject={quote_all(title)}&body={u}"
    raise ValueError(f"unknown share network {network!r}")


class LinkCollector:
    """Builds the hrefs of one render and remembers each link once."""

    def __init__(
        self, *, campaign: str, utm: bool, source: str = "newsletter", medium: str = "email"
    ) -> None:
        self.campaign = campaign
        self.utm = utm
        self.source = source
        self.medium = medium
        self._links: dict[str, Link] = {}
        self._utm = (
            ("utm_source", source),
            ("utm_medium", medium),
            ("utm_campaign", campaign),
        )

    def add(self, url: str, block: str, kind: str = "other") -> str:
        """The href for *url* in *block* (UTM added when on); recorded as a link."""
        href = url
        if self.utm and url.startswith(("http://", "https://")):
            # add_utm's parameters, in its order, without building a dict per link
            params = (*self._utm, ("utm_content", block)) if block else self._utm
            href = _with_params(url, params)
        if href not in self._links and not href.startswith("%%"):
            self._links[href] = Link(url=href, block=block, kind=kind)
        return href

    def share(self, url: str, title: str, block: str) -> list[tuple[str, str]]:
        """(network, href) share links of a story at *url*."""
        out = []
        for network in SHARE_NETWORKS:
            href = share_url(network, shared_url(url, network, self.campaign), title)
            if href not in self._links:
                self._links[href] = Link(url=href, block=block, kind=f"share:{network}")
            out.append((network, href))
        return out

    @property
    def links(self) -> tuple[Link, ...]:
        return tuple(self._links.values())


_HREF = re.compile(r'href="([^"]*)"')


@functools.lru_cache(maxsize=1024)
def _href_parts(html: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """*html* cut at its ``href="…"`` values: the texts around them and each value
    unescaped (a story's Markdown is parsed once, its links are made per render)."""
    import html as htmllib

    pieces = _HREF.split(html)
    return tuple(pieces[0::2]), tuple(htmllib.unescape(url) for url in pieces[1::2])


def rewrite_hrefs(html: str, fn: Callable[[str], str]) -> str:
    """*html* with each ``href="…"`` value passed (unescaped) through *fn*."""
    if 'href="' not in html:
        return html
    import html as htmllib

    texts, urls = _href_parts(html)
    out = [texts[0]]
    for url, text in zip(urls, texts[1:], strict=True):
        out.append(f'href="{htmllib.escape(fn(url), quote=True)}"')
        out.append(text)
    return "".join(out)
