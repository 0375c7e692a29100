"""Sign-up with double opt-in: ``GET|POST /subscribe`` and ``GET|POST /confirm/<token>``.

Only lists in ``[subscribe] lists`` take sign-ups. ``POST /subscribe`` answers the same
page whether the address is new, pending or already subscribed (no enumeration); a filled
honeypot field or a rate limit (per client IP and per address, in process, bounded memory)
quietly drops the sign-up. The confirmation email (``mailer.notices``) links to
``/confirm/<token>`` (signed, expiring): GET and HEAD show a button, only its POST
confirms, and the first confirmation sends the ``[subscribe] welcome`` issue once.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from typing import Any

from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .. import db
from ..audience.optin import confirm, sign_up
from ..config import Config
from ..errors import MailerError, SubscriberError, TrackingError
from ..notices import send_confirmation, send_welcome
from ..tracking.tokens import Signer
from . import readerpages as rp
from .pages import escape

log = logging.getLogger(__name__)
NO_STORE = {"cache-control": "no-store"}
FORM_MAX_BYTES = 8192


class RateLimiter:
    """At most *limit* hits per key within *window* seconds; remembers at most *keys* keys
    (the least recently used are forgotten first), so memory stays bounded."""

    def __init__(self, limit: int, window: float, keys: int = 10000) -> None:
        self.limit, self.window, self.keys = limit, window, keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        hits = self._hits.pop(key, None) or deque(maxlen=self.limit)
        while hits and now - hits[0] > self.window:
            hits.popleft()
        allowed = len(hits) < self.limit
        if allowed:
            hits.append(now)
        self._hits[key] = hits
        while len(self._hits) > self.keys:
            self._hits.popitem(last=False)
        return allowed


def client_ip(request: Request) -> str:
    """The client's address as the server saw it (behind a proxy: uvicorn's
    ``--forwarded-allow-ips`` makes it the reader's)."""
    return request.client.host if request.client else "unknown"


