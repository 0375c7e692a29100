"""Send what is due: claim scheduled campaigns atomically (:mod:`.claiming`), then run
them (run-due, worker).

Claiming (one campaign at a time, so several runners share the work):

* In one write transaction (SQLite: ``BEGIN IMMEDIATE``, so the whole step is serial;
  PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED``) pick the next candidate and
  ``UPDATE … SET status='sending', claimed_by=me WHERE id=? AND status='scheduled'``;
  the claim holds only if exactly one row changed.
* ``claimed_by`` is ``host:pid`` (the host name with its PID namespace). While a
  campaign is sent, a heartbeat thread refreshes ``claimed_at``. A ``sending``
  campaign claimed by a runner is taken over (resumed from the sender's ledger) when
  its claim is stale: ``claimed_at`` older than :data:`LEASE`, or the claiming PID no
  longer exists on this host. A runner that stops early (SIGTERM, an error) clears
  ``claimed_at`` so the next run resumes it at once.
* A campaign due more than ``[schedule] max_delay`` ago is *held*: marked
  ``late`` (status stays ``scheduled``), reported, and sent only with ``--send-late``
  (or when it was scheduled with ``--send-late``).

* PostgreSQL: with nothing of its own to claim, a runner *helps* with a campaign another
  live runner is sending (``run_campaign(join=True)``): each runner claims its own batches
  with ``FOR UPDATE SKIP LOCKED`` (:mod:`mailer.delivery.claims`), so more runners on one
  database send one big campaign faster. The campaign's claim stays with its claimant;
  a helper's batches carry their own owner and heartbeat. On SQLite one runner per campaign.

Campaigns in ``sending`` without ``claimed_by`` were started by ``mailer send`` by
hand; run-due leaves them to the operator (``mailer send`` resumes them). Only sends to a
list (``kind = 'send'``) are ever claimed: a test send's row is never due.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from .. import db
from ..config import Config
from ..errors import MailerError
from ..process import LEASE, runner_id
from .claiming import SEND, Claim, claim_next, claimed_elsewhere, due_condition, mark_late
from .listing import ScheduleRow, list_schedules
from .when import parse_duration

__all__ = [
    "Claim",
    "Outcome",
    "RunDueReport",
    "claim_next",
    "claimed_elsewhere",
    "due_condition",
    "mark_late",
    "next_due",
    "run_due",
    "run_worker",
    "runner_id",
    "sleep_seconds",
]

log = logging.getLogger(__name__)

#: how often (real seconds) a running send refreshes its claim
HEARTBEAT_SECONDS = 30.0
#: how long (real seconds) a runner that started together with the one claiming a campaign
#: waits for that claim to commit, so it can help (PostgreSQL), and how often it looks
CLAIM_WAIT_SECONDS = 5.0
CLAIM_RETRY_SECONDS = 0.02

Clock = Callable[[], datetime]
Runner = Callable[..., Any]


class _Heartbeat:
    """Refresh ``claimed_at`` every *interval* seconds while a campaign is sent."""

    def __init__(
        self, engine: Engine, campaign_id: int, me: str, clock: Clock, interval: float
    ) -> None:
        self.engine, self.campaign_id, self.me, self.clock = engine, campaign_id, me, clock
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mailer-heartbeat", daemon=True)

    def _run(self) -> None:
        c = db.campaigns
        while not self._stop.wait(self.interval):
            try:
                with db.transaction(self.engine) as conn:
                    conn.execute(
                        c.update()
                        .where(c.c.id == self.campaign_id, c.c.claimed_by == self.me)
                        .values(claimed_at=self.clock())
                    )
            except Exception as exc:  # keep sending; the lease is long
                log.warning("campaign %s: heartbeat failed: %s", self.campaign_id, exc)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed campaign."""

    campaign_id: int
    status: str  # the campaign's status afterwards
    resumed: bool = False
    late: bool = False
    error: str | None = None
    helped: bool = False  # joined a campaign another runner claimed

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == db.CampaignStatus.SENT

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.campaign_id,
            "status": self.status,
            "resumed": self.resumed,
            "late": self.late,
            "error": self.error,
            "helped": self.helped,
        }


@dataclass
class RunDueReport:
    """Everything one `run-due` did: campaigns run, and those held because they are late."""

    now: datetime
    outcomes: list[Outcome] = field(default_factory=list)
    held_late: list[ScheduleRow] = field(default_factory=list)
    stopped: bool = False

    @property
    def exit_code(self) -> int:
        """0 when everything due was sent; 1 when something failed or is held late."""
        bad = any(not o.ok for o in self.outcomes) or bool(self.held_late)
        return 1 if bad else 0

    def as_json(self) -> dict[str, Any]:
        return {
            "now_utc": self.now.replace(tzinfo=UTC).isoformat(),
            "campaigns": [o.as_json() for o in self.outcomes],
            "held_late": [r.as_json() for r in self.held_late],
            "stopped": self.stopped,
            "exit_code": self.exit_code,
        }


def _default_runner(engine: Engine, config: Config, campaign_id: int, **kwargs: Any) -> Any:
    from ..delivery.send import send_campaign  # the status is read afterwards (_status)

    return send_campaign(engine, config, campaign_id, **kwargs)


def _status(engine: Engine, campaign_id: int) -> str:
    with db.read(engine) as conn:
        value = conn.execute(
            select(db.campaigns.c.status).where(db.campaigns.c.id == campaign_id)
        ).scalar()
    return str(value)


