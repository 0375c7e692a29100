"""Scheduled sends: parse WHEN, validate the issue, store, list and cancel schedules.

A scheduled send is a campaign row with ``status = scheduled``, ``scheduled_at`` in
naive UTC and ``schedule_tz`` the zone the user gave (an IANA name such as
``Europe/Istanbul``, or a fixed offset such as ``+03:00`` when WHEN carried one).
:mod:`mailer.worker` picks them up when due (``mailer run-due`` / ``mailer worker``).

Times (see :func:`parse_when`):

* ``2026-12-01T09:00+03:00`` or ``…Z``: an instant; the offset wins over ``--tz``.
* ``2026-12-01 09:00``: a wall-clock time in ``--tz`` (default ``[schedule] timezone``).
  A time that does not exist (skipped by a DST change) or exists twice (repeated by
  one) is refused with a :class:`~mailer.errors.ScheduleError` naming both choices,
  rather than guessed.
* A time more than :data:`PAST_GRACE` in the past is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, and_, or_, select

from .. import db
from ..config import Config
from ..delivery.cancel import CANCELLABLE, Cancelled, cancel_campaign
from ..delivery.preflight import preflight, refuse_errors
from ..delivery.preflight import validate_issue as preflight_validate
from ..errors import ConfigError, ScheduleError

#: a WHEN this close to the past is still accepted (clock skew, slow typing)
PAST_GRACE = timedelta(minutes=1)

_DURATION = re.compile(
    r"^\s*(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?\s*(?:(?P<s>\d+)\s*s)?\s*$"
)
_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")


def parse_duration(text: str, *, what: str = "[schedule] max_delay") -> timedelta:
    """``"6h"``, ``"90m"``, ``"1h30m"``, ``"2d"``, ``"45s"`` → a timedelta."""
    match = _DURATION.match(text or "")
    if not match or not any(match.groupdict().values()):
        raise ConfigError(
            f"{what} = {text!r} is not a duration",
            hint='write a number with a unit: "6h", "90m", "1h30m", "2d" or "45s".',
            location="mailer.toml",
        )
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return timedelta(
        days=parts.get("d", 0),
        hours=parts.get("h", 0),
        minutes=parts.get("m", 0),
        seconds=parts.get("s", 0),
    )


def zone(name: str) -> tzinfo:
    """The tzinfo for an IANA zone name, ``UTC``, or a fixed offset like ``+03:00``."""
    if _OFFSET.match(name):
        sign = -1 if name[0] == "-" else 1
        hours, minutes = int(name[1:3]), int(name[4:6])
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown time zone {name!r}",
            hint="use an IANA zone name such as Europe/Istanbul, Europe/Berlin or UTC.",
        ) from None


def _offset_name(offset: timedelta | None) -> str:
    seconds = int((offset or timedelta()).total_seconds())
    if seconds == 0:
        return "UTC"
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    return f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


@dataclass(frozen=True)
class When:
    """A parsed schedule time: the instant in naive UTC and the zone to show it in."""

    utc: datetime
    zone: str

    @property
    def local(self) -> datetime:
        return to_local(self.utc, self.zone)


def to_local(utc: datetime, zone_name: str | None) -> datetime:
    """A stored naive-UTC time shown in *zone_name* (aware)."""
    return utc.replace(tzinfo=UTC).astimezone(zone(zone_name or "UTC"))


def parse_when(
    text: str, *, tz: str | None, default_tz: str = "UTC", now: datetime | None = None
) -> When:
    """Read WHEN (see the module docstring); *now* is naive UTC (default: the clock)."""
    now = now or db.utcnow()
    raw = text.strip()
    try:
        parsed = datetime.fromisoformat(raw.replace(" ", "T", 1) if " " in raw else raw)
    except ValueError:
        raise ScheduleError(
            f"--at {text!r} is not a date and time",
            hint="write ISO 8601 with an offset (2026-12-01T09:00+03:00) or a local time "
            "(2026-12-01 09:00) with --tz ZONE.",
        ) from None
    if parsed.tzinfo is not None:
        utc = parsed.astimezone(UTC).replace(tzinfo=None)
        zone_name = tz or _offset_name(parsed.utcoffset())
        zone(zone_name)  # validate --tz even when the offset decides the instant
    else:
        zone_name = tz or default_tz
        utc = _local_to_utc(parsed, zone_name)
    if utc < now - PAST_GRACE:
        shown = to_local(now, zone_name).strftime("%Y-%m-%d %H:%M %Z")
        raise ScheduleError(
            f"--at {text!r} is in the past (now it is {shown})",
            hint="give a future time; to send now use `mailer send`.",
        )
    return When(utc=utc.replace(microsecond=0), zone=zone_name)


def _local_to_utc(wall: datetime, zone_name: str) -> datetime:
    tz = zone(zone_name)
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != wall:
        before = _offset_name(first.utcoffset())
        after = _offset_name(second.utcoffset())
        raise ScheduleError(
            f"{wall:%Y-%m-%d %H:%M} does not exist in {zone_name}: the clocks skip it (DST change)",
            hint=f"pick a time outside the gap, or give an offset: "
            f"{wall:%Y-%m-%dT%H:%M}{after} or {wall:%Y-%m-%dT%H:%M}{before}.",
        )
    if first.utcoffset() != second.utcoffset():
        raise ScheduleError(
            f"{wall:%Y-%m-%d %H:%M} happens twice in {zone_name} (clocks go back)",
            hint=f"say which one with an offset: {wall:%Y-%m-%dT%H:%M}"
            f"{_offset_name(first.utcoffset())} (first) or {wall:%Y-%m-%dT%H:%M}"
            f"{_offset_name(second.utcoffset())} (second).",
        )
    return first.astimezone(UTC).replace(tzinfo=None)


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


@dataclass(frozen=True)
class ScheduleRow:
    """One scheduled campaign as `mailer schedule list` shows it."""

    id: int
    issue: str
    list_name: str
    status: str
    scheduled_at: datetime  # naive UTC
    zone: str
    late: bool
    send_late: bool
    backend: str
    provider_batch_id: str | None = None  # handed to SendGrid with send_at

    @property
    def local(self) -> datetime:
        return to_local(self.scheduled_at, self.zone)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "issue": self.issue,
            "list": self.list_name,
            "status": self.status,
            "scheduled_at_utc": self.scheduled_at.replace(tzinfo=UTC).isoformat(),
            "scheduled_at_local": self.local.isoformat(),
            "zone": self.zone,
            "late": self.late,
            "send_late": self.send_late,
            "backend": self.backend,
            "provider_batch_id": self.provider_batch_id,
        }


ACTIVE = (db.CampaignStatus.SCHEDULED, db.CampaignStatus.SENDING, db.CampaignStatus.PAUSED)


def list_schedules(
    engine: Engine, *, statuses: Sequence[str] | None = ACTIVE, held_late: bool = False
) -> list[ScheduleRow]:
    """Campaigns that have a schedule time, soonest first (*statuses* None: all of them;
    *held_late*: only scheduled ones marked late and not allowed to send late)."""
    c, lst = db.campaigns, db.lists
    query = (
        select(
            c.c.id,
            c.c.issue_slug,
            lst.c.name,
            c.c.status,
            c.c.scheduled_at,
            c.c.schedule_tz,
            c.c.late,
            c.c.send_late,
            c.c.backend,
            c.c.provider_batch_id,
        )
        .join(lst, lst.c.id == c.c.list_id)
        .where(c.c.scheduled_at.is_not(None), c.c.kind == db.CampaignKind.SEND.value)
        .order_by(c.c.scheduled_at, c.c.id)
    )
    if statuses is not None:
        at_sendgrid = and_(  # sent with send_at, still to go out
            c.c.provider_batch_id.is_not(None),
            c.c.status == db.CampaignStatus.SENT.value,
            c.c.scheduled_at > db.utcnow(),
        )
        query = query.where(or_(c.c.status.in_([str(s) for s in statuses]), at_sendgrid))
    if held_late:
        query = query.where(
            c.c.status == db.CampaignStatus.SCHEDULED.value,
            c.c.late.is_(True),
            c.c.send_late.is_(False),
        )
    with db.read(engine) as conn:
        return [
            ScheduleRow(
                id=r[0],
                issue=r[1],
                list_name=r[2],
                status=r[3],
                scheduled_at=r[4],
                zone=r[5] or "UTC",
                late=bool(r[6]),
                send_late=bool(r[7]),
                provider_batch_id=r[9],
                backend=r[8],
            )
            for r in conn.execute(query)
        ]


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
