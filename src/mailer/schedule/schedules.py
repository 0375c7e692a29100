"""Scheduled sends: validate the issue, store and cancel schedules.

A scheduled send is a campaign row with ``status = scheduled``, ``scheduled_at`` in
naive UTC and ``schedule_tz`` the zone the user gave (:mod:`.when` reads WHEN and
zones; :mod:`.listing` lists schedules). :mod:`.worker` picks them up when due
(``mailer run-due`` / ``mailer worker``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from .. import db
from ..config import Config
from ..delivery.cancel import CANCELLABLE, Cancelled, cancel_campaign
from ..delivery.preflight import preflight, refuse_errors
from ..delivery.preflight import validate_issue as preflight_validate
from ..errors import ScheduleError
from .listing import ACTIVE, ScheduleRow, list_schedules
from .when import PAST_GRACE, When, parse_duration, parse_when, to_local, zone

__all__ = [
    "ACTIVE",
    "PAST_GRACE",
    "ScheduleRow",
    "Scheduled",
    "When",
    "cancel_schedule",
    "errors_abort",
    "list_schedules",
    "parse_duration",
    "parse_when",
    "schedule_issue",
    "to_local",
    "validate_issue",
    "zone",
]


# -- validation ---------------------------------------------------------------
def validate_issue(issue_path: Path, config: Config) -> list[Any]:
    """Build every language of the issue for sending and run ``mailer check``'s checks.

    The same gate as ``mailer send`` (:func:`mailer.delivery.preflight.validate_issue`):
    raises :class:`~mailer.errors.PreflightError` listing the errors; returns the warnings."""
    return preflight_validate(issue_path, config, action="scheduled")


def errors_abort(issue_path: Path, findings: Iterable[Any]) -> list[Any]:
    """Raise :class:`~mailer.errors.PreflightError` listing the error findings; return the
    others (:func:`mailer.delivery.preflight.refuse_errors`)."""
    return refuse_errors(issue_path, findings, action="scheduled")


# -- schedule, list, cancel ------------------------------------------------------
@dataclass(frozen=True)
class Scheduled:
    """The outcome of :func:`schedule_issue`."""

    campaign_id: int
    when: When
    warnings: list[Any] = field(default_factory=list)


def schedule_issue(
    engine: Engine,
    config: Config,
    issue_path: str | Path,
    list_name: str,
    *,
    at: str,
    tz: str | None = None,
    backend: str | None = None,
    send_late: bool = False,
    now: datetime | None = None,
    validate: Callable[[Path, Config], list[Any]] = validate_issue,
    provider_schedule: bool = False,
) -> Scheduled:
    """Validate *issue_path* now and store a ``scheduled`` campaign for *list_name* at *at*.

    With *provider_schedule* (SendGrid only) the campaign is handed to SendGrid at once
    with ``send_at`` (see :mod:`mailer.sendgrid_schedule`)."""
    path = Path(issue_path)
    if not path.exists():
        raise ScheduleError(f"issue file {path} not found", hint="check the path.")
    when = parse_when(at, tz=tz, default_tz=config.settings.schedule.timezone, now=now)
    if provider_schedule:
        from .sendgrid import check_window

        if (backend or config.settings.backend) != "sendgrid":
            raise ScheduleError(
                "--provider-schedule needs the sendgrid backend",
                hint='add --backend sendgrid (or set backend = "sendgrid" in mailer.toml).',
            )
        check_window(when.utc, now or db.utcnow())
    # secrets, credentials, the list and its recipients: as `mailer send` checks them
    preflight(
        engine,
        config,
        path,
        list_name,
        backend=backend or config.settings.backend,
        check_issue=False,
        action="scheduled",
    )
    warnings = validate(path, config)
    from ..delivery.send import create_campaign

    draft = _existing_campaign(engine, path, list_name)
    if draft is not None:
        with db.transaction(engine) as conn:
            conn.execute(
                db.campaigns.update()
                .where(db.campaigns.c.id == draft, db.campaigns.c.status == "draft")
                .values(
                    status="scheduled",
                    scheduled_at=when.utc,
                    schedule_tz=when.zone,
                    send_late=send_late,
                    **({"backend": backend} if backend else {}),
                )
            )
        campaign_id = draft
    else:
        campaign_id = create_campaign(
            engine,
            config,
            path,
            list_name,
            backend=backend,
            status="scheduled",
            scheduled_at=when.utc,
            schedule_tz=when.zone,
        )
        if send_late:
            with db.transaction(engine) as conn:
                conn.execute(
                    db.campaigns.update()
                    .where(db.campaigns.c.id == campaign_id)
                    .values(send_late=True)
                )
    if provider_schedule:
        from .sendgrid import send_with_send_at

        send_with_send_at(engine, config, campaign_id, when.utc)
    return Scheduled(campaign_id=campaign_id, when=when, warnings=warnings)


def _existing_campaign(engine: Engine, path: Path, list_name: str) -> int | None:
    """A draft campaign of this issue to this list (reused), else None; refuses when the
    issue is already scheduled, being sent or sent to the list (one issue, one send)."""
    from ..build.issue import issue_slug
    from ..delivery.campaigns import find_campaign

    with db.read(engine) as conn:
        list_id = conn.execute(select(db.lists.c.id).where(db.lists.c.name == list_name)).scalar()
    if list_id is None:
        return None  # create_campaign says the list does not exist
    slug = issue_slug(path)
    found = find_campaign(engine, slug, int(list_id))
    if found is None:
        return None
    cid, status = int(found["id"]), str(found["status"])
    if status == db.CampaignStatus.DRAFT:
        return cid
    if status == db.CampaignStatus.SCHEDULED:
        when = to_local(found["scheduled_at"], found["schedule_tz"])
        what = f"is already scheduled as campaign {cid} for {when:%Y-%m-%d %H:%M %Z}"
        fix = f"cancel it first with `mailer schedule cancel {cid}`, then schedule again."
    elif status == db.CampaignStatus.SENT:
        what = f"was already sent (campaign {cid})"
        fix = "a list gets an issue once; make a new issue file for new content."
    else:
        what = f"has campaign {cid} in state {status}"
        fix = f"see `mailer campaigns {cid}`; `mailer send` resumes it."
    raise ScheduleError(f"issue {slug} {what} (list '{list_name}')", hint=fix)


def cancel_schedule(
    engine: Engine, campaign_id: int, *, config: Config | None = None, now: datetime | None = None
) -> ScheduleRow | Cancelled:
    """Cancel a campaign that is not going out: a scheduled one that has not started
    (cancelling twice is harmless), or one left ``sending``/``paused``/``draft``/``failed``
    with no live sender (:func:`mailer.delivery.cancel.cancel_campaign`, whose result is
    returned then).

    A campaign handed to SendGrid with ``send_at`` is cancelled there (needs *config*)."""
    c = db.campaigns
    now = now or db.utcnow()
    stuck = False
    with db.transaction(engine) as conn:
        row = conn.execute(
            select(c.c.status, c.c.provider_batch_id, c.c.scheduled_at)
            .where(c.c.id == campaign_id, c.c.kind == db.CampaignKind.SEND.value)
            .with_for_update()
        ).first()
        if row is None:
            raise ScheduleError(
                f"no campaign {campaign_id}", hint="see `mailer schedule list` for the ids."
            )
        status, batch_id, at = row
        if batch_id and status != db.CampaignStatus.CANCELLED and at and at > now:
            if config is None:
                raise ScheduleError(f"campaign {campaign_id} is scheduled at SendGrid")
            from .sendgrid import cancel_batch

            cancel_batch(config, str(batch_id))
            conn.execute(
                c.update()
                .where(c.c.id == campaign_id)
                .values(status=db.CampaignStatus.CANCELLED.value, finished_at=now)
            )
        elif status == db.CampaignStatus.SCHEDULED:
            conn.execute(
                c.update()
                .where(c.c.id == campaign_id, c.c.status == status)
                .values(status=db.CampaignStatus.CANCELLED.value, finished_at=db.utcnow())
            )
        elif status in CANCELLABLE:
            stuck = True
        elif status != db.CampaignStatus.CANCELLED:
            raise ScheduleError(
                f"campaign {campaign_id} is {status}; only a campaign that is scheduled, or "
                "stuck sending or paused with nobody sending it, can be cancelled",
                hint=f"see `mailer campaigns {campaign_id}`; what was sent cannot be recalled.",
            )
    if stuck:  # outside the transaction: cancel_campaign takes the campaign's lock
        return cancel_campaign(engine, campaign_id)
    found = next((r for r in list_schedules(engine, statuses=None) if r.id == campaign_id), None)
    if found is None:
        raise ScheduleError(f"campaign {campaign_id} was never scheduled")
    return found
