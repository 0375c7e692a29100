"""SendGrid's Event Webhook: verify, deduplicate, record, suppress.

``handle(engine, body, headers, config) -> (HTTP status, message)``:

1. The request must carry ``X-Twilio-Email-Event-Webhook-Signature`` and ``-Timestamp``
   (else 401), the timestamp within :data:`MAX_SKEW_SECONDS` of now, and an ECDSA
   signature over ``timestamp + body`` that the key in
   ``MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY`` (base64 DER) verifies, checked with the
   ``sendgrid`` package's :class:`EventWebhook` (else 403). Nothing is recorded then.
2. Events are inserted with ``provider_event_id = sg_event_id`` and insert-or-ignore
   (SendGrid repeats deliveries, often three times): a repeated event changes nothing.
3. ``bounce``/``dropped`` make the subscriber ``bounced``, ``spamreport``
   ``complained``, ``unsubscribe``/``group_unsubscribe`` ``unsubscribed`` (never sent to
   again). ``delivered``, ``open``, ``click`` become events matched to campaign and
   subscriber by the ``custom_args`` the sender attached (``campaign_id``,
   ``subscriber_id``), or by email. A click is attributed to its link row when its URL
   was registered, else to story and network by its UTM parameters (``utm_content`` =
   block, ``utm_source`` = network of a share link), so stats work with SendGrid's own
   click tracking too. ``processed`` is recorded too (it settles a delivery the sender
   holds ``unknown``); other event types (deferred, …) are acknowledged.
4. A signed event with odd values (not an object, ``event`` not a string, ``sg_event_id``
   not a string, an id or timestamp that is no 64-bit number, neither ``email`` nor
   ``subscriber_id``) is skipped,
   counted and logged by its position; one that cannot be written is rolled back alone
   (a savepoint). The rest of the batch is recorded.

:func:`check_headers` is what the server asks before it reads the body (which it caps
at :data:`MAX_BODY_BYTES`): an unsigned post is refused without being read.
"""

from __future__ import annotations

import binascii
import json
import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from .. import db
from ..audience.events import insert_event_once
from ..audience.subscribers import find, set_status
from ..config import Config
from ..tracking.rewrite import iri_to_uri

log = logging.getLogger(__name__)

KEY_ENV = "MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
#: a signed request older or newer than this is refused (replay protection)
MAX_SKEW_SECONDS = 300
#: the largest body read (SendGrid posts batches of a few hundred kB at most);
#: ``MAILER_WEBHOOK_MAX_BYTES`` overrides it
MAX_BODY_BYTES = 1024 * 1024
#: ids and timestamps beyond this are not SendGrid's (and overflow a BIGINT)
_MAX_INT = 2**63 - 1
_STAMP_RE = re.compile(r"[0-9]{1,12}")
#: base64 of an ECDSA P-256 DER signature (about 96 characters)
_SIGNATURE_RE = re.compile(r"[A-Za-z0-9+/]{16,400}={0,2}")

_TYPES = {
    "delivered": db.EventType.DELIVERED,
    "processed": db.EventType.PROCESSED,  # resolves a delivery held unknown (delivery.recovery)
    "open": db.EventType.OPEN,
    "click": db.EventType.CLICK,
    "bounce": db.EventType.BOUNCE,
    "dropped": db.EventType.DROPPED,
    "spamreport": db.EventType.SPAMREPORT,
    "unsubscribe": db.EventType.UNSUBSCRIBE,
    "group_unsubscribe": db.EventType.UNSUBSCRIBE,
}
_SUPPRESS = {
    db.EventType.BOUNCE: db.SubscriberStatus.BOUNCED,
    db.EventType.DROPPED: db.SubscriberStatus.BOUNCED,
    db.EventType.SPAMREPORT: db.SubscriberStatus.COMPLAINED,
    db.EventType.UNSUBSCRIBE: db.SubscriberStatus.UNSUBSCRIBED,
}


@lru_cache(maxsize=4)
def _verifier(public_key: str) -> Any:
    from sendgrid.helpers.eventwebhook import EventWebhook

    return EventWebhook(public_key.strip())


