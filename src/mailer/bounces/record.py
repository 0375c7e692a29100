"""Parsed bounces → events and subscriber statuses (the database side of bounces).

Who a bounce is for, most trusted first:

1. a signed recipient token from the returned original (``X-Mailer-Recipient``, the
   ``/u/<token>`` of ``List-Unsubscribe``), checked with ``MAILER_SECRET_KEY``;
2. a VERP address ``bounces+c<campaign>-s<subscriber>@…``, believed only when that
   campaign has a delivery to that subscriber;
3. the failed address itself, when it is a subscriber's.

When a message reports several recipients, a token or VERP pair is used for the bounce
whose address is that subscriber's.

What is written (one transaction per message): a **hard** bounce makes the subscriber
``bounced`` (never sent to again; a complaint stays a complaint) and records an event
``bounce``; a **soft** one (4.x.x, ``Action: delayed``, a 5.7.x policy refusal) records
an event ``deferred``, and the address is suppressed once soft bounces came from
``[bounces] soft_limit`` (default 3) different campaigns within ``soft_days`` (default
30) with no open or click from the reader since the first of them. Events carry the
DSN's status, action, diagnostic and the failed address in their ``data``.

Every event has ``provider_event_id = imap:<message key>:<n>`` and is inserted only once,
so a message read twice (a run that stopped before filing it away) counts once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from .. import db
from ..audience.events import insert_event_once
from ..audience.subscribers import SUPPRESSED, find, set_status
from ..config import Config
from ..errors import MailerError
from ..tracking.tokens import SECRET_ENV, Signer, load_key
from .parse import Bounce, Parsed

log = logging.getLogger(__name__)

#: the event of a soft bounce (a free-text type: the events table takes any short name)
DEFERRED = db.EventType.DEFERRED.value
BOUNCE = db.EventType.BOUNCE.value


@dataclass(frozen=True)
class Row:
    """What happened to one bounced recipient (or to one message nothing could be read from)."""

    uid: str
    subject: str
    #: suppressed | soft | unmatched | repeated | unparseable
    outcome: str
    kind: str = ""
    email: str | None = None
    subscriber_id: int | None = None
    campaign_id: int | None = None
    status: str | None = None
    diagnostic: str = ""
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def signer_or_none(config: Config) -> Signer | None:
    """The token signer when ``MAILER_SECRET_KEY`` is set (tokens are then checked)."""
    try:
        return Signer(load_key(config.secret(SECRET_ENV)))
    except MailerError:
        return None


def _candidates(conn: Connection, parsed: Parsed, signer: Signer | None) -> list[tuple[int, int]]:
    """(campaign id, subscriber id) pairs the message names, believable ones only."""
    found: list[tuple[int, int]] = []
    if signer is not None:
        for token in parsed.tokens:
            try:
                found.append(signer.verify_recipient(token))
            except MailerError:
                log.info("bounce %r: a recipient token that does not verify", parsed.subject)
    d = db.deliveries
    for cid, sid in parsed.verp:
        sent = conn.execute(
            select(d.c.id).where(d.c.campaign_id == cid, d.c.subscriber_id == sid).limit(1)
        ).first()
        if sent is not None:
            found.append((cid, sid))
    return list(dict.fromkeys(found))


def _subscriber(conn: Connection, sid: int) -> Any:
    return conn.execute(select(db.subscribers).where(db.subscribers.c.id == sid)).first()


def identify(
    conn: Connection, config: Config, bounce: Bounce, pairs: list[tuple[int, int]], alone: bool
) -> tuple[Any, int | None]:
    """(subscriber row or None, campaign id or None) of one bounce."""
    people = [(cid, _subscriber(conn, sid)) for cid, sid in pairs]
    people = [(cid, row) for cid, row in people if row is not None]
    wanted = (bounce.recipient or "").lower()
    for cid, row in people:
        if wanted and str(row.email).lower() == wanted:
            return row, cid
    if alone and len({row.id for _, row in people}) == 1:
        return people[0][1], people[0][0]
    if bounce.recipient:
        try:
            row = find(
                conn, bounce.recipient, case_sensitive_local=config.settings.email_case_sensitive
            )
        except MailerError:
            row = None
        if row is not None:
            campaign = next((c for c, r in people if r.id == row.id), None)
            return row, campaign
    return None, None


def soft_count(conn: Connection, subscriber_id: int, days: int) -> int:
    """Campaigns with a soft bounce for *subscriber_id* within *days*, since their last
    open or click (a reader who opened in between was reachable: the run is broken)."""
    e = db.events
    since = db.utcnow() - timedelta(days=days)
    seen = conn.execute(
        select(func.max(e.c.created_at)).where(
            e.c.subscriber_id == subscriber_id,
            e.c.type.in_([db.EventType.OPEN.value, db.EventType.CLICK.value]),
            e.c.is_scanner.is_(False),
        )
    ).scalar()
    if seen is not None and seen > since:
        since = seen
    rows = conn.execute(
        select(e.c.id, e.c.campaign_id).where(
            e.c.subscriber_id == subscriber_id, e.c.type == DEFERRED, e.c.created_at >= since
        )
    ).all()
    return len({r.campaign_id if r.campaign_id is not None else -int(r.id) for r in rows})


def _suppress(conn: Connection, subscriber_id: int, reason: str) -> str | None:
    previous = set_status(conn, subscriber_id, db.SubscriberStatus.BOUNCED)
    if previous is not None and previous not in SUPPRESSED:
        conn.execute(
            db.subscribers.update()
            .where(db.subscribers.c.id == subscriber_id)
            .values(status_reason=reason[:500])
        )
    return previous


def record(
    conn: Connection,
    config: Config,
    parsed: Parsed,
    *,
    uid: str,
    key: str,
    signer: Signer | None,
) -> list[Row]:
    """Record every bounce of one parsed message; one :class:`Row` per bounce."""
    if parsed.problem:
        return [Row(uid, parsed.subject, "unparseable", note=parsed.problem)]
    rules = config.settings.bounces
    pairs = _candidates(conn, parsed, signer)
    rows: list[Row] = []
    for n, b in enumerate(parsed.bounces):
        person, cid = identify(conn, config, b, pairs, alone=len(parsed.bounces) == 1)
        base = Row(uid, parsed.subject, "", b.kind, b.recipient, None, None, b.status, b.diagnostic)
        if person is None:
            rows.append(replace(base, outcome="unmatched", note="no subscriber has this address"))
            continue
        sid = int(person.id)
        event = {
            "type": BOUNCE if b.kind == "hard" else DEFERRED,
            "campaign_id": cid,
            "subscriber_id": sid,
            "provider_event_id": f"imap:{key}:{n}",
            "kind": "bounce" if b.kind == "hard" else "soft_bounce",
            "data": {
                "source": "imap",
                "shape": parsed.shape,
                "status": b.status,
                "action": b.action,
                "diagnostic": b.diagnostic[:1000],
                "recipient": b.recipient,
                "policy": b.policy,
            },
        }
        base = replace(base, email=str(person.email), subscriber_id=sid, campaign_id=cid)
        if not insert_event_once(conn, event):
            rows.append(replace(base, outcome="repeated", note="recorded by an earlier run"))
            continue
        what = f"{b.status or 'bounce'} {b.diagnostic}".strip()
        if b.kind == "hard":
            before = _suppress(conn, sid, f"bounced: {what}")
            note = f"was already {before}" if before in SUPPRESSED else "now bounced"
            rows.append(replace(base, outcome="suppressed", note=note))
            continue
        count = soft_count(conn, sid, rules.soft_days)
        if count >= rules.soft_limit:
            reason = f"{count} soft bounces in {rules.soft_days} days; last: {what}"
            before = _suppress(conn, sid, reason)
            note = f"was already {before}" if before in SUPPRESSED else f"{count} in a row"
            rows.append(replace(base, outcome="suppressed", note=note))
        else:
            policy = "policy refusal (5.7.x), " if b.policy else ""
            note = f"{policy}{count} of {rules.soft_limit} soft bounces"
            rows.append(replace(base, outcome="soft", note=note))
    return rows
