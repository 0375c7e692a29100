"""The reader's preference page and per-list unsubscribe.

* ``GET|POST /u/<recipient token>`` (every campaign email's unsubscribe link and
  ``List-Unsubscribe`` header): GET shows one button that leaves *the list the campaign
  went to*, and a link to the preference page for "all lists"; POST (RFC 8058
  ``List-Unsubscribe=One-Click`` or the button) leaves that list at once, idempotently.
  Leaving one's last list unsubscribes the address. A test message's token (subscriber
  :data:`~mailer.tracking.tokens.TEST_SUBSCRIBER`, ``mailer send-test``) shows the same
  page without the preference link (no reader's page to open) and unsubscribes nobody,
  saying so.
* ``GET|POST /p/<preference token>``: the reader's lists (tick or untick) and language,
  and a button to unsubscribe from all lists.

Bounces and complaints are the webhook's: they suppress the address on every list.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .. import db
from ..audience.optin import (
    Preferences,
    confirm,
    leave_all,
    leave_list,
    preferences,
    set_language,
    sign_up,
)
from ..config import Config
from ..errors import SubscriberError, TrackingError
from ..tracking.tokens import TEST_SUBSCRIBER, Signer
from . import pages
from . import readerpages as rp
from .pages import escape

log = logging.getLogger(__name__)
NO_STORE = {"cache-control": "no-store"}
#: what /u/ says for a test message's token (``mailer send-test``)
TEST_NOTE = "This was a test message: nobody was unsubscribed."


def record_unsubscribe(
    engine: Engine, campaign_id: int | None, subscriber_id: int, data: dict[str, str], ua: str
) -> None:
    """The unsubscribe event, apart from the change (an events table that cannot be written
    never keeps anyone subscribed)."""
    try:
        with db.transaction(engine) as conn:
            conn.execute(
                db.events.insert().values(
                    type=db.EventType.UNSUBSCRIBE.value,
                    campaign_id=campaign_id,
                    subscriber_id=subscriber_id,
                    user_agent=ua[:500] or None,
                    is_scanner=False,
                    data=data,
                    created_at=db.utcnow(),
                )
            )
    except SQLAlchemyError as exc:
        log.error("subscriber %s unsubscribed; the event was not recorded: %s", subscriber_id, exc)


def preference_page(config: Config, prefs: Preferences, note: str = "") -> str:
    settings = config.settings
    boxes = "\n".join(
        f'<div><input type="checkbox" id="list-{i}" name="list" value="{escape(name)}"'
        f'{" checked" if on else ""}><label for="list-{i}">{escape(name)}</label></div>'
        for i, (name, on) in enumerate(prefs.lists.items())
    )
    options = "\n".join(
        f'<option value="{escape(c)}"{" selected" if c == (prefs.language or "") else ""}>'
        f"{escape(rp.language_name(c))}</option>"
        for c in settings.languages
    )
    said = f'<p role="status">{escape(note)}</p>\n' if note else ""
    body = (
        f"<h1>Your preferences</h1>\n{said}<p>For {escape(prefs.email)}.</p>\n"
        '<form method="post">\n<input type="hidden" name="action" value="save">\n'
        f"<fieldset><legend>Lists you receive</legend>\n{boxes}\n</fieldset>\n"
        '<label for="pref-language">Language</label>\n'
        f'<select id="pref-language" name="language">\n{options}\n</select>\n'
        '<button type="submit">Save</button>\n</form>\n'
        '<form method="post">\n<input type="hidden" name="action" value="all">\n'
        '<button type="submit" class="quiet">Unsubscribe from all lists</button>\n</form>'
    )
    return rp.page(settings, "Your preferences", body)


def routes(config: Config, engine: Engine, sign: Signer) -> list[Route]:
    """The /u/ and /p/ routes for *config*."""
    settings = config.settings
    org = settings.organisation or settings.name
    mailto = settings.sender.unsubscribe_mailto or settings.sender.from_email

    def campaign_list(campaign_id: int) -> tuple[int, str] | None:
        c, ls = db.campaigns, db.lists
        with db.read(engine) as conn:
            row = conn.execute(
                select(ls.c.id, ls.c.name)
                .select_from(c.join(ls, ls.c.id == c.c.list_id))
                .where(c.c.id == campaign_id)
            ).first()
        return None if row is None else (int(row.id), str(row.name))

    def leave_now(campaign_id: int, subscriber_id: int, ua: str) -> bool:
        found = campaign_list(campaign_id)
        with db.transaction(engine) as conn:
            if (
                conn.execute(
                    select(db.subscribers.c.id).where(db.subscribers.c.id == subscriber_id)
                ).first()
                is None
            ):
                return False
            if found is None:  # a campaign that is gone: leave everything, to be safe
                left = leave_all(conn, subscriber_id) == db.SubscriberStatus.SUBSCRIBED
                data = {"source": "one-click"}
            else:
                left = leave_list(conn, subscriber_id, found[0])
                data = {"source": "one-click", "list": found[1]}
        if left:
            record_unsubscribe(engine, campaign_id, subscriber_id, data, ua)
        return True

    async def unsubscribe(request: Request) -> Response:
        try:
            campaign_id, subscriber_id = sign.verify_recipient(request.path_params["recipient"])
        except TrackingError:
            return HTMLResponse(pages.invalid_link(org, mailto), status_code=400, headers=NO_STORE)
        if request.method == "GET":
            found = await run_in_threadpool(campaign_list, campaign_id)
            name = found[1] if found else settings.name
            if subscriber_id == TEST_SUBSCRIBER:  # a test message: no reader's page to link
                more = (
                    '<p class="note">This is a test message (<code>mailer send-test</code>): '
                    "the button unsubscribes nobody, and no reader's preference page goes with "
                    "it.</p>"
                )
            else:
                prefs = escape(f"/p/{sign.preferences(subscriber_id)}")
                more = (
                    f'<p><a href="{prefs}">Unsubscribe from all lists, or change your lists '
                    "and language</a></p>"
                )
            body = (
                f"<h1>Unsubscribe from {escape(name)}</h1>\n"
                f"<p>Press the button to stop receiving {escape(name)} from {escape(org)}.</p>\n"
                '<form method="post">\n'
                '<input type="hidden" name="List-Unsubscribe" value="One-Click">\n'
                f'<button type="submit">Unsubscribe</button>\n</form>\n{more}'
            )
            page = rp.page(settings, f"Unsubscribe from {name}", body)
            return HTMLResponse(page, headers=NO_STORE)
        await request.body()  # RFC 8058 body or the button: either leaves the list
        if subscriber_id == TEST_SUBSCRIBER:
            page = rp.simple(settings, "This was a test message", TEST_NOTE)
            return HTMLResponse(page, headers=NO_STORE)
        ua = request.headers.get("user-agent", "")
        try:
            ok = await run_in_threadpool(leave_now, campaign_id, subscriber_id, ua)
        except SQLAlchemyError as exc:
            log.error("cannot unsubscribe subscriber %s: %s", subscriber_id, exc)
            return HTMLResponse(pages.try_again(org, mailto), status_code=503, headers=NO_STORE)
        if not ok:
            return HTMLResponse(pages.invalid_link(org, mailto), status_code=400, headers=NO_STORE)
        return HTMLResponse(pages.unsubscribed(org), headers=NO_STORE)

    def load(subscriber_id: int) -> Preferences | None:
        with db.read(engine) as conn:
            return preferences(conn, subscriber_id, settings.subscribe.lists)

    def save(subscriber_id: int, form: dict[str, list[str]], ua: str) -> str:
        action = (form.get("action") or ["save"])[0]
        with db.transaction(engine) as conn:
            prefs = preferences(conn, subscriber_id, settings.subscribe.lists)
            if prefs is None:
                return "gone"
            if action == "all":
                previous = leave_all(conn, subscriber_id)
                left = previous == db.SubscriberStatus.SUBSCRIBED
            else:
                wanted = set(form.get("list", []))
                left = False
                for name, on in prefs.lists.items():
                    lid = db.get_or_create_list(conn, name)
                    if on and name not in wanted:
                        left = leave_list(conn, subscriber_id, lid) or left
                    elif (
                        not on and name in wanted and prefs.status not in ("bounced", "complained")
                    ):
                        # the token proves the address: joining needs no second email
                        sign_up(
                            conn,
                            prefs.email,
                            name,
                            form="preferences",
                            text=rp.consent_text(settings, name),
                            ip=None,
                        )
                        confirm(conn, subscriber_id, lid, None)
                language = (form.get("language") or [""])[0]
                if language and language in settings.languages:
                    set_language(conn, subscriber_id, language)
        if left:
            record_unsubscribe(
                engine, None, subscriber_id, {"source": "preferences", "action": action}, ua
            )
        return action

    async def preference(request: Request) -> Response:
        try:
            subscriber_id = sign.verify_preferences(request.path_params["token"])
        except TrackingError:
            return HTMLResponse(pages.invalid_link(org, mailto), status_code=400, headers=NO_STORE)
        note = ""
        if request.method == "POST":
            data = await request.form()
            form: dict[str, list[str]] = {}
            for key, value in data.multi_items():
                if isinstance(value, str):
                    form.setdefault(key, []).append(value)
            ua = request.headers.get("user-agent", "")
            try:
                action = await run_in_threadpool(save, subscriber_id, form, ua)
            except SubscriberError as exc:
                action, note = "save", exc.message
            if action == "all":
                return HTMLResponse(pages.unsubscribed(org), headers=NO_STORE)
            note = note or "Saved."
        prefs = await run_in_threadpool(load, subscriber_id)
        if prefs is None:
            return HTMLResponse(pages.invalid_link(org, mailto), status_code=400, headers=NO_STORE)
        return HTMLResponse(preference_page(config, prefs, note), headers=NO_STORE)

    return [
        Route("/u/{recipient}", unsubscribe, methods=["GET", "POST"]),
        Route("/p/{token}", preference, methods=["GET", "POST"]),
    ]
