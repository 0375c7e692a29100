"""Sending an issue to a list: creating, starting and resuming campaigns.

A campaign is one send of one issue to one list. At its start the issue is rendered
once per language (``build_issue(..., for_send=True)`` then ``tracking.prepare``) and
stored in ``campaign_contents``; a resumed campaign reuses what was stored.

What makes a send never go out twice (the ``batches`` and ``deliveries`` tables, the
send loop, resuming after a crash) is :mod:`mailer.ledger`; where a campaign stands
(its status and delivery counts) is read with :mod:`mailer.campaigns`.

On SQLite one process sends a campaign at a time: ``run-due`` claims it (see
``worker.py``), and ``send_issue`` refuses a campaign a live runner holds. On PostgreSQL
other runners *join* a campaign being sent (``run_campaign(join=True)``), each claiming
its own batches (:mod:`mailer.delivery.claims`).
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import Connection

from .. import db
from ..backends import NAMES, Backend, get_backend
from ..config import Config
from ..errors import ConfigError, DeliveryError, MailerError
from ..rendered import Rendered
from . import signals
from .campaigns import CampaignResult, campaign_result, find_campaign
from .ledger import Ledger, Progress
from .preflight import Preflight, find_list_id, preflight
from .recipients import LanguageGroup, eligible, language_cond, load_contents

log = logging.getLogger(__name__)

CS, DS = db.CampaignStatus, db.DeliveryStatus
FINISHED = (CS.SENT.value, CS.CANCELLED.value, CS.FAILED.value)
RUNNABLE = (CS.DRAFT.value, CS.SCHEDULED.value, CS.PAUSED.value, CS.SENDING.value)
#: first key of the PostgreSQL advisory lock held while a campaign is sent
LOCK_KEY = 727275


# -- issue and list lookups ---------------------------------------------------
def issue_languages(issue_path: str | Path, config: Config) -> list[str]:
    """The issue's languages, default first."""
    from ..build.pipeline import issue_languages as languages

    return list(languages(Path(issue_path), config))


def issue_slug(issue_path: str | Path) -> str:
    """The issue file's slug (``build.issue``, imported here: a runner resuming a campaign
    needs no YAML or build code)."""
    from ..build.issue import issue_slug as slug_of

    return slug_of(issue_path)


def _backend_name(backend: str | Backend | None, config: Config) -> str | None:
    """The backend's name to check credentials for (None: a backend object was given)."""
    if isinstance(backend, str) or backend is None:
        return backend or config.settings.backend
    return None


