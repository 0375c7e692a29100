"""Sign-up with double opt-in, leaving one list, and a reader's own preferences.

A sign-up (:func:`sign_up`) makes the address ``pending`` on the list (a new subscriber is
``pending`` overall too) and records the consent asked for (``consents``: when, from which
IP, which form, the text shown). :func:`confirm` turns a pending membership into a
subscribed one exactly once (the caller sends the welcome only when it says so).
:func:`leave_list` ends one membership (``left``: never sent to, never re-imported);
:func:`leave_all` unsubscribes the address everywhere. Bounces and complaints stay on the
subscriber (``set_status``) and still suppress the address on every list.

An address erased with ``mailer subscribers forget`` (see
:func:`mailer.audience.privacy.forgotten_keys`) and not in the database since is never
stored by a sign-up nor sent a confirmation; the caller answers it with the same page as
anyone else (no enumeration).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .. import db
from ..db import MembershipStatus, SubscriberStatus
from .privacy import forgotten_keys
from .subscribers import NAME_MAX, normalise_email, normalise_language, set_status

log = logging.getLogger(__name__)
M = MembershipStatus
#: statuses a form sign-up never overrides (the address bounced or reported spam)
BLOCKED = frozenset({SubscriberStatus.BOUNCED.value, SubscriberStatus.COMPLAINED.value})


@dataclass(frozen=True)
class SignUp:
    """What a sign-up did. ``confirm`` is False when no confirmation email should go
    (already subscribed to the list, an address that bounced or complained, or a
    forgotten one: then nothing was stored and ``subscriber_id`` and ``list_id`` are 0)."""

    subscriber_id: int
    list_id: int
    email: str
    name: str
    language: str | None
    confirm: bool


def _membership(conn: Connection, subscriber_id: int, list_id: int) -> Any:
    m = db.memberships
    return conn.execute(
        select(m.c.status).where(m.c.subscriber_id == subscriber_id, m.c.list_id == list_id)
    ).first()


def sign_up(
    conn: Connection,
    email: str,
    list_name: str,
    *,
    name: str = "",
    language: str | None = None,
    form: str,
    text: str,
    ip: str | None,
    case_sensitive_local: bool = False,
) -> SignUp:
    """Record a form sign-up of *email* to *list_name* (which must exist or is created).
    SubscriberError for an invalid address or language."""
    address, key = normalise_email(email, case_sensitive_local=case_sensitive_local)
    lang = normalise_language(language) if language else None
    name = name.strip()[:NAME_MAX]
    s, m, now = db.subscribers, db.memberships, db.utcnow()
    row = conn.execute(select(s).where(s.c.email_key == key)).first()
    if row is None and forgotten_keys(conn, [key]):  # erased on request: store nothing
        log.info("a sign-up of a forgotten address to %s was not stored", list_name)
        return SignUp(0, 0, address, name, lang, confirm=False)
    list_pk = db.get_or_create_list(conn, list_name)
    if row is None:
        sid = int(
            conn.execute(
                s.insert().values(
                    email=address,
                    email_key=key,
                    name=name,
                    language=lang,
                    attributes={},
                    status=SubscriberStatus.PENDING.value,
                    source=form,
                    created_at=now,
                    updated_at=now,
                    status_changed_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
        status = SubscriberStatus.PENDING.value
    else:
        sid, status = int(row.id), str(row.status)
        address, name, lang = row.email, name or row.name, lang or row.language
    member = _membership(conn, sid, list_pk)
    if status in BLOCKED or (
        status == SubscriberStatus.SUBSCRIBED and member and member.status == M.SUBSCRIBED
    ):
        return SignUp(sid, list_pk, address, name, lang, confirm=False)
    if member is None:
        conn.execute(
            m.insert().values(
                list_id=list_pk, subscriber_id=sid, status=M.PENDING.value, created_at=now
            )
        )
    elif member.status != M.SUBSCRIBED:
        conn.execute(
            m.update()
            .where(m.c.subscriber_id == sid, m.c.list_id == list_pk)
            .values(status=M.PENDING.value)
        )
    c = db.consents
    source = f"form:{list_name}"
    found = conn.execute(
        select(c.c.id).where(c.c.subscriber_id == sid, c.c.list_id == list_pk, c.c.source == source)
    ).scalar()
    values = {"form": form, "opted_in_at": now, "optin_ip": ip, "text": text}
    if found is None:
        conn.execute(c.insert().values(subscriber_id=sid, list_id=list_pk, source=source, **values))
    else:
        conn.execute(c.update().where(c.c.id == found).values(confirmed_at=None, **values))
    return SignUp(sid, list_pk, address, name, lang, confirm=True)


def confirm(conn: Connection, subscriber_id: int, list_id: int, ip: str | None) -> bool:
    """Confirm a pending sign-up; True only for the call that did it (idempotent)."""
    m, s, now = db.memberships, db.subscribers, db.utcnow()
    status = conn.execute(select(s.c.status).where(s.c.id == subscriber_id)).scalar()
    if status is None or status in BLOCKED:
        return False
    done = conn.execute(
        m.update()
        .where(
            m.c.subscriber_id == subscriber_id,
            m.c.list_id == list_id,
            m.c.status == M.PENDING.value,
        )
        .values(status=M.SUBSCRIBED.value, left_at=None)
    ).rowcount
    if not done:
        return False
    if status != SubscriberStatus.SUBSCRIBED:  # pending, or unsubscribed and back by choice
        conn.execute(
            s.update()
            .where(s.c.id == subscriber_id)
            .values(status=SubscriberStatus.SUBSCRIBED.value, status_changed_at=now, updated_at=now)
        )
    c = db.consents
    conn.execute(
        c.update()
        .where(
            c.c.subscriber_id == subscriber_id,
            c.c.list_id == list_id,
            c.c.source.like("form:%"),
            c.c.confirmed_at.is_(None),
        )
        .values(confirmed_at=now, confirm_ip=ip)
    )
    return True


def leave_list(conn: Connection, subscriber_id: int, list_id: int) -> bool:
    """End one membership; True when it was subscribed (or pending) until now. Leaving the
    last list unsubscribes the address (nothing would be sent to it anyway)."""
    m = db.memberships
    done = conn.execute(
        m.update()
        .where(
            m.c.subscriber_id == subscriber_id,
            m.c.list_id == list_id,
            m.c.status != M.LEFT.value,
        )
        .values(status=M.LEFT.value, left_at=db.utcnow())
    ).rowcount
    remaining = conn.execute(
        select(m.c.list_id).where(m.c.subscriber_id == subscriber_id, m.c.status != M.LEFT.value)
    ).first()
    if remaining is None:
        set_status(conn, subscriber_id, SubscriberStatus.UNSUBSCRIBED)
    return bool(done)


def leave_all(conn: Connection, subscriber_id: int) -> str | None:
    """Unsubscribe from everything; the previous subscriber status (None: no such one)."""
    m = db.memberships
    conn.execute(
        m.update()
        .where(m.c.subscriber_id == subscriber_id, m.c.status != M.LEFT.value)
        .values(status=M.LEFT.value, left_at=db.utcnow())
    )
    return set_status(conn, subscriber_id, SubscriberStatus.UNSUBSCRIBED)


@dataclass(frozen=True)
class Preferences:
    """What the preference page shows: the reader's lists (name → subscribed?) and language."""

    subscriber_id: int
    email: str
    name: str
    language: str | None
    status: str
    lists: dict[str, bool]
    attributes: dict[str, Any]


def preferences(conn: Connection, subscriber_id: int, offered: list[str]) -> Preferences | None:
    """The reader's memberships plus the lists *offered* (the sign-up lists)."""
    s, m, ls = db.subscribers, db.memberships, db.lists
    row = conn.execute(select(s).where(s.c.id == subscriber_id)).first()
    if row is None:
        return None
    lists = {name: False for name in offered}
    for name, status in conn.execute(
        select(ls.c.name, m.c.status)
        .select_from(m.join(ls, ls.c.id == m.c.list_id))
        .where(m.c.subscriber_id == subscriber_id)
    ):
        lists[name] = status == M.SUBSCRIBED and row.status == SubscriberStatus.SUBSCRIBED
    return Preferences(
        int(row.id),
        row.email,
        row.name,
        row.language,
        str(row.status),
        dict(sorted(lists.items())),
        dict(row.attributes or {}),
    )


def set_language(conn: Connection, subscriber_id: int, language: str | None) -> None:
    """Change the reader's language (SubscriberError for an unknown code)."""
    lang = normalise_language(language) if language else None
    s = db.subscribers
    conn.execute(
        s.update().where(s.c.id == subscriber_id).values(language=lang, updated_at=db.utcnow())
    )
