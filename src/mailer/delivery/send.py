"""Sending an issue to a list: planning, starting and resuming its campaign.

A campaign is one send of one issue to one list. :func:`send_issue` checks every
precondition, then resumes the issue's unfinished campaign or creates one
(:mod:`mailer.delivery.creation`: the campaign row and its stored contents) and runs it
(:mod:`mailer.delivery.running`: the campaign's lock and the run); :func:`plan` is the dry
run. Those modules' names are re-exported here (``campaign_lock``, ``create_campaign``,
``store_contents``, ``run_campaign``, ...).

What makes a send never go out twice (the ``batches`` and ``deliveries`` tables, the
send loop, resuming after a crash) is :mod:`mailer.ledger`; where a campaign stands
(its status and delivery counts) is read with :mod:`mailer.campaigns`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from .. import db
from ..backends import Backend
from ..config import Config
from ..errors import DeliveryError
from . import signals
from .campaigns import CampaignResult, campaign_result, find_campaign
from .creation import (
    create_campaign,
    insert_contents,
    issue_languages,
    issue_slug,
    store_contents,
)
from .ledger import Progress
from .preflight import Preflight, find_list_id, preflight
from .recipients import eligible, language_cond, load_contents
from .running import (
    FINISHED,
    LOCK_KEY,
    RUNNABLE,
    campaign_lock,
    run_campaign,
    send_campaign,
)

log = logging.getLogger(__name__)

CS, DS = db.CampaignStatus, db.DeliveryStatus


def _backend_name(backend: str | Backend | None, config: Config) -> str | None:
    """The backend's name to check credentials for (None: a backend object was given)."""
    if isinstance(backend, str) or backend is None:
        return backend or config.settings.backend
    return None


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
        accepted = db.held.accepted_count(conn, [campaign_id])
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
    "FINISHED",
    "LOCK_KEY",
    "RUNNABLE",
    "CampaignResult",
    "campaign_lock",
    "create_campaign",
    "insert_contents",
    "issue_languages",
    "issue_slug",
    "plan",
    "run_campaign",
    "send_campaign",
    "send_issue",
    "store_contents",
]