# -- creating a campaign and its contents --------------------------------------
def create_campaign(
    engine: Engine,
    config: Config,
    issue_path: str | Path,
    list_name: str,
    *,
    backend: str | None = None,
    status: str = "draft",
    scheduled_at: Any = None,
    schedule_tz: str | None = None,
    slug: str | None = None,
) -> int:
    """Record a campaign (one issue to one list); nothing is rendered or sent yet.

    *slug* defaults to the issue file's slug."""
    path = Path(issue_path)
    name = backend or config.settings.backend
    if name not in NAMES:
        raise ConfigError(f"unknown backend '{name}'", hint=f"use one of: {', '.join(NAMES)}.")
    with db.transaction(engine) as conn:
        list_id = find_list_id(conn, list_name)
        result = conn.execute(
            db.campaigns.insert().values(
                issue_slug=slug or issue_slug(path),
                issue_path=str(path.resolve()),
                list_id=list_id,
                status=status,
                backend=name,
                scheduled_at=scheduled_at,
                schedule_tz=schedule_tz,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def insert_contents(conn: Connection, campaign_id: int, prepared: Rendered) -> None:
    """Store one language's tracked rendering (``tracking.prepare``'s result) as it will send."""
    conn.execute(
        db.campaign_contents.insert().values(
            campaign_id=campaign_id,
            language=prepared.language,
            subject=prepared.subject,
            html=prepared.html,
            text=prepared.text,
            merge_fields=[
                {"token": f.token, "field": f.field, "fallback": f.fallback}
                for f in prepared.merge_fields
            ],
        )
    )


def store_contents(
    engine: Engine, config: Config, campaign_id: int, rendered: Sequence[Rendered]
) -> bool:
    """Register links (``tracking.prepare``) and store what each language will send.

    Does nothing (returns False) when the campaign's contents are already stored."""
    from ..tracking import rewrite as tracking

    c, cc = db.campaigns, db.campaign_contents
    with db.transaction(engine) as conn:
        conn.execute(select(c.c.id).where(c.c.id == campaign_id).with_for_update()).first()
        if conn.execute(select(cc.c.language).where(cc.c.campaign_id == campaign_id)).first():
            return False
        from ..archive import keep_assets  # images as sent, when mailer serve serves them

        for r in keep_assets(conn, config, campaign_id, rendered):
            insert_contents(conn, campaign_id, tracking.prepare(conn, campaign_id, r, config))
        if rendered:
            conn.execute(
                c.update().where(c.c.id == campaign_id).values(subject=rendered[0].subject)
            )
    return True


def _ensure_contents(
    engine: Engine, config: Config, campaign_id: int, issue_path: str
) -> dict[str, LanguageGroup]:
    found = load_contents(engine, campaign_id)
    if found:
        return found
    from ..build.pipeline import build_issue

    langs = issue_languages(issue_path, config)
    rendered = [build_issue(Path(issue_path), config, lang=lang, for_send=True) for lang in langs]
    store_contents(engine, config, campaign_id, rendered)
    return load_contents(engine, campaign_id)


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
            contents = _ensure_contents(engine, config, campaign_id, row["issue_path"])
        except MailerError as exc:
            with db.transaction(engine) as conn:
                conn.execute(
                    c.update()
                    .where(c.c.id == campaign_id, c.c.status == CS.SENDING.value)
                    .values(status=CS.PAUSED.value, error=str(exc)[:4000])
                )
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


# -- send an issue (resume or create) ------------------------------------------
def _reopen_failed(engine: Engine, campaign_id: int) -> None:
    """Let a campaign stopped by a rejected request be resumed after the fix."""
    b, d, c = db.batches, db.deliveries, db.campaigns
    with db.transaction(engine) as conn:
        failed = select(b.c.id).where(b.c.campaign_id == campaign_id, b.c.status == DS.FAILED.value)
        conn.execute(
            d.update()
            .where(d.c.batch_id.in_(failed), d.c.status == DS.FAILED.value)
            .values(status=DS.PENDING.value, error=None)
        )
        conn.execute(
            b.update()
            .where(b.c.campaign_id == campaign_id, b.c.status == DS.FAILED.value)
            .values(status=DS.PENDING.value, error=None)
        )
        accepted = conn.execute(
            select(func.count()).where(
                d.c.campaign_id == campaign_id, d.c.status == DS.ACCEPTED.value
            )
        ).scalar_one()
        if not accepted:  # nobody got it yet: render the (fixed) issue again
            conn.execute(
                db.campaign_contents.delete().where(
                    db.campaign_contents.c.campaign_id == campaign_id
                )
            )
        conn.execute(
            c.update().where(c.c.id == campaign_id).values(status=CS.PAUSED.value, error=None)
        )


def _has_contents(engine: Engine, campaign: dict[str, Any] | None) -> bool:
    """Whether a resumed campaign sends contents stored earlier (so the issue is not rebuilt)."""
    if campaign is None or campaign["status"] == CS.FAILED.value:
        return False  # a failed campaign nobody got is rendered again after the fix
    return bool(load_contents(engine, int(campaign["id"])))


def plan(
    engine: Engine,
    config: Config,
    issue_path: str | Path,
    list_name: str,
    *,
    backend: str | Backend | None = None,
) -> CampaignResult:
    """A dry run: the pre-flight checks, and how many recipients each language would get.

    Writes nothing; errors raise :class:`~mailer.errors.PreflightError` as a send would,
    warnings are in the result."""
    slug = issue_slug(issue_path)
    with db.read(engine) as conn:
        list_id = find_list_id(conn, list_name)
    existing = find_campaign(engine, slug, list_id)
    cid = int(existing["id"]) if existing else 0
    checked = preflight(
        engine,
        config,
        issue_path,
        list_name,
        backend=_backend_name(backend, config),
        campaign_id=cid,
        check_issue=not _has_contents(engine, existing),
    )
    langs = issue_languages(issue_path, config)
    default = langs[0] if langs else config.settings.default_language
    by_language: dict[str, int] = {}
    with db.read(engine) as conn:
        for lang in langs or [default]:
            q = eligible(cid, list_id).where(language_cond(lang, default, langs))
            by_language[lang] = int(
                conn.execute(select(func.count()).select_from(q.subquery())).scalar_one()
            )
    return CampaignResult(
        campaign_id=cid or None,
        status=str(existing["status"]) if existing else "new",
        total=sum(by_language.values()),
        dry_run=True,
        by_language=by_language,
        warnings=[str(w) for w in checked.warnings],
    )


def send_issue(
    engine: Engine,
    config: Config,
    issue_path: str | Path,
    list_name: str,
    *,
    backend: str | Backend | None = None,
    dry_run: bool = False,
    retry_unknown: bool = False,
    progress: Progress | None = None,
    confirm: Callable[[Preflight], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    confirm_resume: Callable[[str], None] | None = None,
) -> CampaignResult:
    """Send *issue_path* to *list_name*: resume its unfinished campaign, or start one.

    Every precondition (:func:`~mailer.delivery.preflight.preflight`) is checked before a
    campaign row is written; *confirm* is then called with what passed (its warnings and
    the recipient count) and may raise to stop. *should_stop* ends the send between
    batches (SIGTERM): the campaign stays resumable. A campaign the sender paused on bad
    signals (:mod:`mailer.delivery.signals`) resumes only on the operator's word:
    *confirm_resume* is called with the reason and may raise to stop; without it such a
    campaign is refused. Resuming counts complaints and bounces from now on."""
    if dry_run:
        return plan(engine, config, issue_path, list_name, backend=backend)
    slug = issue_slug(issue_path)
    with db.read(engine) as conn:
        list_id = find_list_id(conn, list_name)
    existing = find_campaign(engine, slug, list_id)
    if existing and existing["status"] == CS.SCHEDULED.value:
        raise DeliveryError(
            f"campaign {existing['id']} already sends {slug} to '{list_name}' at "
            f"{existing['scheduled_at']} UTC",
            hint=f"cancel it first with `mailer schedule cancel {existing['id']}`, or let it run.",
        )
    if existing and existing["status"] == CS.SENDING.value and existing["claimed_by"]:
        from ..process import claim_is_stale

        if not claim_is_stale(existing["claimed_by"], existing["claimed_at"], db.utcnow()):
            raise DeliveryError(
                f"campaign {existing['id']} is being sent right now by {existing['claimed_by']}",
                hint="let it finish (`mailer campaigns` shows its progress); "
                "a stopped runner's campaign is resumed by the next `mailer run-due`.",
            )
    if existing and existing["status"] == CS.SENT.value:
        result = campaign_result(engine, int(existing["id"]))
        result.already_sent = True
        return result
    checked = preflight(
        engine,
        config,
        issue_path,
        list_name,
        backend=_backend_name(backend, config),
        campaign_id=int(existing["id"]) if existing else 0,
        check_issue=not _has_contents(engine, existing),
    )
    reason = signals.paused_on_signals(existing)
    if reason is not None and existing is not None:
        if confirm_resume is None:
            raise DeliveryError(
                f"campaign {existing['id']} was {reason}",
                hint="resume it with `mailer send` (it asks; --yes accepts).",
            )
        confirm_resume(reason)
    if confirm is not None:
        confirm(checked)
    if reason is not None and existing is not None:
        signals.resume(engine, int(existing["id"]))
    if existing and existing["status"] == CS.FAILED.value:
        _reopen_failed(engine, int(existing["id"]))
    if existing:
        cid = int(existing["id"])
        log.info("resuming campaign %s", cid)
    else:
        name = backend if isinstance(backend, str) else getattr(backend, "name", None)
        cid = create_campaign(engine, config, issue_path, list_name, backend=name)
    if checked.rendered:  # built and checked above: store exactly that
        store_contents(engine, config, cid, checked.rendered)
    return run_campaign(
        engine,
        config,
        cid,
        backend=backend,
        retry_unknown=retry_unknown,
        progress=progress,
        should_stop=should_stop,
    )


__all__ = [
    "CampaignResult",
    "create_campaign",
    "plan",
    "run_campaign",
    "send_issue",
    "store_contents",
]
