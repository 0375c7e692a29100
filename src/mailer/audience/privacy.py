"""Erasure and access requests (GDPR art. 15 and 17, KVKK art. 11): forget and show a reader.

:func:`forget` deletes everything held about one address (the subscriber row, memberships,
consents, deliveries and events) and keeps only a keyed hash of its normalised form in the
``forgotten`` table, so a later import or sign-up can refuse it (:func:`forgotten_keys`)
without the database holding the address itself. :func:`show` gathers everything held
about an address for an access request.

The hash is HMAC-SHA256 of the normalised address (``email_key``) keyed with
``MAILER_SECRET_KEY`` when it is set: then a copy of the database alone cannot test guessed
addresses against it. Without a key, a random salt made once per database
(``local_secrets``) keys it instead: no precomputed table matches it, but whoever has the
database can test a guess. A check tries both, so setting a key later still blocks addresses
forgotten before; changing the key forgets those blocks (they were keyed with the old one).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, cast, delete, or_, select
from sqlalchemy.engine import Connection

from .. import db
from ..config import Config
from .subscribers import normalise_email

log = logging.getLogger(__name__)

KEY_ENV = "MAILER_SECRET_KEY"
_SALT = "forgotten_salt"
#: what an import or a sign-up says about an erased address
FORGOTTEN_REASON = "forgotten (this address was erased on request: mailer subscribers forget)"


def _salt(conn: Connection, *, create: bool) -> bytes | None:
    t = db.local_secrets
    value = conn.execute(select(t.c.value).where(t.c.name == _SALT)).scalar()
    if value is None and create:
        value = secrets.token_hex(32)
        conn.execute(t.insert().values(name=_SALT, value=value))
    return bytes.fromhex(str(value)) if value is not None else None


def _keys(conn: Connection, *, create: bool) -> list[bytes]:
    """The HMAC keys in use: MAILER_SECRET_KEY first when set, then the database's salt."""
    found = []
    secret = Config.secret(KEY_ENV)
    if secret:
        found.append(secret.encode())
    salt = _salt(conn, create=create and not secret)
    if salt is not None:
        found.append(salt)
    return found


def _hash(key: bytes, email_key: str) -> str:
    return hmac.new(key, email_key.encode(), hashlib.sha256).hexdigest()


def forgotten_keys(conn: Connection, email_keys: Iterable[str]) -> set[str]:
    """Which of *email_keys* (normalised addresses) were erased with :func:`forget`."""
    wanted = list(email_keys)
    keys = _keys(conn, create=False)
    if not wanted or not keys:
        return set()
    by_hash = {_hash(k, e): e for e in wanted for k in keys}
    t = db.forgotten
    hits = conn.execute(select(t.c.email_hash).where(t.c.email_hash.in_(list(by_hash)))).scalars()
    return {by_hash[h] for h in hits}


@dataclass
class Forgotten:
    """What :func:`forget` removed (counts of rows), for the CLI to say."""

    found: bool
    counts: dict[str, int] = field(default_factory=dict)


def forget(conn: Connection, email: str, *, case_sensitive_local: bool = False) -> Forgotten:
    """Erase *email*: its subscriber row, memberships, consents, deliveries and events
    (also events whose data names the address), keeping only the keyed hash.
    Idempotent; an address never held is still recorded, so it cannot come in later."""
    address, email_key = normalise_email(email, case_sensitive_local=case_sensitive_local)
    s = db.subscribers
    row = conn.execute(select(s.c.id).where(s.c.email_key == email_key)).first()
    counts: dict[str, int] = {}
    ev = db.events
    named = cast(ev.c.data, Text).contains(address)
    if row is not None:
        sid = int(row.id)
        events_of = or_(ev.c.subscriber_id == sid, named)
        counts["events"] = conn.execute(delete(ev).where(events_of)).rowcount or 0
        db.held.forget(conn, sid)  # batches holding its acceptance count one fewer
        for name, table in (
            ("deliveries", db.deliveries),
            ("consents", db.consents),
            ("memberships", db.memberships),
        ):
            result = conn.execute(delete(table).where(table.c.subscriber_id == sid))
            counts[name] = result.rowcount or 0
        conn.execute(delete(s).where(s.c.id == sid))
        counts["subscriber"] = 1
    else:
        counts["events"] = conn.execute(delete(ev).where(named)).rowcount or 0
    keys = _keys(conn, create=True)
    digest = _hash(keys[0], email_key)
    t = db.forgotten
    if conn.execute(select(t.c.email_hash).where(t.c.email_hash == digest)).first() is None:
        conn.execute(t.insert().values(email_hash=digest, forgotten_at=db.utcnow()))
    log.info("an address was forgotten (%s)", ", ".join(f"{k}: {v}" for k, v in counts.items()))
    return Forgotten(found=row is not None, counts=counts)


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat() + ("Z" if getattr(value, "tzinfo", 1) is None else "")
    return value


def _rows(conn: Connection, query: Any) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in r.items()} for r in conn.execute(query).mappings()]


def show(conn: Connection, email: str, *, case_sensitive_local: bool = False) -> dict[str, Any]:
    """Everything held about *email*: ``subscriber`` (None when not held), ``lists``,
    ``consents``, ``deliveries``, ``events`` and ``forgotten`` (whether it was erased)."""
    address, email_key = normalise_email(email, case_sensitive_local=case_sensitive_local)
    s, m, li, c = db.subscribers, db.memberships, db.lists, db.campaigns
    found = _rows(conn, select(s).where(s.c.email_key == email_key))
    out: dict[str, Any] = {
        "email": address,
        "subscriber": found[0] if found else None,
        "lists": [],
        "consents": [],
        "deliveries": [],
        "events": [],
        "forgotten": bool(forgotten_keys(conn, [email_key])),
    }
    if not found:
        return out
    sid = found[0]["id"]
    out["lists"] = _rows(
        conn,
        select(li.c.name.label("list"), m.c.created_at.label("joined_at"))
        .select_from(m.join(li, li.c.id == m.c.list_id))
        .where(m.c.subscriber_id == sid)
        .order_by(li.c.name),
    )
    cs = db.consents
    out["consents"] = _rows(
        conn,
        select(li.c.name.label("list"), *[col for col in cs.c if col.name not in ("list_id",)])
        .select_from(cs.join(li, li.c.id == cs.c.list_id))
        .where(cs.c.subscriber_id == sid)
        .order_by(cs.c.id),
    )
    d = db.deliveries
    out["deliveries"] = _rows(
        conn,
        select(
            d.c.campaign_id,
            c.c.issue_slug,
            c.c.subject,
            d.c.language,
            db.held.status_of().label("status"),
            db.held.provider_id_of().label("provider_message_id"),
            d.c.error,
            db.held.accepted_at_of().label("accepted_at"),
            d.c.updated_at,
        )
        .select_from(db.held.with_batch(d.join(c, c.c.id == d.c.campaign_id)))
        .where(d.c.subscriber_id == sid)
        .order_by(d.c.id),
    )
    ev = db.events
    out["events"] = _rows(
        conn,
        select(
            ev.c.type,
            ev.c.campaign_id,
            ev.c.created_at,
            ev.c.kind,
            ev.c.block,
            ev.c.user_agent,
            ev.c.is_scanner,
            ev.c.data,
        )
        .where(ev.c.subscriber_id == sid)
        .order_by(ev.c.id),
    )
    return out