def routes(config: Config, engine: Engine, sign: Signer, base: str) -> list[Route]:
    """The sign-up and confirmation routes for *config*."""
    settings = config.settings
    sub = settings.subscribe
    per_ip = RateLimiter(sub.per_ip_hour, 3600)
    per_address = RateLimiter(sub.per_address_day, 86400)

    def origin(request: Request) -> str:
        """Where links in emails point: ``tracking.base_url``, else this server."""
        return base or str(request.base_url).rstrip("/")

    def not_offered(name: str) -> Response:
        page = rp.simple(settings, "No sign-up form here", "This list takes no sign-ups here.")
        return HTMLResponse(page, status_code=404, headers=NO_STORE)

    async def form(request: Request) -> Response:
        name = request.query_params.get("list", "")
        if name not in sub.lists:
            return not_offered(name)
        return HTMLResponse(rp.signup_page(settings, name), headers=NO_STORE)

    def register(fields: dict[str, str], ip: str, here: str) -> None:
        list_name = fields["list"]
        with db.transaction(engine) as conn:
            done = sign_up(
                conn,
                fields["email"],
                list_name,
                name=fields.get("name", ""),
                language=fields.get("language") or None,
                form=f"/subscribe?list={list_name}",
                text=rp.consent_text(settings, list_name),
                ip=ip,
                case_sensitive_local=settings.email_case_sensitive,
            )
        if not done.confirm:
            return
        if not per_address.allow(done.email.lower()):
            log.warning(
                "sign-up of subscriber %s: too many confirmations today", done.subscriber_id
            )
            return
        expires = int(time.time() + sub.confirm_hours * 3600)
        token = sign.confirmation(done.subscriber_id, done.list_id, expires)
        send_confirmation(
            config,
            subscriber_id=done.subscriber_id,
            email=done.email,
            name=done.name,
            language=done.language,
            list_name=list_name,
            url=f"{here}/confirm/{token}",
        )

    async def submit(request: Request) -> Response:
        body = await request.body()
        if len(body) > FORM_MAX_BYTES:
            return HTMLResponse("too large", status_code=413)
        data = await request.form()
        fields = {k: str(v) for k, v in data.items() if isinstance(v, str)}
        list_name = fields.get("list", "")
        if list_name not in sub.lists:
            return not_offered(list_name)
        if fields.get("website"):  # the honeypot: people never see it, bots fill it
            return HTMLResponse(rp.check_inbox(settings), headers=NO_STORE)
        ip = client_ip(request)
        if not per_ip.allow(ip):
            page = rp.simple(settings, "Too many sign-ups", "Please try again in an hour.")
            return HTMLResponse(page, status_code=429, headers=NO_STORE)
        try:
            await run_in_threadpool(register, fields, ip, origin(request))
        except SubscriberError as exc:
            page = rp.signup_page(settings, list_name, error=f"{exc.message}. Please check it.")
            return HTMLResponse(page, status_code=400, headers=NO_STORE)
        except MailerError as exc:  # the backend refused: the reader can try again
            log.error("sign-up confirmation not sent: %s", exc)
            page = rp.simple(settings, "Please try again", "We could not send the email just now.")
            return HTMLResponse(page, status_code=503, headers=NO_STORE)
        return HTMLResponse(rp.check_inbox(settings), headers=NO_STORE)

    def list_name_of(list_id: int) -> str | None:
        with db.read(engine) as conn:
            found = conn.execute(select(db.lists.c.name).where(db.lists.c.id == list_id)).scalar()
        return None if found is None else str(found)

    def confirm_now(subscriber_id: int, list_id: int, ip: str, here: str) -> None:
        with db.transaction(engine) as conn:
            first = confirm(conn, subscriber_id, list_id, ip)
            row: Any = conn.execute(
                select(db.subscribers).where(db.subscribers.c.id == subscriber_id)
            ).first()
        if not first or not sub.welcome or row is None:
            return
        try:
            send_welcome(
                config,
                sub.welcome,
                subscriber_id=subscriber_id,
                email=row.email,
                name=row.name,
                language=row.language,
                attributes=dict(row.attributes or {}),
                preferences_url=f"{here}/p/{sign.preferences(subscriber_id)}",
            )
        except MailerError as exc:
            log.error("welcome to subscriber %s not sent: %s", subscriber_id, exc)

    async def confirmation(request: Request) -> Response:
        try:
            sid, lid = sign.verify_confirmation(request.path_params["token"], time.time())
        except TrackingError as exc:
            if str(exc) == "expired":
                text = "This confirmation link has expired. Please sign up again."
                page = rp.simple(settings, "This link has expired", text)
                return HTMLResponse(page, status_code=410, headers=NO_STORE)
            page = rp.simple(settings, "This link is not valid", "Use the link in the email.")
            return HTMLResponse(page, status_code=400, headers=NO_STORE)
        list_name = await run_in_threadpool(list_name_of, lid)
        if list_name is None:
            page = rp.simple(settings, "This link is not valid", "Use the link in the email.")
            return HTMLResponse(page, status_code=400, headers=NO_STORE)
        if request.method != "POST":  # GET and HEAD (link scanners) only show the button
            return HTMLResponse(rp.confirm_page(settings, list_name), headers=NO_STORE)
        await run_in_threadpool(confirm_now, sid, lid, client_ip(request), origin(request))
        prefs = escape(f"/p/{sign.preferences(sid)}")
        text = (
            f"Thank you: you will receive {escape(settings.name)}. "
            f'<a href="{prefs}">Your preferences</a>.'
        )
        return HTMLResponse(rp.simple(settings, "You are subscribed", text), headers=NO_STORE)

    return [
        Route("/subscribe", form, methods=["GET"]),
        Route("/subscribe", submit, methods=["POST"]),
        Route("/confirm/{token}", confirmation, methods=["GET", "POST"]),
    ]
