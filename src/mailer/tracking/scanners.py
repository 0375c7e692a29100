"""Security scanners that click every link of a message before (or instead of) a person.

Two signs, either enough: a user agent of a known link scanner (Microsoft Safe Links
and BingPreview, Proofpoint URL Defense, Mimecast, Barracuda, …), or a click within
``tracking.scanner_window_seconds`` of the moment the provider accepted the message
(no person opens, reads and clicks that fast). Scanner events are recorded with
``is_scanner = True``, left out of the stats and shown apart.
"""

from __future__ import annotations

import re
from datetime import datetime

#: substrings (case-insensitive) of user agents sent by link scanners and URL rewriters
SCANNER_AGENTS: tuple[str, ...] = (
    "safelinks",
    "safe links",
    "bingpreview",
    "microsoft office protection",
    "ms-office",  # Office link preview fetchers
    "proofpoint",
    "urldefense",
    "mimecast",
    "barracuda",
    "trendmicro",
    "trend micro",
    "forcepoint",
    "messagelabs",
    "symantec",
    "sophos",
    "fireeye",
    "ironport",
    "cisco",
    "zscaler",
    "paloalto",
    "checkpoint",
    "avanan",
    "agari",
    "sitecheck",
    "urlscan",
    "linkscanner",
    "scanner",
    "headlesschrome",
)
_AGENTS_RE = re.compile("|".join(re.escape(a) for a in SCANNER_AGENTS), re.IGNORECASE)


def is_scanner_agent(user_agent: str | None) -> bool:
    """Whether *user_agent* is a known link scanner's."""
    return bool(user_agent) and _AGENTS_RE.search(user_agent or "") is not None


def too_soon(clicked_at: datetime, accepted_at: datetime | None, window_seconds: float) -> bool:
    """Whether a click at *clicked_at* came within the scanner window after acceptance.

    A click *before* the recorded acceptance also counts: the provider's scanners can
    fetch a message before the ledger has written that the provider accepted it."""
    if accepted_at is None or window_seconds <= 0:
        return False
    return (clicked_at - accepted_at).total_seconds() < window_seconds
