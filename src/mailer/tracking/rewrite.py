"""Per-campaign link tracking: register every link once, rewrite it once.

Contract used by the sender (once per campaign and language, never per recipient)::

    prepared = prepare(conn, campaign_id, rendered, config)

* every ``rendered.links`` entry becomes a ``links`` row (campaign × target × block ×
  kind × language), reused when the same campaign and language are prepared again;
* with ``tracking.base_url`` set, each ``http(s)`` href of the HTML and each such URL of
  the text part becomes ``<base>/c/<link token>/%%r%%`` (``/c/<link token>`` when
  ``tracking.anonymous``), and share links by email (``mailto:``) go the same way;
* with ``tracking.opens`` (and not anonymous), the open pixel ``<base>/o/%%r%%`` is
  added at the end of the body;
* ``%%view_url%%`` becomes ``<base>/v/<view token>`` (a signed token: campaign ids are
  guessable, so a campaign's page is reachable only from its own issue); without a base
  URL it becomes the organisation's website (or a mailto to the sender).

Targets are stored as URIs (:func:`iri_to_uri`): a link to
``https://example.org/haber/gaziantep-şehri`` is kept percent-encoded as UTF-8 (the host
IDNA-encoded), so ``/c/`` can always put it in a ``Location`` header.

Without ``tracking.base_url`` links are registered (so stats can attribute SendGrid's
own click events by UTM) but hrefs are left alone. ``%%r%%`` and
``%%unsubscribe_url%%`` are left for the sender to fill per recipient.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .. import db
from ..config import Config
from ..rendered import VIEW_URL, Link, Rendered
from .tokens import SECRET_ENV, Signer, load_key

RECIPIENT_TOKEN = "%%r%%"
_HREF_RE = re.compile(r'(\bhref\s*=\s*)(["\'])(.*?)\2', re.IGNORECASE | re.DOTALL)
#: a URL in the text part ends at whitespace, a bracket or quote, or sentence punctuation
_STOP = r"$|[\s<>()\[\]\"']"
_URL_END = rf"(?={_STOP}|[.,;:!?](?:{_STOP}))"
#: RFC 3986 sub-delims and gen-delims (kept as they are) besides unreserved and "%"
_PATH_SAFE = "/:@!$&'()*+,;="
_QUERY_SAFE = _PATH_SAFE + "?"
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")


def _idna_host(host: str) -> str:
    """*host* in ASCII (IDNA); left percent-encoded when it is not a valid name."""
    if host.isascii():
        return host
    try:
        import idna

        return str(idna.encode(host, uts46=True).decode("ascii"))
    except (ImportError, UnicodeError, ValueError):
        pass
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return quote(host, safe="!$&'()*+,;=")


def _encode_part(part: str, safe: str) -> str:
    """Percent-encode *part* as UTF-8, keeping existing ``%XX`` escapes and *safe*."""
    return quote(_LONE_PERCENT.sub("%25", part), safe=safe + "%")


def iri_to_uri(url: str) -> str:
    """*url* as a URI (RFC 3987 §3.1): host IDNA-encoded; path, query and fragment
    percent-encoded as UTF-8 (existing ``%XX`` kept). A URL that is already a URI
    comes back unchanged, so this is safe to apply twice.

    >>> iri_to_uri("https://example.org/haber/gaziantep-şehri?q=ç")
    'https://example.org/haber/gaziantep-%C5%9Fehri?q=%C3%A7'
    """
    if _URI_CHARS.fullmatch(url) and not _LONE_PERCENT.search(url):
        return url
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # e.g. a bracketed host that is no IPv6 address
        return _encode_part(url, _QUERY_SAFE + "#[]")
    netloc = parts.netloc
    if hostname and not hostname.isascii():
        userinfo = netloc.rpartition("@")[0]
        port = f":{parts.port}" if parts.port is not None else ""
        host = _idna_host(hostname)
        userinfo = _encode_part(userinfo, "!$&'()*+,;=:")
        netloc = f"{userinfo}@{host}{port}" if "@" in netloc else f"{host}{port}"
    else:
        netloc = _encode_part(netloc, "!$&'()*+,;=:@[]")
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            _encode_part(parts.path, _PATH_SAFE),
            _encode_part(parts.query, _QUERY_SAFE),
            _encode_part(parts.fragment, _QUERY_SAFE),
        )
    )


def signer(config: Config) -> Signer:
    """The token signer for this configuration (``MAILER_SECRET_KEY``)."""
    return Signer(load_key(config.secret(SECRET_ENV)))


def base_url(config: Config) -> str:
    """``tracking.base_url`` without a trailing slash ("" when tracking is off)."""
    return (config.settings.tracking.base_url or "").rstrip("/")


def tracked(link: Link) -> bool:
    """Whether *link* goes through ``/c/`` (web links, and share-by-email links)."""
    url = link.url.lower()
    if url.startswith(("http://", "https://")):
        return True
    return url.startswith("mailto:") and link.kind.startswith("share:")


def register_links(
    conn: Connection, campaign_id: int, language: str, links: tuple[Link, ...]
) -> dict[str, int]:
    """Insert the ``links`` rows of one campaign and language; return url → link id.

    The id is keyed by the URL as written (the href to rewrite); the row stores it
    as a URI (:func:`iri_to_uri`). Rows already registered for this campaign and
    language are reused."""
    t = db.links
    existing = {
        (r.url, r.block, r.kind): int(r.id)
        for r in conn.execute(
            select(t.c.id, t.c.url, t.c.block, t.c.kind).where(
                t.c.campaign_id == campaign_id, t.c.language == language
            )
        )
    }
    ids: dict[str, int] = {}
    for link in links:
        if link.url in ids:
            continue
        target = iri_to_uri(link.url)
        found = existing.get((target, link.block, link.kind))
        if found is None:
            found = existing.get((link.url, link.block, link.kind))  # stored before encoding
        if found is None:
            result = conn.execute(
                t.insert().values(
                    campaign_id=campaign_id,
                    url=target,
                    block=link.block,
                    kind=link.kind,
                    language=language,
                )
            )
            found = int(result.inserted_primary_key[0])  # type: ignore[index]
        ids[link.url] = found
    return ids


def rewrite_html(document: str, targets: Mapping[str, str]) -> str:
    """Replace every href whose (unescaped) value is a key of *targets*."""

    def sub(m: re.Match[str]) -> str:
        new = targets.get(html.unescape(m.group(3)))
        if new is None:
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}{html.escape(new, quote=True)}{m.group(2)}"

    return _HREF_RE.sub(sub, document)


def rewrite_text(text: str, targets: Mapping[str, str]) -> str:
    """Replace every whole URL of *targets* in a plain-text part (longest first)."""
    if not targets:
        return text
    alternatives = "|".join(re.escape(u) for u in sorted(targets, key=len, reverse=True))
    pattern = re.compile(f"(?:{alternatives}){_URL_END}")
    return pattern.sub(lambda m: targets[m.group(0)], text)


def open_pixel(base: str) -> str:
    """The 1×1 open-tracking image, per recipient through ``%%r%%``."""
    return (
        f'<img src="{base}/o/{RECIPIENT_TOKEN}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px;overflow:hidden" />'
    )


def add_pixel(document: str, pixel: str) -> str:
    """*document* with *pixel* just before ``</body>`` (appended when there is none)."""
    at = document.lower().rfind("</body>")
    if at < 0:
        return document + pixel
    return document[:at] + pixel + document[at:]


def view_url(config: Config, campaign_id: int) -> str:
    """Where "view in browser" points for *campaign_id*."""
    base = base_url(config)
    if base:
        return f"{base}/v/{signer(config).view(campaign_id)}"
    s = config.settings
    return s.website or f"mailto:{s.sender.from_email}"


def prepare(conn: Connection, campaign_id: int, rendered: Rendered, config: Config) -> Rendered:
    """Register links and rewrite them for tracking (see the module docstring)."""
    ids = register_links(conn, campaign_id, rendered.language, rendered.links)
    view = view_url(config, campaign_id)
    page, text = rendered.html.replace(VIEW_URL, view), rendered.text.replace(VIEW_URL, view)
    base = base_url(config)
    if not base:
        return replace(rendered, html=page, text=text)
    settings = config.settings.tracking
    sign = signer(config)
    suffix = "" if settings.anonymous else f"/{RECIPIENT_TOKEN}"
    targets = {
        link.url: f"{base}/c/{sign.link(campaign_id, ids[link.url])}{suffix}"
        for link in rendered.links
        if tracked(link)
    }
    page = rewrite_html(page, targets)
    text = rewrite_text(text, targets)
    if settings.opens and not settings.anonymous:
        page = add_pixel(page, open_pixel(base))
    return replace(rendered, html=page, text=text)
