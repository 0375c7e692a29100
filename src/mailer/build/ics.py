"""An event block as an "add to calendar" file (iCalendar, RFC 5545).

:func:`event_ics` writes one VCALENDAR with one VEVENT: UID (stable: the issue's slug
and the block's id, so a reader who adds it twice gets one entry), DTSTAMP, DTSTART and
DTEND in UTC (the local times converted with the event's zone, so no VTIMEZONE is
needed and every calendar agrees), SUMMARY, LOCATION, DESCRIPTION and URL. Lines end in
CRLF and are folded at 75 octets without splitting a UTF-8 character; ``,`` ``;`` ``\\``
and newlines in texts are escaped. The build writes it as ``assets/<slug>-<id>.ics``
(see :func:`mailer.build.blocks.ics_name`).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..config import Config
from .blocks import EventBlock, event_zone, ics_name
from .issue import Issue
from .markdown import html_to_text, to_html

#: an event without ``end`` lasts this long in calendars
DEFAULT_LENGTH = timedelta(hours=1)


def escape_text(value: str) -> str:
    """*value* as an iCalendar TEXT: backslash, comma, semicolon and newlines escaped."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def fold(line: str) -> str:
    """*line* folded into lines of at most 75 octets (CRLF + one space before each
    continuation), never inside a UTF-8 character."""
    out: list[str] = []
    current = ""
    size = 0
    limit = 75
    for char in line:
        n = len(char.encode("utf-8"))
        if size + n > limit:
            out.append(current)
            current, size, limit = " ", 1, 75
        current += char
        size += n
    out.append(current)
    return "\r\n".join(out)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def event_ics(
    block: EventBlock,
    *,
    slug: str,
    default_zone: str,
    domain: str,
    stamp: datetime,
    url: str | None = None,
) -> str:
    """The iCalendar text of *block* (CRLF line endings). *stamp* is DTSTAMP (the issue's
    date, so two builds give the same file); *domain* makes the UID unique."""
    zone = event_zone(block, default_zone)
    start = block.start.replace(tzinfo=zone)
    end = (block.end or block.start + DEFAULT_LENGTH).replace(tzinfo=zone)
    description = html_to_text(to_html(block.body)) if block.body else ""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//mailer//newsletter event//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{slug}-{block.id}@{domain}",
        f"DTSTAMP:{_utc(stamp)}",
        f"DTSTART:{_utc(start)}",
        f"DTEND:{_utc(end)}",
        f"SUMMARY:{escape_text(block.title)}",
    ]
    if block.place:
        lines.append(f"LOCATION:{escape_text(block.place)}")
    if description:
        lines.append(f"DESCRIPTION:{escape_text(description.strip())}")
    if url:
        lines.append(f"URL:{url}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) + "\r\n" for line in lines)


def calendar_files(
    issue: Issue, config: Config, *, stamp: datetime | None = None
) -> dict[str, str]:
    """Build-relative name → iCalendar text, one per event block of *issue*.

    DTSTAMP is *stamp*, else ``SOURCE_DATE_EPOCH`` when set (reproducible builds), else now."""
    if stamp is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
        stamp = datetime.fromtimestamp(int(epoch), UTC) if epoch.isdigit() else datetime.now(UTC)
    settings = config.settings
    domain = settings.sender.from_email.rpartition("@")[2] or "mailer.invalid"
    files = {}
    for block in issue.blocks:
        if isinstance(block, EventBlock):
            url = block.button.url if block.button else None
            files[ics_name(issue.slug, block.id)] = event_ics(
                block,
                slug=issue.slug,
                default_zone=settings.schedule.timezone,
                domain=domain,
                stamp=stamp,
                url=url,
            )
    return files


def write_calendar_files(issue: Issue, config: Config, target: str | Path) -> list[Path]:
    """Write the ``.ics`` files of *issue* (as loaded for the build: one per event) under
    *target* (``assets/...``), as ``mailer build`` does beside index.html; the paths
    written."""
    written = []
    for name, text in calendar_files(issue, config).items():
        path = Path(target) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        written.append(path)
    return written
