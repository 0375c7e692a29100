"""The figures of ``mailer stats`` as plain data, and the JSON keys scripts rely on.

:class:`Stats` is what :func:`mailer.stats.issue_stats` returns and what ``mailer stats
--json`` prints (``Stats.as_dict()``). The keys are stable: new keys may be added, none
renamed or removed. Counts are integers; rates are percentages rounded to one decimal
(``50.0`` means 50 %), or ``null`` when their base is 0. Times are ISO 8601 in UTC
without an offset (as stored), or ``null``.

Top level:

``slug``, ``campaigns`` (ids), ``lists`` (names), ``subject`` (as sent, the first
campaign's), ``started_at`` / ``finished_at`` (first start, last finish of the campaigns),
``sent`` (handed to the backend), ``accepted`` (taken by the backend), ``delivered``
(provider ``delivered`` events), ``recipients`` (the base of every rate: ``delivered``
when the provider reports deliveries, else ``accepted``) and ``recipients_are`` (which of
the two), ``bounced``, ``opens`` (open events), ``unique_opens``, ``unique_open_rate``,
``clicks``, ``unique_clickers``, ``click_rate``, ``click_to_open_rate`` (unique clickers
/ unique openers), ``unsubscribes``, ``unsubscribe_rate``, ``complaints``,
``complaint_rate``, ``bounce_rate``.

Privacy proxies: ``proxy_opens`` (counted open events that look made by a proxy that
preloads images: Apple Mail Privacy Protection's bare ``Mozilla/5.0`` user agent, or an
open within ``PRELOAD_WINDOW_SECONDS`` of the delivery), ``proxy_openers`` (openers all of
whose opens look so) and ``opens_note`` (the warning to show beside open figures, ``""``
when nothing was opened).

Scanners, left out of every figure above: ``scanner_clicks``, ``scanner_opens`` (security
scanners, opens within the scanner window, SendGrid "machine opens").

``stories``: one object per story (block or card) in reading order: ``block`` (id),
``title`` (from the issue file; the id when the file is gone), ``clicks``,
``unique_clickers``, ``click_rate``, ``shares`` (network → share clicks) and
``share_rates`` (network → unique sharers / recipients).

``networks``: one object per social network link kind: ``network``, ``kind`` (``share`` or
``follow``), ``clicks``, ``unique_clickers``, ``click_rate``. ``follows``: network →
follow clicks.

``comparison``: this issue's campaigns (``current: true``) then the previous campaigns
to the same lists, newest first: ``campaign``, ``slug``, ``subject``, ``list``, ``date``
(started, else created), ``recipients``, ``unique_open_rate``, ``click_rate``,
``unsubscribe_rate``, ``current``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: an open this soon after the provider accepted the message is a preload, not a reader
PRELOAD_WINDOW_SECONDS = 60.0

OPENS_NOTE = (
    "Opens are inflated by privacy proxies (Apple Mail Privacy Protection loads every "
    "image without the reader); read clicks first."
)


def rate(part: int, base: int) -> float | None:
    """*part* as a percentage of *base*, one decimal; ``None`` when *base* is 0."""
    if base <= 0:
        return None
    return round(100.0 * part / base, 1)


def percent(value: float | None) -> str:
    """A rate for people: ``50.0%``, or ``–`` when there is no base."""
    return "–" if value is None else f"{value:.1f}%"


@dataclass
class StoryStats:
    """Clicks on one story (block or card) of the issue."""

    block: str
    clicks: int = 0
    unique_clickers: int = 0
    #: share clicks per network (``share:<network>`` links)
    shares: dict[str, int] = field(default_factory=dict)
    title: str = ""
    click_rate: float | None = None
    #: unique sharers per network as a percentage of recipients
    share_rates: dict[str, float | None] = field(default_factory=dict)


@dataclass
class NetworkStats:
    """Clicks on the links of one social network (share or follow)."""

    network: str
    kind: str
    clicks: int = 0
    unique_clickers: int = 0
    click_rate: float | None = None


@dataclass
class ComparisonRow:
    """One campaign of the list, for the comparison with earlier issues."""

    campaign: int
    slug: str
    subject: str
    list: str
    date: str | None
    recipients: int
    unique_open_rate: float | None
    click_rate: float | None
    unsubscribe_rate: float | None
    current: bool = False


@dataclass
class Stats:
    """The figures of one issue (see the module docstring for every key)."""

    slug: str
    campaigns: list[int]
    #: deliveries handed to the backend (accepted, failed or unknown; not pending)
    sent: int = 0
    accepted: int = 0
    delivered: int = 0
    bounced: int = 0
    opens: int = 0
    unique_opens: int = 0
    clicks: int = 0
    unique_clickers: int = 0
    unsubscribes: int = 0
    complaints: int = 0
    stories: list[StoryStats] = field(default_factory=list)
    #: follow clicks per network (``follow:<network>`` links)
    follows: dict[str, int] = field(default_factory=dict)
    scanner_clicks: int = 0
    scanner_opens: int = 0
    lists: list[str] = field(default_factory=list)
    subject: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    recipients: int = 0
    recipients_are: str = "accepted"
    unique_open_rate: float | None = None
    click_rate: float | None = None
    click_to_open_rate: float | None = None
    unsubscribe_rate: float | None = None
    complaint_rate: float | None = None
    bounce_rate: float | None = None
    proxy_opens: int = 0
    proxy_openers: int = 0
    opens_note: str = ""
    networks: list[NetworkStats] = field(default_factory=list)
    comparison: list[ComparisonRow] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The same numbers as plain JSON-able data."""
        return asdict(self)


def summary_rows(stats: Stats) -> list[tuple[str, int, str]]:
    """(figure, count, rate) for people, clicks first: the same rows in the table and
    the HTML report."""
    s, p = stats, percent
    return [
        (f"recipients ({s.recipients_are})", s.recipients, ""),
        ("unique clickers (click rate)", s.unique_clickers, p(s.click_rate)),
        ("clicks", s.clicks, ""),
        (
            "click-to-open (unique clickers / unique opens)",
            s.unique_clickers,
            p(s.click_to_open_rate),
        ),
        ("unsubscribes", s.unsubscribes, p(s.unsubscribe_rate)),
        ("complaints", s.complaints, p(s.complaint_rate)),
        ("bounced (of sent)", s.bounced, p(s.bounce_rate)),
        ("unique opens* (open rate)", s.unique_opens, p(s.unique_open_rate)),
        ("opens*", s.opens, ""),
        ("opens that look made by a privacy proxy", s.proxy_opens, ""),
        ("openers with only proxy-looking opens", s.proxy_openers, ""),
        ("sent (handed to the backend)", s.sent, ""),
        ("accepted", s.accepted, ""),
        ("delivered (provider events)", s.delivered, ""),
        ("scanner clicks (left out)", s.scanner_clicks, ""),
        ("scanner and machine opens (left out)", s.scanner_opens, ""),
    ]


def when_line(stats: Stats) -> str:
    """Subject, lists and send times in one line."""
    started = (stats.started_at or "not started").replace("T", " ")
    finished = (stats.finished_at or "not finished").replace("T", " ")
    lists = ", ".join(stats.lists) or "?"
    return f"to {lists}; sending started {started} UTC, finished {finished} UTC"
