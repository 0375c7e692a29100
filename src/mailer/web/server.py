"""``mailer serve``: the small web endpoint (Starlette).

Routes:

* ``GET /c/<link token>[/<recipient token>]``: 302 to the link's *stored* target (never
  a URL from the request, always a URI: an IRI is percent-encoded); both signatures
  checked, the recipient's campaign must be the link's; anything else 404 and nothing
  recorded. The click is queued for the
  :class:`~mailer.recorder.Recorder`, so a failing database never blocks a redirect.
* ``GET /o/<recipient token>``: a 1×1 transparent GIF, always (an open is queued when the
  token is valid).
* ``GET|POST /u/<recipient token>``: the one-button unsubscribe page; POST (RFC 8058
  ``List-Unsubscribe=One-Click`` or the button) unsubscribes at once, idempotently; a
  test message's token (subscriber 0) unsubscribes nobody and says so.
* ``GET /v/<view token>[?lang=xx]``: the issue as sent, without personal data.
* ``/archive``, ``/archive/feed.xml``, ``/assets/``: the public archive and campaign images
  (:mod:`mailer.web.archive`).
* ``GET /leave``: how to unsubscribe (the view page's unsubscribe link).
* ``POST /webhooks/sendgrid``: SendGrid's signed Event Webhook (:mod:`mailer.webhook`):
  signature headers checked before the body is read, the body capped at
  ``MAILER_WEBHOOK_MAX_BYTES`` (1 MiB; 413 beyond it).
* ``GET /healthz``: ``ok``.

Several uvicorn workers need an import string: ``mailer.web.server:app_from_env`` (a
factory reading ``MAILER_CONFIG``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from .. import db
from ..archive.contents import neutralise
from ..config import Config, load_config
from ..errors import TrackingError
from ..tracking.rewrite import base_url, iri_to_uri, signer
from ..tracking.scanners import is_scanner_agent
from . import archive as archive_routes
from . import pages, preferences, subscribe, webhook
from .bodies import BodyTooLarge, cap_from_env, read_capped
from .recorder import Recorder

log = logging.getLogger(__name__)

GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_STORE = {"cache-control": "no-store"}
#: a refused upload closes the connection (the unread rest of the body is not waited for)
CLOSE = {"connection": "close"}


class LinkCache:
    """Link rows (url, block, kind) per campaign, loaded once per campaign."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._by_campaign: dict[int, dict[int, tuple[str, str, str]]] = {}

    def _load(self, campaign_id: int) -> dict[int, tuple[str, str, str]]:
        t = db.links
        with db.read(self.engine) as conn:
            rows = conn.execute(
                select(t.c.id, t.c.url, t.c.block, t.c.kind).where(t.c.campaign_id == campaign_id)
            ).all()
        # stored before targets were kept as URIs: encoded on the way out
        found = {int(r.id): (iri_to_uri(str(r.url)), str(r.block), str(r.kind)) for r in rows}
        self._by_campaign[campaign_id] = found
        return found

    async def get(self, campaign_id: int, link_id: int) -> tuple[str, str, str] | None:
        links = self._by_campaign.get(campaign_id)
        if links is not None and link_id in links:
            return links[link_id]
        # a signed token we have not cached: the campaign is new, or gained a language
        links = await run_in_threadpool(self._load, campaign_id)
        return links.get(link_id)


