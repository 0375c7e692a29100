"""Running a campaign: its lock, and the send or resume of one campaign.

:func:`send_campaign` takes the campaign's lock (:func:`campaign_lock`), makes sure its
contents are stored (:func:`.creation.ensure_contents`), marks it ``sending`` and runs the
:class:`~mailer.delivery.ledger.Ledger`; :func:`run_campaign` then reads where it stands.

On SQLite one process sends a campaign at a time: ``run-due`` claims it (see
``worker.py``), and ``send_issue`` refuses a campaign a live runner holds. On PostgreSQL
other runners *join* a campaign being sent (``run_campaign(join=True)``), each claiming
its own batches (:mod:`mailer.delivery.claims`).
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, func, select, text

from .. import db
from ..backends import Backend, get_backend
from ..config import Config
from ..errors import DeliveryError, MailerError
from .campaigns import CampaignResult, campaign_result
from .creation import ensure_contents
from .ledger import Ledger, Progress
from .outcomes import set_campaign

CS = db.CampaignStatus
FINISHED = (CS.SENT.value, CS.CANCELLED.value, CS.FAILED.value)
RUNNABLE = (CS.DRAFT.value, CS.SCHEDULED.value, CS.PAUSED.value, CS.SENDING.value)
#: first key of the PostgreSQL advisory lock held while a campaign is sent
LOCK_KEY = 727275


# -- the run -----------------------------------------------------------------
def run_campaign(
    engine: Engine,
    config: Config,
    campaign_id: int,
    *,
    backend: str | Backend | None = None,
    retry_unknown: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    join: bool = False,
) -> CampaignResult:
    """:func:`send_campaign`, then where the campaign stands (:func:`.campaign_result`)."""
    send_campaign(
        engine,
        config,
        campaign_id,
        backend=backend,
        retry_unknown=retry_unknown,
        progress=progress,
        should_stop=should_stop,
        join=join,
    )
    return campaign_result(engine, campaign_id)


def send_campaign(
    engine: Engine,
    config: Config,
    campaign_id: int,
    *,
    backend: str | Backend | None = None,
    retry_unknown: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    join: bool = False,
) -> None:
    """Send or resume campaign *campaign_id* (status sending → sent | paused | failed);
    nothing counted afterwards (``run-due`` reads only the campaign's status, so its
    runners do not each pay a pass over the deliveries as they exit).

    A campaign already finished (sent, cancelled, failed) is left alone. While it runs the
    process holds the campaign's lock (:func:`campaign_lock`): on SQLite a second sender of
    the same campaign gets a DeliveryError instead of sending anything twice; on PostgreSQL
    senders share it (each claims its own batches) and only ``cancel`` needs it alone.
    *join*: help with a campaign another runner is sending, only while it is ``sending``
    (a paused campaign waits for the operator)."""
    c = db.campaigns
    with campaign_lock(engine, campaign_id, shared=True):
        with db.transaction(engine) as conn:
            row = conn.execute(select(c).where(c.c.id == campaign_id)).mappings().first()
            if row is None:
                raise DeliveryError(
                    f"there is no campaign {campaign_id}", hint="see `mailer campaigns`."
                )
            if row["status"] in FINISHED or (join and row["status"] != CS.SENDING.value):
                return
        try:  # backend and contents first: a failure here never leaves it `sending`
            if isinstance(backend, str) or backend is None:
                be: Backend = get_backend(backend or row["backend"], config)
            else:
                be = backend
            contents = ensure_contents(engine, config, campaign_id, row["issue_path"])
        except MailerError as exc:
            with db.transaction(engine) as conn:
                set_campaign(conn, campaign_id, status=CS.PAUSED.value, error=str(exc)[:4000])
            raise
        with db.transaction(engine) as conn:
            conn.execute(
                c.update()
                .where(c.c.id == campaign_id, c.c.status.in_(RUNNABLE))
                .values(
                    status=CS.SENDING.value,
                    error=None,
                    paused_by=None,
                    started_at=func.coalesce(c.c.started_at, db.utcnow()),
                )
            )
        ledger = Ledger(engine, config, row, be, contents)
        ledger.joining = join
        ledger.run(retry_unknown=retry_unknown, progress=progress, should_stop=should_stop)


@contextmanager
def campaign_lock(engine: Engine, campaign_id: int, *, shared: bool = False) -> Iterator[None]:
    """Hold campaign *campaign_id* for this process, or raise DeliveryError at once.

    SQLite: an ``flock`` on ``<database>.campaign-<id>.lock`` (always exclusive: one
    sender per campaign); PostgreSQL: a session advisory lock on a connection kept open
    meanwhile, *shared* between senders (several runners, one campaign) and exclusive for
    ``cancel``. Both vanish with the process, so a killed sender never leaves it locked."""
    busy = DeliveryError(
        f"campaign {campaign_id} is being sent by another process right now",
        hint="let it finish (`mailer campaigns` shows its progress), then run again.",
    )
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            kind = "_shared" if shared else ""
            got = conn.execute(
                text(f"SELECT pg_try_advisory_lock{kind}(:k, :id)"),
                {"k": LOCK_KEY, "id": campaign_id},
            ).scalar()
            conn.commit()
            if not got:
                raise busy
            try:
                yield
            finally:
                conn.execute(
                    text(f"SELECT pg_advisory_unlock{kind}(:k, :id)"),
                    {"k": LOCK_KEY, "id": campaign_id},
                )
                conn.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.campaign-{campaign_id}.lock", "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
