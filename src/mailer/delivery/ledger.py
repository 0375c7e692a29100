"""The ledger: batch and delivery bookkeeping, and the send loop of one campaign.

This module owns :class:`Ledger` (the loop that sends, checkpoints and resumes one
campaign). The recipients it pages through and the stored contents it sends are
in :mod:`mailer.recipients`, the rows of one batch (queued, taken back) in
:mod:`mailer.delivery.batchrows`; settling what a crashed sender left in flight is
:mod:`mailer.recovery`'s. Creating, starting and locking a campaign is
:mod:`mailer.send`'s job; reading where a campaign stands is :mod:`mailer.campaigns`'.

The ledger (tables ``batches`` and ``deliveries``):

* a batch row and its delivery rows are written ``pending`` in one transaction,
  *before* anything leaves; deliveries are unique per (campaign, subscriber), so a
  recipient is queued at most once per campaign;
* just before the request the batch becomes ``sending`` (in flight);
* deliveries become ``accepted`` only after the provider accepted them (SMTP and
  outbox: message by message, each committed on its own; SendGrid: the whole
  request), ``failed`` when the provider refused that address, ``unknown`` when the
  request left and no answer came. Resuming after a crash: see :mod:`mailer.recovery`.

Recipients are streamed from the database a batch at a time, and their status is
re-checked when a batch is built or re-sent, so someone who unsubscribes during a send
is skipped from then on. After ``sending.max_consecutive_failures`` failed batches in a
row the campaign pauses with the last error instead of burning through the list.

Up to ``sending.concurrency`` batches are in flight at once, each on its own lane
(:mod:`mailer.delivery.pool`): this thread prepares batches (up to one per lane ahead,
recorded ``pending``) while the lanes send; each lane takes the next prepared batch, marks
it in flight, sends it and records the answer (:mod:`mailer.delivery.outcomes`). The total
is counted meanwhile on one snapshot (:mod:`mailer.delivery.counting`). Between batches the
loop watches the provider's complaint and bounce signals (:mod:`mailer.delivery.signals`)
and pauses on bad ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, wait
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from .. import db
from ..backends import Backend
from ..backends.base import Batch, Recipient, Sender, TransientFailure
from ..config import Config
from ..errors import DeliveryError
from ..process import runner_id
from . import batchrows, claims, counting, outcomes, pace, recovery, signals
from .personalize import Personalizer
from .pool import InFlight, heap_frozen, lanes, writing
from .recipients import (
    LanguageGroup,
    PageReader,
    language_cond,
)

log = logging.getLogger(__name__)

CS, DS = db.CampaignStatus, db.DeliveryStatus
PER_MESSAGE = {"outbox": True, "smtp": True, "sendgrid": False}
#: how often (seconds) the loop reads the campaign's status to notice a cancel or a pause
#: made elsewhere (one query per batch would cost more than the batch's own ledger writes)
STATUS_SECONDS = 0.1
#: how often (seconds) a runner sharing the campaign looks for batches put back in line by
#: others (stale claims); a runner alone looks only when it put one back itself
PENDING_SECONDS = 1.0
#: how often (seconds) a runner waiting for other runners' last batches reads the
#: campaign's status, so it ends soon after the last one marks the campaign sent
WATCH_SECONDS = 0.025

Progress = Callable[[int, int], None]


# -- the run -----------------------------------------------------------------
class Ledger:
    """The send loop of one campaign (see the module docstring for the states)."""

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
                reader = PageReader(self.engine.dialect, self.cid, self.list_id, cond, self.shared)
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

    # -- the loop ------------------------------------------------------------------
    def _status(self) -> str:
        c = db.campaigns
        with db.read(self.engine) as conn:
            return str(conn.execute(select(c.c.status).where(c.c.id == self.cid)).scalar())

    def run(
        self,
        *,
        retry_unknown: bool = False,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        if retry_unknown:
            self.release_unknown()
        self.recover()
        if self.backend.name != self.recorded:  # recover() used the old one's rules
            with writing(self.engine) as conn:
                self._set_campaign(conn, backend=self.backend.name)
            self.recorded = self.backend.name
        counted = counting.count_meanwhile(
            self.engine, self.cid, self.list_id, joining=self.joining
        )
        self._lanes = lanes(self.backend, self.concurrency)
        opened: list[Backend] = []
        try:
            for lane in self._lanes:
                lane.open()
                opened.append(lane)
        except TransientFailure as exc:
            for lane in opened:
                lane.close()
            counted.result()
            with writing(self.engine) as conn:
                self._set_campaign(conn, status=CS.PAUSED.value, error=str(exc))
            return
        sent = [0]

        def report() -> None:
            """*progress* once the total is known: (done so far, total)."""
            if progress and counted.done() and counted.exception() is None:
                total, settled = counted.result()
                progress(min(settled + sent[0], total), total)

        watch = signals.SignalWatch(
            self.engine, self.cid, self.sending, lambda: counted.result()[0]
        )
        try:
            self._loop(counted, sent, report, should_stop, watch)
        finally:
            for lane in opened:
                lane.close()
            wait([counted])
        counted.result()  # an error of the count
        report()

    def _loop(
        self,
        counted: Future[tuple[int, int]],
        sent: list[int],
        report: Callable[[], None],
        should_stop: Callable[[], bool] | None,
        watch: signals.SignalWatch,
    ) -> None:
        """:meth:`run`'s loop: batches until the campaign is sent, stopped or paused."""
        failures, last = 0, ""
        beat = claims.BatchHeartbeat(self.engine, self.cid, self.me, claims.HEARTBEAT_SECONDS)
        with beat, heap_frozen():
            while True:
                for batch, error in self._sent_batches(should_stop):
                    sent[0] += len(batch.recipients)
                    report()
                    if watch():  # paused on bad signals: stop preparing batches
                        self._halted = True
                    if error is None:
                        failures = 0
                        continue
                    failures, last = failures + 1, error
                    log.warning("campaign %s: batch %s failed: %s", self.cid, batch.batch_id, error)
                    if failures >= self.max_failures:
                        with writing(self.engine) as conn:
                            self._set_campaign(
                                conn,
                                status=CS.PAUSED.value,
                                error=f"paused after {failures} failed batches in a row; "
                                f"last: {last}. Fix the cause, then run `mailer send` "
                                "again to resume.",
                            )
                        return
                if not self.exhausted:  # stopped, cancelled or paused elsewhere
                    return
                counted.result()  # the total is stored while the campaign is still sending
                found = self.finish()
                if found is outcomes.Finish.DONE:
                    return
                # other runners still have batches open: wait for their answers (or for
                # their claims to go stale), then look for work again: batches put back in
                # line, and (shared) the members' pages again only when some were left
                # unqueued (pages others were queuing; the scan reads every page)
                if self._await_others(should_stop):
                    return
                self.recover()
                self._requeued = True
                if not self.shared or found is outcomes.Finish.LEFT:
                    self._lang, self._cursor = 0, 0

    def _await_others(self, should_stop: Callable[[], bool] | None) -> bool:
        """Wait up to :attr:`poll_seconds` while other runners' batches are open, reading the
        campaign's status every :data:`WATCH_SECONDS` (one primary-key read): True as soon
        as it is no longer ``sending`` (the runner that closed the last batch marked it
        sent, or it was paused or cancelled) or *should_stop* says so; False when the wait
        is over (then stale claims are settled and the work looked for again)."""
        deadline = time.monotonic() + self.poll_seconds
        while True:
            if should_stop is not None and should_stop():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(WATCH_SECONDS, left))
            if self._status() != CS.SENDING.value:
                return True

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

    def _sent_batches(
        self, should_stop: Callable[[], bool] | None
    ) -> Iterator[tuple[Batch, str | None]]:
        """Send batches, up to ``concurrency`` in flight, yielding (batch, error) for each
        as its answer comes; stops when *should_stop* says so or the campaign is no longer
        ``sending`` (the batches in flight finish first)."""

        last = [-STATUS_SECONDS]

        def keep_going() -> bool:
            if should_stop is not None and should_stop():
                return False
            if self._halted:
                return False
            now = time.monotonic()
            if now - last[0] < STATUS_SECONDS:
                return True
            last[0] = now
            return self._status() == CS.SENDING.value  # else cancelled or paused elsewhere

        flight = InFlight(
            self._lanes, self._prepare, self.fly, getattr(self._lanes[0], "prepare", None)
        )
        try:
            yield from flight.run(keep_going)
        finally:
            self.exhausted = flight.exhausted
            self._put_back(flight.left)

    def _put_back(self, batches: Sequence[Batch]) -> None:
        """Batches prepared but never handed to a lane (the loop stopped): back in line for
        any runner (they are ``pending``: nothing left)."""
        for batch in batches:
            try:
                outcomes.close_batch(self.engine, batch, DS.PENDING.value)
            except Exception as exc:  # they stay pending, owned by this runner: resume sends them
                log.warning("campaign %s: batch %s not put back: %s", self.cid, batch.batch_id, exc)
            self._requeued = True

    def finish(self) -> outcomes.Finish:
        """Mark the campaign sent, or paused while recipients are held unknown; nothing done
        while batches are still open (another runner's, in flight) or members are left
        (:func:`.outcomes.finish_campaign`)."""
        return outcomes.finish_campaign(self.engine, self.cid, shared=self.shared)