def check_headers(headers: Mapping[str, str], public_key: str | None) -> tuple[int, str]:
    """What can be refused before reading a byte of the body: (0, "") when the signature
    headers are present and well-formed, the timestamp fresh and a key configured, else
    (HTTP status, reason)."""
    signature = headers.get(SIGNATURE_HEADER)
    stamp = headers.get(TIMESTAMP_HEADER)
    if not signature or not stamp:
        return 401, "missing signature headers"
    if not public_key:
        log.error("%s is not set: every SendGrid event is refused", KEY_ENV)
        return 403, "webhook verification key not configured"
    if not _STAMP_RE.fullmatch(stamp):
        return 403, "bad timestamp"
    if abs(time.time() - int(stamp)) > MAX_SKEW_SECONDS:
        return 403, "stale timestamp"
    if not _SIGNATURE_RE.fullmatch(signature):
        return 403, "bad signature"
    return 0, ""


def verify(body: bytes, headers: Mapping[str, str], public_key: str | None) -> tuple[int, str]:
    """(0, "") when the request is signed by *public_key*, else (HTTP status, reason)."""
    status, reason = check_headers(headers, public_key)
    if status:
        return status, reason
    signature, stamp = headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER]
    try:
        payload = body.decode("utf-8")
        ok = _verifier(public_key).verify_signature(payload, signature, stamp)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        log.warning("SendGrid webhook: cannot verify (%s)", type(exc).__name__)
        return 403, "bad signature"
    return (0, "") if ok else (403, "bad signature")


def attribution(url: str) -> tuple[str | None, str | None]:
    """(block, kind) of a clicked URL from its UTM parameters (None when absent)."""
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return None, None
    block = next(iter(query.get("utm_content", [])), None)
    source = next(iter(query.get("utm_source", [])), None)
    medium = next(iter(query.get("utm_medium", [])), None)
    kind = f"share:{source}" if source and medium == "social" else None
    return block, kind


class OddEvent(ValueError):
    """A signed event whose fields are not what SendGrid sends: skipped, the batch goes on."""


