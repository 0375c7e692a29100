"""One pass over the bounce mailbox: read unseen messages, record them, file them away.

:func:`read_bounces` is what ``mailer bounces`` and ``mailer worker`` call. Each message
is recorded in its own transaction and filed away (moved or flagged, see
:mod:`mailer.bounces.imap`) only after that transaction committed; a message nothing
could be read from is reported and left unseen where it was. With ``dry_run`` each
message's transaction is rolled back and nothing is filed: the report says what a real
run would do.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..config import Config
from ..errors import DatabaseError
from .imap import Mailbox, configured, imap_settings
from .parse import message_key, parse
from .record import Row, record, signer_or_none

log = logging.getLogger(__name__)


@dataclass
class BounceReport:
    """Everything one pass did, one row per bounced recipient or unreadable message."""

    mailbox: str
    dry_run: bool = False
    messages: int = 0
    rows: list[Row] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(r.outcome for r in self.rows))

    @property
    def exit_code(self) -> int:
        """1 when a message could not be read (it stays in the mailbox for a person)."""
        return 1 if any(r.outcome == "unparseable" for r in self.rows) else 0

    def as_json(self) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox,
            "dry_run": self.dry_run,
            "messages": self.messages,
            "counts": self.counts,
            "bounces": [r.as_json() for r in self.rows],
        }


def read_bounces(
    engine: Engine, config: Config, *, dry_run: bool = False, limit: int = 1000
) -> BounceReport:
    """Read the bounce mailbox once (at most *limit* messages)."""
    settings = imap_settings(config)
    signer = signer_or_none(config)
    report = BounceReport(mailbox=settings.where, dry_run=dry_run)
    with Mailbox(settings) as box:
        for uid, raw in box.messages(limit):
            report.messages += 1
            parsed = parse(raw)
            key = message_key(raw, parsed.message_id)
            name = uid
            try:
                with engine.connect() as conn:
                    tx = conn.begin()
                    rows = record(conn, config, parsed, uid=name, key=key, signer=signer)
                    if dry_run:
                        tx.rollback()
                    else:
                        tx.commit()
            except SQLAlchemyError as exc:
                raise DatabaseError(f"cannot record bounce {name}: {exc}") from None
            report.rows.extend(rows)
            if not dry_run and not parsed.problem:
                box.done(uid)
            for r in rows:
                log.info("bounce %s: %s %s (%s)", name, r.outcome, r.email, r.status)
    return report


class Poller:
    """For ``mailer worker``: read the mailbox when ``[bounces]`` is set, every
    ``poll_minutes``; a failure is logged and retried at the next turn."""

    def __init__(self, config: Config, clock: Any = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.enabled = configured(config)
        self.every = config.settings.bounces.poll_minutes * 60.0
        self._next = 0.0

    def due(self) -> bool:
        return self.enabled and self.clock() >= self._next

    def __call__(self, engine: Engine) -> BounceReport | None:
        """One pass if due, else None; never raises for a mailbox or database failure."""
        if not self.due():
            return None
        self._next = self.clock() + self.every
        try:
            return read_bounces(engine, self.config)
        except Exception as exc:  # the worker keeps sending whatever the mailbox does
            log.error("reading the bounce mailbox failed: %s", exc)
            return None
