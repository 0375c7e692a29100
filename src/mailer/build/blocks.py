"""The letter, gallery and event blocks: their models and the event's times.

``letter`` is a signed note (a director's word), ``gallery`` a strip of captioned
photos two per row, ``event`` a dated invitation with an "add to calendar" file
(:mod:`mailer.build.ics`). :mod:`mailer.build.issue` puts them in the issue's block
union; the theme renders them (``blocks/letter.mjml.j2``…) and
:mod:`mailer.build.text_blocks` writes their text part.

An event's ``start`` and ``end`` are local times (``2027-04-22 18:00``) in its
``timezone`` (IANA, e.g. ``Europe/Istanbul``); without one, ``[schedule] timezone`` of
mailer.toml applies (see :func:`event_zone`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..validate import Field, field_validator, model_validator
from .fields import Button, Image, Strict, Url

#: the most photos in one gallery
MAX_PHOTOS = 40


class Signature(Strict):
    """Who signs a letter: name, role, and a small round portrait (optional)."""

    name: str = Field(min_length=1)
    role: str = ""
    image: Image | None = None


class LetterBlock(Strict):
    """A letter: title, salutation ("Dear friends,"), Markdown body, signature."""

    id: str
    type: Literal["letter"]
    title: str = ""
    salutation: str = ""
    body: str = Field(min_length=1)
    signature: Signature | None = None


class GalleryItem(Strict):
    """One photo of a gallery (caption and credit under it), linked when ``url`` is set;
    ``id`` (default: from the caption) names its link in the statistics."""

    id: str
    image: Image
    url: Url | None = None


class GalleryBlock(Strict):
    """Photos two per row at 600 px, one per row on a phone."""

    id: str
    type: Literal["gallery"]
    title: str = ""
    items: list[GalleryItem] = Field(min_length=1, max_length=MAX_PHOTOS)


def check_zone(value: str) -> str:
    """*value* if it names an IANA time zone (``Europe/Istanbul``); ValueError otherwise."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"expected an IANA time zone such as Europe/Istanbul or America/New_York; got {value!r}"
        ) from None
    return value


class EventBlock(Strict):
    """An event: title, local start and end, time zone, place, body, button."""

    id: str
    type: Literal["event"]
    title: str = Field(min_length=1)
    start: datetime
    end: datetime | None = None
    timezone: str | None = None
    place: str = ""
    body: str = ""
    button: Button | None = None

    @field_validator("start", "end")
    def _local(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError(
                "write the local time without an offset (e.g. 2027-04-22 18:00) "
                "and name the zone in `timezone:`"
            )
        return value

    @field_validator("timezone")
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_zone(value)

    @model_validator
    def _order(self) -> EventBlock:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"the event ends ({self.end}) before it starts ({self.start})")
        return self


def ics_name(slug: str, block_id: str) -> str:
    """The event's calendar file in the build: ``assets/<slug>-<id>.ics``."""
    return f"assets/{slug}-{block_id}.ics"


def event_zone(block: EventBlock, default: str) -> ZoneInfo:
    """The event's time zone: its own ``timezone``, else *default* (``[schedule] timezone``)."""
    return ZoneInfo(block.timezone or default)


def _locale(lang: str) -> Any:
    from babel.core import Locale, UnknownLocaleError

    for code in (lang.replace("-", "_"), lang.split("-")[0].split("_")[0], "en"):
        try:
            return Locale.parse(code)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")


def format_when(block: EventBlock, default_zone: str, lang: str) -> str:
    """The event's date and time in *lang*: "Thursday, April 22, 2027, 6:00 PM – 8:00 PM
    (Türkiye Time)"; a second date when it ends on another day."""
    from babel.dates import format_skeleton, format_time, get_timezone_location

    loc = _locale(lang)
    zone = event_zone(block, default_zone)
    day = format_skeleton("yMMMMEEEEd", block.start, locale=loc)
    when = f"{day}, {format_time(block.start, 'short', locale=loc)}"
    if block.end is not None:
        if block.end.date() == block.start.date():
            when += f" – {format_time(block.end, 'short', locale=loc)}"
        else:
            end_day = format_skeleton("yMMMMEEEEd", block.end, locale=loc)
            when += f" – {end_day}, {format_time(block.end, 'short', locale=loc)}"
    try:
        place = get_timezone_location(zone, locale=loc)
    except (LookupError, ValueError):
        place = str(zone.key)
    return f"{when} ({place})"