def _int(value: Any) -> int | None:
    """*value* as a non-negative 64-bit integer, None when absent or not one."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if number <= _MAX_INT else None


def _id_field(ev: dict[str, Any], name: str) -> int | None:
    """An optional id of *ev* (custom_args come as strings); odd when present but not an id."""
    value = ev.get(name)
    if value is None or value == "":
        return None
    number = _int(value)
    if number is None:
        raise OddEvent(f"{name} is not an id")
    return number


Checked = tuple[db.EventType, dict[str, Any], datetime | None]


def checked(ev: Any) -> Checked | None:
    """(type, event, time) for an event to record, None for a type only acknowledged.

    Raises :class:`OddEvent` naming the field when a value is not what SendGrid sends."""
    if not isinstance(ev, dict):
        raise OddEvent(f"the event is a {type(ev).__name__}, not an object")
    name = ev.get("event")
    if not isinstance(name, str):
        raise OddEvent("event is not a string")
    if name not in _TYPES:
        return None
    event_id = ev.get("sg_event_id")
    if event_id is not None and not isinstance(event_id, str):
        raise OddEvent("sg_event_id is not a string")
    for key in ("email", "useragent", "url"):
        if ev.get(key) is not None and not isinstance(ev[key], str):
            raise OddEvent(f"{key} is not a string")
    _id_field(ev, "campaign_id")
    if _id_field(ev, "subscriber_id") is None and not (ev.get("email") or "").strip():
        raise OddEvent("no email and no subscriber_id: nobody to attribute it to")
    created_at = None
    if ev.get("timestamp") is not None:
        stamp = _int(ev["timestamp"])
        try:
            created_at = datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError, OSError):
            raise OddEvent("timestamp is not a time") from None
    return _TYPES[name], ev, created_at


def _link(
    conn: Connection, cache: dict[tuple[int, str], tuple[int, str, str] | None], cid: int, url: str
) -> tuple[int, str, str] | None:
    """The registered link (id, block, kind) of campaign *cid* for a clicked *url*."""
    if (cid, url) not in cache:
        t = db.links
        r = conn.execute(
            select(t.c.id, t.c.block, t.c.kind).where(
                t.c.campaign_id == cid, t.c.url.in_({url, iri_to_uri(url)})
            )
        ).first()
        cache[(cid, url)] = None if r is None else (int(r.id), str(r.block), str(r.kind))
    return cache[(cid, url)]


def _row(
    conn: Connection,
    event: Checked,
    campaigns: set[int],
    subscribers: set[int],
    links: dict[tuple[int, str], tuple[int, str, str] | None],
) -> dict[str, Any]:
    """The ``events`` row of one checked event."""
    kind_, ev, created_at = event
    campaign_id = _int(ev.get("campaign_id"))
    campaign_id = campaign_id if campaign_id in campaigns else None
    subscriber_id = _int(ev.get("subscriber_id"))
    subscriber_id = subscriber_id if subscriber_id in subscribers else None
    if subscriber_id is None and ev.get("email"):
        found = find(conn, ev["email"])
        subscriber_id = int(found.id) if found is not None else None
    row: dict[str, Any] = {
        "type": kind_.value,
        "campaign_id": campaign_id,
        "subscriber_id": subscriber_id,
        "provider_event_id": (ev.get("sg_event_id") or "")[:200] or None,
        "user_agent": (ev.get("useragent") or "")[:500] or None,
        "is_scanner": bool(ev.get("sg_machine_open")),
        "data": {k: ev[k] for k in ("reason", "type", "status", "url") if k in ev},
    }
    if created_at is not None:
        row["created_at"] = created_at
    url = ev.get("url")
    if kind_ is db.EventType.CLICK and isinstance(url, str):
        link = _link(conn, links, campaign_id, url) if campaign_id is not None else None
        if link is not None:
            row["link_id"], row["block"], row["kind"] = link
        else:
            row["block"], row["kind"] = attribution(url)
    return row


def record(conn: Connection, events: list[Any]) -> tuple[int, int, int]:
    """Record verified *events*; (inserted, ignored: duplicates and acknowledged types,
    skipped: odd events, each logged with its position and reason)."""
    good: list[tuple[int, Checked]] = []
    ignored = skipped = 0
    for n, ev in enumerate(events):
        try:
            found = checked(ev)
        except OddEvent as exc:
            skipped += 1
            log.warning("SendGrid webhook: event %d skipped: %s", n, exc)
            continue
        if found is None:
            ignored += 1
        else:
            good.append((n, found))
    campaign_ids = {_int(ev.get("campaign_id")) for _, (_, ev, _) in good} - {None}
    c, s = db.campaigns, db.subscribers
    known = set(conn.execute(select(c.c.id).where(c.c.id.in_(campaign_ids))).scalars())
    wanted = {_int(ev.get("subscriber_id")) for _, (_, ev, _) in good} - {None}
    existing = set(conn.execute(select(s.c.id).where(s.c.id.in_(wanted))).scalars())
    links: dict[tuple[int, str], tuple[int, str, str] | None] = {}
    inserted = 0
    for n, event in good:
        try:
            with conn.begin_nested():  # one event that cannot be written loses only itself
                row = _row(conn, event, known, existing, links)
                if not insert_event_once(conn, row):
                    ignored += 1
                    continue
                status = _SUPPRESS.get(event[0])
                if status is not None and row["subscriber_id"] is not None:
                    set_status(conn, row["subscriber_id"], status)
        except (SQLAlchemyError, ValueError, TypeError) as exc:
            if isinstance(exc, OperationalError):
                raise  # the database is away: SendGrid retries the whole batch
            skipped += 1
            log.warning("SendGrid webhook: event %d skipped: %s", n, type(exc).__name__)
            continue
        inserted += 1
    return inserted, ignored, skipped


def parse(body: bytes) -> list[Any] | str:
    """The events of a verified body, or why it is not a JSON array (a 400)."""
    try:
        events = json.loads(body)
    except (ValueError, RecursionError):
        return "body is not JSON"
    if not isinstance(events, list):
        return "body is not a JSON array of events"
    return events


def handle(
    engine: Engine, body: bytes, headers: Mapping[str, str], config: Config
) -> tuple[int, str]:
    """Verify and record one webhook request; (HTTP status, short message)."""
    status, reason = verify(body, headers, config.secret(KEY_ENV))
    if status:
        log.warning("SendGrid webhook refused: %s", reason)
        return status, reason
    events = parse(body)
    if isinstance(events, str):
        return 400, events
    with db.transaction(engine) as conn:
        inserted, ignored, skipped = record(conn, events)
    if skipped:
        log.warning("SendGrid webhook: %d odd event(s) skipped of %d", skipped, len(events))
    return 200, f"ok: {inserted} recorded, {ignored} ignored, {skipped} skipped"
