"""Schedule times: WHEN as the user writes it, zones, durations (no database work).

A scheduled campaign stores ``scheduled_at`` in naive UTC and ``schedule_tz`` the zone the
user gave (an IANA name such as ``Europe/Istanbul``, or a fixed offset such as ``+03:00``
when WHEN carried one). Times (see :func:`parse_when`):

* ``2026-12-01T09:00+03:00`` or ``…Z``: an instant; the offset wins over ``--tz``.
* ``2026-12-01 09:00``: a wall-clock time in ``--tz`` (default ``[schedule] timezone``).
  A time that does not exist (skipped by a DST change) or exists twice (repeated by
  one) is refused with a :class:`~mailer.errors.ScheduleError` naming both choices,
  rather than guessed.
* A time more than :data:`PAST_GRACE` in the past is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .. import db
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
