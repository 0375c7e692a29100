"""The export: every subscriber (or one list's) as a CSV file that imports back unchanged.

Cells a spreadsheet would read as a formula get a leading ``'`` (:func:`spreadsheet_safe`),
which the import removes again.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .. import db
from .lists import list_id

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
