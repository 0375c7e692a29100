"""Opens that a privacy proxy made, not a reader.

Apple Mail Privacy Protection fetches every image of a message (the open pixel too)
through Apple's proxies soon after the message arrives, whether or not it is read; its
requests carry the bare user agent ``Mozilla/5.0``. An open counted in the stats is taken
for a proxy's when it has that user agent or came within a short window of the moment the
provider accepted the message. (Opens within the scanner window and SendGrid's "machine
opens" are already recorded as scanner events and left out of the figures.)
"""

from __future__ import annotations

from datetime import datetime

#: user agents of proxies that preload images (exact, after stripping)
PRELOADING_AGENTS = frozenset({"Mozilla/5.0"})


def looks_like_proxy(
    user_agent: str | None,
    opened_at: datetime | None,
    accepted_at: datetime | None,
    window_seconds: float,
) -> bool:
    """Whether an open looks made by a proxy that preloads images (see the module doc)."""
    if (user_agent or "").strip() in PRELOADING_AGENTS:
        return True
    if opened_at is None or accepted_at is None or window_seconds <= 0:
        return False
    return (opened_at - accepted_at).total_seconds() < window_seconds
