"""Recording the consent an imported file carries: one record per subscriber, list and source.

A tool's export may say when and from where a reader opted in and confirmed (see
:mod:`mailer.audience.sources`); :class:`ConsentRecorder` keeps that as a ``consents`` row
per subscriber, list and source (the tool): a new one is inserted, an existing one gains the
fields it lacked, so the order of the files does not matter. Which rows are written at all,
and so whose consent is recorded, is :mod:`mailer.audience.importwriter`'s call; it hands the
rows here once their subscribers exist. Consent given through the sign-up form is
:mod:`mailer.audience.optin`'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from .. import db
from .csvread import Row
from .importlookups import Lookups
from .importreport import ImportReport

#: the consent fields of a record, each filled once
CONSENT_FIELDS = ("opted_in_at", "optin_ip", "confirmed_at", "confirm_ip")


class ConsentRecorder:
    """Writes the consents of an import's rows into list *list_pk*, counted in *report*."""

    def __init__(
        self,
        conn: Connection,
        lookups: Lookups,
        list_pk: int,
        report: ImportReport,
        now: datetime,
        form: str = "",
        consent_source: str = "import",
    ) -> None:
        self.conn, self.lookups, self.list_pk, self.report = conn, lookups, list_pk, report
        self.now, self.form, self.consent_source = now, form, consent_source
        c = db.consents
        self.consented_stmt = select(
            c.c.id,
            c.c.subscriber_id,
            c.c.opted_in_at,
            c.c.optin_ip,
            c.c.confirmed_at,
            c.c.confirm_ip,
        ).where(
            c.c.list_id == list_pk,
            c.c.source == consent_source,
            c.c.subscriber_id.in_(bindparam("ids", expanding=True)),
        )
        self.fill_consent_stmt = (
            c.update()
            .where(c.c.id == bindparam("_id"))
            .values({k: bindparam(k) for k in CONSENT_FIELDS})
        )

    def record(self, rows: dict[str, Row]) -> None:
        """One consent record per subscriber, list and source (the tool) for *rows* (key →
        row with consent): a new one is inserted; an existing one gains the fields it lacked
        (so file order does not matter)."""
        ids = self.lookups.ids(list(rows))
        have = {
            r.subscriber_id: r
            for r in self.conn.execute(self.consented_stmt, {"ids": list(ids.values())})
        }
        records: list[dict[str, Any]] = []
        fills: list[dict[str, Any]] = []
        for key, row in rows.items():
            sid = ids.get(key)
            if sid is None or row.consent is None:
                continue
            c = row.consent
            new = {
                "opted_in_at": c.get("optin_time"),
                "optin_ip": c.get("optin_ip"),
                "confirmed_at": c.get("confirm_time"),
                "confirm_ip": c.get("confirm_ip"),
            }
            old = have.get(sid)
            if old is None:
                records.append(
                    {
                        "subscriber_id": sid,
                        "list_id": self.list_pk,
                        "source": self.consent_source,
                        "form": self.form,
                        "created_at": self.now,
                        **new,
                    }
                )
                continue
            merged = {
                k: getattr(old, k) if getattr(old, k) is not None else v for k, v in new.items()
            }
            if any(merged[k] != getattr(old, k) for k in merged):
                fills.append({"_id": old.id, **merged})
        if records:
            self.conn.execute(db.consents.insert(), records)
            self.report.consents += len(records)
        if fills:
            self.conn.execute(self.fill_consent_stmt, fills)
