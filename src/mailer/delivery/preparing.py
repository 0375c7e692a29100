"""A campaign's batches as the send loop takes them: pending or new, prepared for a lane.

:class:`CampaignBatches` holds what one runner knows of its campaign (languages, stored
contents, personalizers, its place in the members' pages) and makes the batches
:class:`mailer.delivery.ledger.Ledger`'s loop hands to its lanes: a batch written before and
not sent (:meth:`~CampaignBatches.next_pending`), else the next page of not-yet-queued
members written as a pending batch (:meth:`~CampaignBatches.next_new`), its unbuildable
recipients settled (``_prepare``); on a lane,
:meth:`~CampaignBatches.fly` marks it in flight and sends it. Settling what a crashed
sender left in flight before the loop is :mod:`mailer.delivery.recovery`'s; the rows of
one batch are :mod:`mailer.delivery.batchrows`'.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from .. import db
from ..backends import Backend
from ..backends.base import Batch, Recipient, Sender
from ..config import Config
from ..errors import DeliveryError
from ..process import runner_id
from . import batchrows, claims, counting, outcomes, pace, recovery
from .personalize import Personalizer
from .recipients import (
    LanguageGroup,
    PageReader,
    language_cond,
)

CS, DS = db.CampaignStatus, db.DeliveryStatus
PER_MESSAGE = {"outbox": True, "smtp": True, "sendgrid": False}
#: how often (seconds) a runner sharing the campaign looks for batches put back in line by
#: others (stale claims); a runner alone looks only when it put one back itself
PENDING_SECONDS = 1.0


class CampaignBatches:
    """One runner's batches of one campaign: taken, prepared and flown (the send loop
    itself is :class:`mailer.delivery.ledger.Ledger`, a subclass)."""

    def __init__(
        self,
        engine: Engine,
        config: Config,
        campaign: Any,
        backend: Backend,
        contents: dict[str, LanguageGroup],
    ) -> None:
        if not contents:
            raise DeliveryError(f"campaign {campaign['id']} has nothing to send (no contents)")
        s = config.settings
        self.engine, self.backend = engine, backend
        self.cid = int(campaign["id"])
        self.list_id = int(campaign["list_id"])
        self.slug = str(campaign["issue_slug"])
        recorded = self.recorded = str(campaign["backend"])
        same = backend.name == recorded
        self.per_message_before = backend.per_message if same else PER_MESSAGE.get(recorded, False)
        self.can_probe = same
        default = s.default_language if s.default_language in contents else sorted(contents)[0]
        self.languages = [default, *sorted(k for k in contents if k != default)]
        self.contents = contents
        self.personalizers = {
            lang: Personalizer(config, self.cid, c.content, c.merge_fields)
            for lang, c in contents.items()
        }
        self.sender = Sender(s.sender.from_name, s.sender.from_email, s.sender.reply_to)
        self.batch_size = s.sending.batch_size
        self.max_failures = max(1, s.sending.max_consecutive_failures)
        self.concurrency = s.sending.concurrency
        self.sending = s.sending
        #: how long a runner that ran out of work waits before looking again
        self.poll_seconds = 0.2
        self._lanes: list[Backend] = [backend]
        #: this runner's name on the batches it owns; several runners share a campaign
        #: on PostgreSQL (:mod:`mailer.delivery.claims`)
        self.me = runner_id()
        self.shared = claims.is_shared(engine)
        self._lang = 0
        self._cursor = 0
        #: the compiled page statements per language (:class:`.recipients.PageReader`)
        self._readers: dict[str, PageReader] = {}
        #: several runners: pages leap past what the others queued meanwhile
        #: (:class:`.recipients.PageReader`) until members are found left behind
        self.leaping = True
        #: set when every recipient has been handed to the backend
        self.exhausted = False
        #: helping with a campaign another runner started (``run_campaign(join=True)``)
        self.joining = False
        #: set when this runner paused the campaign itself (bad signals): stop at once
        self._halted = False
        #: a batch may be pending in line (at the start, or put back by a lane): look first
        self._requeued = True
        #: when pending batches were last looked for (:meth:`_take`)
        self._pending_at = 0.0

    # -- helpers ---------------------------------------------------------------
    def _batch(self, batch_id: int, language: str, rows: Sequence[Any]) -> Batch:
        p = self.personalizers[language]
        recipients = [p.recipient(r[0], r[1], r[2], r[3]) for r in rows]
        return Batch(
            self.cid, batch_id, self.slug, self.sender, self.contents[language].content, recipients
        )

    def _set_campaign(self, conn: Connection, **values: Any) -> None:
        outcomes.set_campaign(conn, self.cid, **values)

    # -- before the loop ---------------------------------------------------------
    def release_unknown(self) -> int:
        """``--retry-unknown``: put held deliveries back in line; returns how many."""
        return recovery.release_unknown(self.engine, self.cid)

    def recover(self) -> None:
        """Settle batches left in flight by a sender that stopped (crash, kill -9)."""

        def probe(batch_id: int, who: Recipient, language: str) -> bool | None:
            return self.backend.probe(self._batch(batch_id, language, []), who)

        recovery.recover(
            self.engine,
            self.cid,
            per_message=self.per_message_before,
            probe=probe if self.can_probe else None,
            language_of=lambda lang: lang if lang in self.contents else self.languages[0],
            me=self.me,
            shared=self.shared,
        )
        recovery.resolve_from_events(self.engine, self.cid)

    def count_total(self) -> tuple[int, int]:
        """(recipients in all, recipients already settled) — and store the total
        (:func:`.counting.count_total`)."""
        return counting.count_total(self.engine, self.cid, self.list_id, joining=self.joining)

    # -- batches -------------------------------------------------------------------
    def next_pending(self, held: set[int] | frozenset[int] = frozenset()) -> Batch | None:
        """A batch written before but not sent (resume, retry): its still-pending part.
        Batches in *held* (prepared or in flight in this process) are left out."""
        got = batchrows.take_pending(self.engine, self.cid, self.me, held, self.shared)
        if got is None:
            return None
        bid, keep = got
        lang = keep[0][5] if keep[0][5] in self.contents else self.languages[0]
        return self._batch(bid, lang, keep)

    def next_new(self) -> Batch | None:
        """The next page of not-yet-queued subscribers, written as a pending batch owned by
        this runner. Several runners (PostgreSQL) lock the memberships they page through
        with ``FOR UPDATE SKIP LOCKED`` (:class:`.recipients.PageReader`): each takes pages
        the others are not taking."""
        clashes = 0
        while self._lang < len(self.languages):
            lang = self.languages[self._lang]
            reader = self._readers.get(lang)
            if reader is None:
                cond = language_cond(lang, self.languages[0], self.languages)
                reader = PageReader(
                    self.engine.dialect,
                    self.cid,
                    self.list_id,
                    cond,
                    self.shared,
                    leap=self.leaping and len(self.languages) == 1,
                )
                self._readers[lang] = reader
            try:
                bid, rows, after = batchrows.queue_page(
                    self.engine, self.cid, self.me, reader, lang, self._cursor, self.batch_size
                )
            except IntegrityError:
                # queued by another runner between our read and our insert
                clashes += 1
                if not self.shared or clashes > 20:
                    raise DeliveryError(
                        f"campaign {self.cid} is being sent by another process at the same time",
                        hint="let that one finish; `mailer campaigns` shows its progress.",
                    ) from None
                continue
            if after == self._cursor:  # nothing left in this language
                self._lang += 1
                self._cursor = 0
                continue
            self._cursor = after
            if rows:
                return self._batch(bid, lang, rows)
        return None

    def _take(self, held: set[int] | frozenset[int] = frozenset()) -> Batch | None:
        """A pending batch when there may be one, else a new one, else a last look for a
        pending one. Pending batches appear at the start (resume), when a batch is put
        back in line (this process: :attr:`_requeued`) and, with several runners, when
        another runner's claim goes stale: so they are looked for at the start, after a
        requeue, every :data:`PENDING_SECONDS` when shared, and before giving up, not
        once per batch (each look is a write transaction)."""
        now = time.monotonic()
        if self._requeued or (self.shared and now - self._pending_at >= PENDING_SECONDS):
            self._requeued, self._pending_at = False, now
            batch = self.next_pending(held)
            if batch is not None:
                self._requeued = True  # there may be more
                return batch
        batch = self.next_new()
        if batch is None:
            self._pending_at = now
            batch = self.next_pending(held)
        return batch

    def _prepare(self, held: set[int]) -> Batch | None:
        """The next batch to hand to a lane, its unbuildable recipients already settled."""
        while True:
            batch = self._take(held)
            if batch is None:
                return None
            batch = outcomes.drop_unbuildable(self.engine, batch)
            if batch.recipients:
                return batch
            # everyone in it failed at build: settled
            outcomes.close_batch(self.engine, batch, DS.ACCEPTED.value)

    # -- sending a prepared batch -----------------------------------------------------
    def fly(self, backend: Backend, batch: Batch) -> str | None:
        """On a lane: wait for the shared pace (:mod:`mailer.delivery.pace`), mark the
        prepared *batch* in flight, send it, record the answer (:mod:`.outcomes`)."""
        stopped = lambda: self._status() != CS.SENDING.value  # noqa: E731
        if not pace.wait_for_slot(self.engine, self.sending, len(batch.recipients), stopped):
            outcomes.close_batch(self.engine, batch, DS.PENDING.value)  # back in line, never left
            self._requeued = True
            return None
        self.mark_in_flight(batch)
        error = outcomes.transmit(self.engine, batch, backend)
        if error is not None:  # back in line (transient), or settled: look again either way
            self._requeued = True
        return error

    def mark_in_flight(self, batch: Batch) -> None:
        """The batch is about to leave: from now on a crash makes it ``unknown``."""
        batchrows.mark_in_flight(self.engine, batch.batch_id, self.me)

    def read_every_page(self) -> None:
        """From the first page again, reading every page (no leaping): members were left
        unqueued below the runners' cursors (a page another runner dropped)."""
        self._lang, self._cursor = 0, 0
        self.leaping = False
        self._readers.clear()  # made again, without leaping

    # -- the loop ------------------------------------------------------------------
    def _status(self) -> str:
        c = db.campaigns
        with db.read(self.engine) as conn:
            return str(conn.execute(select(c.c.status).where(c.c.id == self.cid)).scalar())
