"""The ledger: batch and delivery bookkeeping, and the send loop of one campaign.

This module owns :class:`Ledger` (the loop that sends, checkpoints and resumes one
campaign); the batches it hands to its lanes (taken pending or queued new, prepared,
flown) are :class:`mailer.delivery.preparing.CampaignBatches`', its base class. The
recipients it pages through and the stored contents it sends are in
:mod:`mailer.recipients`, the rows of one batch (queued, taken back) in
:mod:`mailer.delivery.batchrows`; settling what a crashed sender left in flight is
:mod:`mailer.recovery`'s. Creating, starting and locking a campaign is
:mod:`mailer.send`'s job; reading where a campaign stands is :mod:`mailer.campaigns`'.

The ledger (tables ``batches`` and ``deliveries``):

* a batch row and its delivery rows are written ``pending`` in one transaction,
  *before* anything leaves; deliveries are unique per (campaign, subscriber), so a
  recipient is queued at most once per campaign;
* just before the request the batch becomes ``sending`` (in flight);
* deliveries become ``accepted`` only after the provider accepted them (SMTP and
  outbox: message by message, each committed on its own; SendGrid: the whole request,
  recorded once on the batch row, whose deliveries then read as accepted:
  :mod:`mailer.db.held`), ``failed`` when the provider refused that address, ``unknown``
  when the request left and no answer came. Resuming after a crash: see
  :mod:`mailer.recovery`.

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

from ..backends import Backend
from ..backends.base import Batch, TransientFailure
from . import claims, counting, outcomes, signals
from .pool import InFlight, heap_frozen, lanes, writing
from .preparing import CS, DS, PENDING_SECONDS, PER_MESSAGE, CampaignBatches

log = logging.getLogger(__name__)

#: how often (seconds) the loop reads the campaign's status to notice a cancel or a pause
#: made elsewhere (one query per batch would cost more than the batch's own ledger writes)
STATUS_SECONDS = 0.1
#: how often (seconds) a runner waiting for other runners' last batches reads the
#: campaign's status, so it ends soon after the last one marks the campaign sent
WATCH_SECONDS = 0.025

Progress = Callable[[int, int], None]


# -- the run -----------------------------------------------------------------
class Ledger(CampaignBatches):
    """The send loop of one campaign (see the module docstring for the states)."""

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
                if found is outcomes.Finish.LEFT:
                    self.read_every_page()  # what leaping pages passed over included
                elif not self.shared:
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


__all__ = [
    "PENDING_SECONDS",
    "PER_MESSAGE",
    "STATUS_SECONDS",
    "WATCH_SECONDS",
    "Ledger",
    "Progress",
]