def _release(engine: Engine, campaign_id: int, me: str) -> None:
    """Let the next run resume a campaign this runner left in ``sending``."""
    c = db.campaigns
    with db.transaction(engine) as conn:
        conn.execute(
            c.update()
            .where(
                c.c.id == campaign_id,
                c.c.claimed_by == me,
                c.c.status == db.CampaignStatus.SENDING.value,
            )
            .values(claimed_at=None)
        )


def run_due(
    engine: Engine,
    config: Config,
    *,
    clock: Clock = db.utcnow,
    send_late: bool = False,
    runner: Runner | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int], Callable[[int, int], None] | None] | None = None,
    lease: timedelta = LEASE,
    me: str | None = None,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> RunDueReport:
    """Send every campaign due at ``clock()``; resume those a dead runner left half-sent.

    *runner* defaults to :func:`mailer.delivery.send.send_campaign`; *clock* returns naive UTC;
    *progress*, given a campaign id, returns that campaign's ``(done, total)`` callback."""
    run = runner or _default_runner
    stop = should_stop or (lambda: False)
    me = me or runner_id()
    max_delay = parse_duration(config.settings.schedule.max_delay)
    report = RunDueReport(now=clock())
    for cid in mark_late(engine, report.now, max_delay):
        log.warning("campaign %s is more than %s late", cid, config.settings.schedule.max_delay)
    handled: set[int] = set()
    waiting_since: float | None = None  # for another runner's claim to commit
    while True:
        if stop():
            report.stopped = True
            break
        claim = claim_next(
            engine,
            now=clock(),
            me=me,
            max_delay=max_delay,
            send_late=send_late,
            lease=lease,
            exclude=frozenset(handled),
            join=True,
        )
        if claim is None:
            waiting_since = waiting_since or time.monotonic()
            if time.monotonic() - waiting_since < CLAIM_WAIT_SECONDS and claimed_elsewhere(
                engine,
                now=clock(),
                me=me,
                max_delay=max_delay,
                send_late=send_late,
                exclude=frozenset(handled),
            ):
                time.sleep(CLAIM_RETRY_SECONDS)
                continue
            break
        waiting_since = None
        handled.add(claim.campaign_id)
        error: str | None = None
        with _Heartbeat(engine, claim.campaign_id, me, clock, heartbeat):
            try:
                bar = progress(claim.campaign_id) if progress else None
                extra = {"join": True} if claim.helping else {}
                run(engine, config, claim.campaign_id, should_stop=stop, progress=bar, **extra)
            except MailerError as exc:
                from ..backends.base import redact

                error = redact(str(exc))
                log.error("campaign %s: %s", claim.campaign_id, exc)
        status = _status(engine, claim.campaign_id)
        if claim.helping:  # the claimant reports on the campaign; a helper only on itself
            if status == db.CampaignStatus.SENDING and error is None and not stop():
                error = "the send did not finish; the next run resumes it"
            report.outcomes.append(Outcome(claim.campaign_id, status, error=error, helped=True))
            continue
        if status == db.CampaignStatus.SENDING:
            _release(engine, claim.campaign_id, me)
            if error is None and not stop():
                error = "the send did not finish; the next run resumes it"
        if error is None and status != db.CampaignStatus.SENT and not stop():
            error = f"campaign ended {status}"
        report.outcomes.append(Outcome(claim.campaign_id, status, claim.resumed, claim.late, error))
    if not send_late:
        report.held_late = list_schedules(engine, held_late=True)
    return report


def next_due(engine: Engine, *, send_late: bool = False) -> datetime | None:
    """The earliest time a scheduled campaign becomes due (held late ones excluded)."""
    c = db.campaigns
    cond = and_(c.c.status == db.CampaignStatus.SCHEDULED.value, c.c.kind == SEND)
    if not send_late:
        cond = and_(cond, or_(c.c.late.is_(False), c.c.send_late.is_(True)))
    with db.read(engine) as conn:
        value = conn.execute(select(func.min(c.c.scheduled_at)).where(cond)).scalar()
    return value if isinstance(value, datetime) else None


def sleep_seconds(upcoming: datetime | None, now: datetime, max_sleep: float) -> float:
    """How long the worker waits: until *upcoming* is due, at most *max_sleep*, at least 0.2 s."""
    if upcoming is None:
        return max_sleep
    return min(max_sleep, max(0.2, (upcoming - now).total_seconds()))


def run_worker(
    engine: Engine,
    config: Config,
    stop: threading.Event,
    *,
    clock: Clock = db.utcnow,
    send_late: bool = False,
    max_sleep: float = 60.0,
    runner: Runner | None = None,
    on_report: Callable[[RunDueReport], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
    max_rounds: int | None = None,
) -> int:
    """Run :func:`run_due` until *stop* is set, sleeping until the next due time
    (at most *max_sleep* seconds). Returns the number of rounds run."""
    parse_duration(config.settings.schedule.max_delay)  # a config error stops us at once
    from ..bounces import Poller

    poll_bounces = Poller(config)  # reads [bounces] every poll_minutes; never raises
    rounds = 0
    while not stop.is_set() and (max_rounds is None or rounds < max_rounds):
        rounds += 1
        try:
            report = run_due(
                engine,
                config,
                clock=clock,
                send_late=send_late,
                runner=runner,
                should_stop=stop.is_set,
            )
            if on_report:
                on_report(report)
            upcoming = next_due(engine, send_late=send_late)
        except (MailerError, SQLAlchemyError) as exc:  # the database may come back: keep going
            log.error("run-due failed: %s", exc)
            if on_error:
                on_error(exc)
            upcoming = None
        poll_bounces(engine)
        wait = sleep_seconds(upcoming, clock(), max_sleep)
        if poll_bounces.enabled:
            wait = min(wait, poll_bounces.every)
        stop.wait(wait)
    return rounds
