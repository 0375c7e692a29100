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
   click tracking too. Other event types (processed, deferred, …) are acknowledged.
"""

from __future__ import annotations

import binascii
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from .. import db
from ..audience.subscribers import find, set_status
from ..config import Config

log = logging.getLogger(__name__)

KEY_ENV = "MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
#: a signed request older or newer than this is refused (replay protection)
MAX_SKEW_SECONDS = 300

_TYPES = {
    "delivered": db.EventType.DELIVERED,
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


def verify(body: bytes, headers: Mapping[str, str], public_key: str | None) -> tuple[int, str]:
    """(0, "") when the request is signed by *public_key*, else (HTTP status, reason)."""
    signature = headers.get(SIGNATURE_HEADER)
    stamp = headers.get(TIMESTAMP_HEADER)
    if not signature or not stamp:
        return 401, "missing signature headers"
    if not public_key:
        log.error("%s is not set: every SendGrid event is refused", KEY_ENV)
        return 403, "webhook verification key not configured"
    try:
        skew = abs(time.time() - int(stamp))
    except ValueError:
        return 403, "bad timestamp"
    if skew > MAX_SKEW_SECONDS:
        return 403, "stale timestamp"
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


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _insert_ignore(conn: Connection, row: dict[str, Any]) -> bool:
    """Insert one event unless its provider_event_id is known; True when inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(db.events)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["provider_event_id"])
    )
    return bool(conn.execute(stmt).rowcount)


def record(conn: Connection, events: list[Any]) -> tuple[int, int]:
    """Record verified *events*; (inserted, ignored: duplicates and unknown types)."""
    campaign_ids = {_int(e.get("campaign_id")) for e in events if isinstance(e, dict)}
    c = db.campaigns
    known = set(conn.execute(select(c.c.id).where(c.c.id.in_(campaign_ids - {None}))).scalars())
    wanted = {_int(e.get("subscriber_id")) for e in events if isinstance(e, dict)} - {None}
    s = db.subscribers
    existing = set(conn.execute(select(s.c.id).where(s.c.id.in_(wanted))).scalars())
    links: dict[tuple[int, str], tuple[int, str, str]] = {}
    inserted = ignored = 0
    for ev in events:
        if not isinstance(ev, dict) or ev.get("event") not in _TYPES:
            ignored += 1
            continue
        kind_ = _TYPES[ev["event"]]
        campaign_id = _int(ev.get("campaign_id"))
        campaign_id = campaign_id if campaign_id in known else None
        subscriber_id = _int(ev.get("subscriber_id"))
        subscriber_id = subscriber_id if subscriber_id in existing else None
        if subscriber_id is None and isinstance(ev.get("email"), str):
            found = find(conn, ev["email"])
            subscriber_id = int(found.id) if found is not None else None
        row: dict[str, Any] = {
            "type": kind_.value,
            "campaign_id": campaign_id,
            "subscriber_id": subscriber_id,
            "provider_event_id": str(ev.get("sg_event_id") or "")[:200] or None,
            "user_agent": (str(ev.get("useragent") or "")[:500]) or None,
            "is_scanner": bool(ev.get("sg_machine_open")),
            "data": {k: ev[k] for k in ("reason", "type", "status", "url") if k in ev},
        }
        stamp = _int(ev.get("timestamp"))
        if stamp is not None:
            row["created_at"] = datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None)
        if kind_ is db.EventType.CLICK and isinstance(ev.get("url"), str):
            url = ev["url"]
            if campaign_id is not None and (campaign_id, url) not in links:
                t = db.links
                r = conn.execute(
                    select(t.c.id, t.c.block, t.c.kind).where(
                        t.c.campaign_id == campaign_id, t.c.url == url
                    )
                ).first()
                if r is not None:
                    links[(campaign_id, url)] = (int(r.id), str(r.block), str(r.kind))
            if (campaign_id, url) in links:
                row["link_id"], row["block"], row["kind"] = links[(campaign_id, url)]  # type: ignore[index]
            else:
                row["block"], row["kind"] = attribution(url)
        if not _insert_ignore(conn, row):
            ignored += 1
            continue
        inserted += 1
        status = _SUPPRESS.get(kind_)
        if status is not None and subscriber_id is not None:
            set_status(conn, subscriber_id, status)
    return inserted, ignored


def handle(
    engine: Engine, body: bytes, headers: Mapping[str, str], config: Config
) -> tuple[int, str]:
    """Verify and record one webhook request; (HTTP status, short message)."""
    status, reason = verify(body, headers, config.secret(KEY_ENV))
    if status:
        log.warning("SendGrid webhook refused: %s", reason)
        return status, reason
    try:
        events = json.loads(body)
    except ValueError:
        return 400, "body is not JSON"
    if not isinstance(events, list):
        return 400, "body is not a JSON array of events"
    with db.transaction(engine) as conn:
        inserted, ignored = record(conn, events)
    return 200, f"ok: {inserted} recorded, {ignored} ignored"