def event_row(
    type_: str,
    campaign_id: int,
    subscriber_id: int | None,
    user_agent: str,
    *,
    link_id: int | None = None,
    block: str | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    """One ``events`` row as the recorder takes it (always the same keys)."""
    return {
        "type": type_,
        "campaign_id": campaign_id,
        "subscriber_id": subscriber_id or None,
        "link_id": link_id,
        "block": block,
        "kind": kind,
        "user_agent": user_agent[:500] or None,
        "is_scanner": is_scanner_agent(user_agent),
        "created_at": db.utcnow(),
    }


def create_app(config: Config) -> Starlette:
    """The web endpoint for *config* (database, signing key, webhook key)."""
    engine = db.connect(config.database_url)
    sign = signer(config)
    settings = config.settings
    org = settings.organisation or settings.name
    mailto = settings.sender.unsubscribe_mailto or settings.sender.from_email
    recorder = Recorder(
        engine,
        scanner_window=settings.tracking.scanner_window_seconds,
        flush_interval=float(os.environ.get("MAILER_EVENTS_FLUSH_SECONDS", "0.05")),
        busy_timeout=float(os.environ.get("MAILER_EVENTS_BUSY_TIMEOUT_SECONDS", "5")),
    )
    links = LinkCache(engine)
    body_cap = cap_from_env(webhook.MAX_BODY_BYTES)

    async def click(request: Request) -> Response:
        params = request.path_params
        try:
            campaign_id, link_id = sign.verify_link(params["link"])
            subscriber_id = None
            if "recipient" in params:
                rc, subscriber_id = sign.verify_recipient(params["recipient"])
                if rc != campaign_id:
                    raise TrackingError("the recipient token is of another campaign")
        except TrackingError:
            return PlainTextResponse("Not found", status_code=404)
        try:
            link = await links.get(campaign_id, link_id)
        except SQLAlchemyError as exc:  # not cached and the database is away
            log.error("cannot look up link %s of campaign %s: %s", link_id, campaign_id, exc)
            return PlainTextResponse("Try again in a minute", status_code=503)
        if link is None:
            return PlainTextResponse("Not found", status_code=404)
        url, block, kind = link
        ua = request.headers.get("user-agent", "")
        row = event_row(
            "click", campaign_id, subscriber_id, ua, link_id=link_id, block=block, kind=kind
        )
        if request.method == "HEAD":  # link checkers probe; people's browsers GET
            row["is_scanner"] = True
        recorder.add(row)
        return Response(status_code=302, headers={"location": url, **NO_STORE})

    async def pixel(request: Request) -> Response:
        try:
            campaign_id, subscriber_id = sign.verify_recipient(request.path_params["recipient"])
        except TrackingError:
            pass
        else:
            ua = request.headers.get("user-agent", "")
            recorder.add(event_row("open", campaign_id, subscriber_id, ua))
        return Response(GIF, media_type="image/gif", headers=NO_STORE)

    def load_view(campaign_id: int, lang: str | None) -> tuple[str, list[dict[str, str]]] | None:
        cc = db.campaign_contents
        with db.read(engine) as conn:
            rows = {
                r.language: r
                for r in conn.execute(
                    select(cc.c.language, cc.c.html, cc.c.merge_fields).where(
                        cc.c.campaign_id == campaign_id
                    )
                )
            }
        if not rows:
            return None
        row = rows.get(lang or "") or rows.get(settings.default_language)
        row = row or next(iter(rows.values()))
        return str(row.html), list(row.merge_fields or [])

    async def view(request: Request) -> Response:
        try:
            campaign_id = sign.verify_view(request.path_params["token"])
        except TrackingError:
            return PlainTextResponse("Not found", status_code=404)
        found = await run_in_threadpool(load_view, campaign_id, request.query_params.get("lang"))
        if found is None:
            return PlainTextResponse("Not found", status_code=404)
        return HTMLResponse(neutralise(*found), headers={"cache-control": "public, max-age=300"})

    async def leave(request: Request) -> Response:
        return HTMLResponse(pages.how_to_leave(org, mailto))

    async def sendgrid_events(request: Request) -> Response:
        # headers first: an unsigned or stale post is refused without reading its body
        status, message = webhook.check_headers(request.headers, config.secret(webhook.KEY_ENV))
        if status:
            log.warning("SendGrid webhook refused: %s", message)
            return PlainTextResponse(message, status_code=status, headers=CLOSE)
        try:
            body = await read_capped(request, body_cap)
        except BodyTooLarge:
            log.warning("SendGrid webhook refused: body over %d bytes", body_cap)
            return PlainTextResponse("body too large", status_code=413, headers=CLOSE)
        status, message = await run_in_threadpool(
            webhook.handle, engine, body, request.headers, config
        )
        return PlainTextResponse(message, status_code=status)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        recorder.start()
        try:
            yield
        finally:
            await run_in_threadpool(recorder.stop)

    app = Starlette(
        routes=[
            Route("/c/{link}/{recipient}", click),
            Route("/c/{link}", click),
            Route("/o/{recipient}", pixel),
            *preferences.routes(config, engine, sign),
            *subscribe.routes(config, engine, sign, base_url(config) or ""),
            Route("/v/{token}", view),
            *archive_routes.routes(config, engine, base_url(config) or ""),
            Route("/leave", leave),
            Route("/webhooks/sendgrid", sendgrid_events, methods=["POST"]),
            Route("/healthz", health),
        ],
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # the only redirects are to registered links
    app.state.recorder = recorder
    app.state.base_url = base_url(config)
    return app


def app_from_env() -> Starlette:
    """The app for uvicorn's ``factory=True``: config from ``MAILER_CONFIG`` (or ./mailer.toml)."""
    return create_app(load_config(os.environ.get("MAILER_CONFIG") or None))
