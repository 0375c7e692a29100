"""Subscribers and lists: add, unsubscribe, set a status, count, export.

Addresses are validated with email-validator (no DNS lookups) and normalised:
the domain lower-cased (IDNA, Unicode form), the local part kept as written.
``email_key`` is the unique key: by default the whole address lower-cased, so
``Ayse@Example.org`` and ``ayse@example.org`` are one subscriber; with
``case_sensitive_local=True`` only the domain is folded (RFC 5321 allows
case-sensitive local parts, almost no mail server uses them).

Unsubscribed, bounced, complained and pending (never confirmed) subscribers are never
subscribed silently: :func:`add` refuses unless told ``resubscribe=True`` (the person asked).

The import lives in :mod:`mailer.csvimport`; the sender reads recipients straight
from the tables (status ``subscribed`` and a member of the list, see :func:`list_id`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TextIO

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from .. import db
from ..db import SubscriberStatus
from ..errors import SubscriberError

NAME_MAX = 200
SUPPRESSED = frozenset(
    {SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED}
)
#: how strongly a status says "do not write": an import only ever moves a subscriber up
#: this scale (a never-confirmed address is not subscribed by a later file, a leaver is not
#: made pending or subscribed, a complaint stays a complaint)
RANK = {
    SubscriberStatus.SUBSCRIBED: 0,
    SubscriberStatus.PENDING: 1,
    SubscriberStatus.UNSUBSCRIBED: 2,
    SubscriberStatus.BOUNCED: 2,
    SubscriberStatus.COMPLAINED: 3,
}


def stronger(new: SubscriberStatus | str, old: SubscriberStatus | str | None) -> bool:
    """Whether status *new* says "do not write" more strongly than *old* (None: no status)."""
    if old is None:
        return True
    return RANK[SubscriberStatus(new)] > RANK[SubscriberStatus(old)]


# -- addresses -------------------------------------------------------------
# The common case (one "@", an ASCII dot-atom local part) is checked here and only the
# domain goes through email-validator, once per domain (cached); anything else takes the
# full email-validator path. Both give the same answer (tests/test_subscribers_normalise.py).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_RE = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
#: the common local part (an ASCII dot-atom), for callers that check it inline (RowParser.quick)
LOCAL_RE = _LOCAL_RE


@lru_cache(maxsize=65536)
def _domain(domain: str) -> str:
    """The normalised domain, or EmailNotValidError (cached per domain)."""
    return str(validate_email("a@" + domain, check_deliverability=False).domain)


def _validate(raw: str) -> str:
    if raw.count("@") == 1 and len(raw) <= 254:
        local, _, domain = raw.partition("@")
        if len(local) <= 64 and _LOCAL_RE.fullmatch(local):
            return f"{local}@{_domain(domain)}"
    return str(validate_email(raw, check_deliverability=False).normalized)


def quick_email(value: str, case_sensitive_local: bool = False) -> tuple[str, str] | None:
    """``(email, email_key)`` for a stripped *value* in the common form (one ``@``, an ASCII
    dot-atom local part, a valid domain), as :func:`normalise_email` gives it; None for
    anything else (then :func:`normalise_email` decides, and says why)."""
    local, at, domain = value.partition("@")
    if not at or len(value) > 254 or len(local) > 64 or "@" in domain:
        return None
    if _LOCAL_RE.fullmatch(local) is None:
        return None
    try:
        email = f"{local}@{_domain(domain)}"
    except EmailNotValidError:
        return None
    if case_sensitive_local:
        return email, f"{local}@{email[len(local) + 1 :].lower()}"
    return email, email.lower()


def normalise_email(raw: str, *, case_sensitive_local: bool = False) -> tuple[str, str]:
    """``(email, email_key)`` for *raw*; SubscriberError saying why when it is not valid."""
    value = raw.strip()
    if not value:
        raise SubscriberError("no email address")
    if value.lower().startswith("mailto:"):
        value = value[7:]
    try:
        email = _validate(value)
    except EmailNotValidError as exc:
        raise SubscriberError(f"invalid email address: {exc}") from None
    if case_sensitive_local:
        local, _, domain = email.rpartition("@")
        return email, f"{local}@{domain.lower()}"
    return email, email.lower()


# -- languages -------------------------------------------------------------
_LANG_RE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")


@lru_cache(maxsize=1024)
def normalise_language(raw: str) -> str | None:
    """A BCP 47 tag in canonical case (``TR`` → ``tr``, ``pt_BR`` → ``pt-BR``), or None if empty."""
    value = raw.strip()
    if not value:
        return None
    if not _LANG_RE.fullmatch(value):
        raise SubscriberError(
            f"language {value!r} is not a BCP 47 tag",
            hint="write a code such as en, tr, ar, pt-BR.",
        )
    from babel import localedata

    parts = re.split(r"[-_]", value)
    primary = parts[0].lower()
    if not localedata.exists(primary):
        raise SubscriberError(
            f"language {value!r}: unknown language code {primary!r}",
            hint="write a code such as en, tr, ar, pt-BR.",
        )
    out = [primary]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())  # script: Latn, Arab
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            out.append(part.upper())  # region: BR, TR, 419
        else:
            out.append(part.lower())
    return "-".join(out)


def normalise_status(raw: str) -> SubscriberStatus | None:
    """A subscriber status from a cell (None if empty); SubscriberError if unknown."""
    value = raw.strip().lower()
    if not value:
        return None
    try:
        return SubscriberStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in SubscriberStatus)
        raise SubscriberError(
            f"unknown status {raw.strip()!r}", hint=f"use one of {known}"
        ) from None


# -- lists -----------------------------------------------------------------
def list_id(conn: Connection, name: str) -> int:
    """The id of list *name*; SubscriberError naming the known lists when it does not exist."""
    found = conn.execute(select(db.lists.c.id).where(db.lists.c.name == name)).scalar()
    if found is not None:
        return int(found)
    known = sorted(conn.execute(select(db.lists.c.name)).scalars())
    hint = (
        f"known lists: {', '.join(known)}"
        if known
        else "there are no lists yet: `mailer subscribers import FILE --list NAME` creates one."
    )
    raise SubscriberError(f"no list named {name!r}", hint=hint)


def check_list_name(name: str) -> str:
    """*name* stripped; SubscriberError when empty or too long."""
    value = name.strip()
    if not value or len(value) > 200:
        raise SubscriberError(
            f"invalid list name {name!r}", hint="use a short name such as partners or press."
        )
    return value


@dataclass
class ListCounts:
    """One list with its member counts by status."""

    name: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "total": self.total, **self.counts}


def lists_with_counts(conn: Connection) -> list[ListCounts]:
    """Every list (by name) with its members counted by status (every status present, 0 if none)."""
    result = {
        name: ListCounts(name, {s.value: 0 for s in SubscriberStatus})
        for name in conn.execute(select(db.lists.c.name).order_by(db.lists.c.name)).scalars()
    }
    m, s, ls = db.memberships, db.subscribers, db.lists
    query = (
        select(ls.c.name, s.c.status, func.count())
        .select_from(m.join(s, s.c.id == m.c.subscriber_id).join(ls, ls.c.id == m.c.list_id))
        .group_by(ls.c.name, s.c.status)
    )
    for name, status, count in conn.execute(query):
        result[name].counts[status] = int(count)
    return list(result.values())


# -- one subscriber --------------------------------------------------------
@dataclass(frozen=True)
class AddResult:
    """What :func:`add` did: ``added`` (new), ``updated`` or ``unchanged``."""

    subscriber_id: int
    email: str
    outcome: str


def find(conn: Connection, email: str, *, case_sensitive_local: bool = False) -> Any:
    """The subscriber row for *email* (any case), or None."""
    _, key = normalise_email(email, case_sensitive_local=case_sensitive_local)
    return conn.execute(select(db.subscribers).where(db.subscribers.c.email_key == key)).first()


def add(
    conn: Connection,
    email: str,
    list_name: str,
    *,
    name: str | None = None,
    language: str | None = None,
    attributes: dict[str, Any] | None = None,
    source: str = "cli",
    resubscribe: bool = False,
    case_sensitive_local: bool = False,
) -> AddResult:
    """Add *email* to *list_name* (created if needed), or update the subscriber's details.

    A subscriber who unsubscribed, bounced or complained is refused unless *resubscribe*.
    """
    address, key = normalise_email(email, case_sensitive_local=case_sensitive_local)
    lang = normalise_language(language) if language else None
    if name is not None and len(name.strip()) > NAME_MAX:
        raise SubscriberError(f"name longer than {NAME_MAX} characters")
    list_pk = db.get_or_create_list(conn, check_list_name(list_name))
    s = db.subscribers
    row = conn.execute(select(s).where(s.c.email_key == key)).first()
    now = db.utcnow()
    if row is None:
        new_id = conn.execute(
            s.insert().values(
                email=address,
                email_key=key,
                name=(name or "").strip(),
                language=lang,
                attributes=attributes or {},
                status=SubscriberStatus.SUBSCRIBED.value,
                source=source,
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(db.memberships.insert().values(list_id=list_pk, subscriber_id=new_id))
        return AddResult(int(new_id), address, "added")
    if row.status != SubscriberStatus.SUBSCRIBED and not resubscribe:
        when = f" on {row.status_changed_at:%Y-%m-%d}" if row.status_changed_at else ""
        raise SubscriberError(
            f"{row.email} is {row.status}{when}; mailer does not re-subscribe them silently",
            hint="pass --resubscribe only if the person asked to receive the newsletter again.",
        )
    values: dict[str, Any] = {}
    if name is not None and name.strip() != row.name:
        values["name"] = name.strip()
    if lang and lang != row.language:
        values["language"] = lang
    if attributes and {**row.attributes, **attributes} != row.attributes:
        values["attributes"] = {**row.attributes, **attributes}
    if row.status != SubscriberStatus.SUBSCRIBED:
        values.update(status=SubscriberStatus.SUBSCRIBED.value, status_changed_at=now)
    member = conn.execute(
        select(db.memberships.c.list_id).where(
            db.memberships.c.list_id == list_pk, db.memberships.c.subscriber_id == row.id
        )
    ).first()
    if values:
        conn.execute(s.update().where(s.c.id == row.id).values(updated_at=now, **values))
    if member is None:
        conn.execute(db.memberships.insert().values(list_id=list_pk, subscriber_id=row.id))
    outcome = "updated" if values or member is None else "unchanged"
    return AddResult(int(row.id), row.email, outcome)


def set_status(conn: Connection, subscriber_id: int, status: SubscriberStatus | str) -> str | None:
    """Set a subscriber's status; returns the previous one (None if there is no such subscriber).

    Used by unsubscribe, bounces and complaints. A complaint is never downgraded to an
    unsubscribe or a bounce (it is the strongest reason not to write again).
    """
    new = SubscriberStatus(status)
    s = db.subscribers
    old = conn.execute(select(s.c.status).where(s.c.id == subscriber_id)).scalar()
    if old is None:
        return None
    if old != new and old != SubscriberStatus.COMPLAINED:
        now = db.utcnow()
        conn.execute(
            s.update()
            .where(s.c.id == subscriber_id)
            .values(status=new.value, status_changed_at=now, updated_at=now)
        )
    return str(old)


def unsubscribe(conn: Connection, email: str, *, case_sensitive_local: bool = False) -> str:
    """Unsubscribe *email* from everything; returns its previous status.

    SubscriberError when the address is not in the database.
    """
    row = find(conn, email, case_sensitive_local=case_sensitive_local)
    if row is None:
        raise SubscriberError(
            f"{email.strip()} is not a subscriber",
            hint="check the spelling; `mailer subscribers export` lists every address.",
        )
    previous = set_status(conn, row.id, SubscriberStatus.UNSUBSCRIBED)
    if previous == SubscriberStatus.SUBSCRIBED:
        conn.execute(
            db.events.insert().values(
                type=db.EventType.UNSUBSCRIBE.value, subscriber_id=row.id, data={"source": "cli"}
            )
        )
    return str(previous)


# -- export ----------------------------------------------------------------
FIXED_COLUMNS = ("email", "name", "language", "status", "lists")
TRAILING_COLUMNS = ("source", "created_at", "updated_at")
_UNSAFE_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """*value* with a leading ``'`` when a spreadsheet would read it as a formula.

    A value that already starts with quotes before such a character gets one more, so the
    import (which removes one) gives back exactly the value.
    """
    return "'" + value if value.lstrip("'").startswith(_UNSAFE_START) else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if not isinstance(value, str):
        import json

        value = json.dumps(value, ensure_ascii=False)
    return spreadsheet_safe(value)


def export_csv(
    conn: Connection, out: TextIO, *, list_name: str | None = None, batch_size: int = 1000
) -> int:
    """Write subscribers as CSV to *out* (streamed); returns the number of rows.

    Columns: ``email,name,language,status,lists``, then one column per attribute key
    (sorted), then ``source,created_at,updated_at``. The file imports back unchanged.
    """
    s, m = db.subscribers, db.memberships
    base = select(s).order_by(s.c.id)
    if list_name is not None:
        lid = list_id(conn, list_name)
        base = base.where(s.c.id.in_(select(m.c.subscriber_id).where(m.c.list_id == lid)))
    keys: set[str] = set()
    attributes = base.with_only_columns(s.c.attributes).execution_options(yield_per=1000)
    for attrs in conn.execute(attributes).scalars():  # streamed (server-side on PostgreSQL)
        keys.update(attrs or {})
    attr_keys = sorted(keys - set(FIXED_COLUMNS) - set(TRAILING_COLUMNS))
    names: dict[int, str] = {i: n for i, n in conn.execute(select(db.lists.c.id, db.lists.c.name))}
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*FIXED_COLUMNS, *attr_keys, *TRAILING_COLUMNS])
    count = 0
    for chunk in _chunks(conn, base, batch_size):
        ids = [r.id for r in chunk]
        member_of: dict[int, list[str]] = {i: [] for i in ids}
        for sid, lid in conn.execute(
            select(m.c.subscriber_id, m.c.list_id).where(m.c.subscriber_id.in_(ids))
        ):
            member_of[sid].append(names[lid])
        for r in chunk:
            attrs = r.attributes or {}
            writer.writerow(
                [
                    _cell(r.email),
                    _cell(r.name),
                    _cell(r.language),
                    r.status,
                    _cell(";".join(sorted(member_of[r.id]))),
                    *(_cell(attrs.get(k)) for k in attr_keys),
                    _cell(r.source),
                    r.created_at.isoformat(timespec="seconds"),
                    r.updated_at.isoformat(timespec="seconds"),
                ]
            )
        count += len(chunk)
    return count


def _chunks(conn: Connection, query: Any, size: int) -> Iterator[Sequence[Any]]:
    """Rows of *query* (ordered by id) in chunks, by keyset pagination (flat memory)."""
    last = 0
    while True:
        chunk = conn.execute(query.where(db.subscribers.c.id > last).limit(size)).all()
        if not chunk:
            return
        yield chunk
        last = chunk[-1].id
