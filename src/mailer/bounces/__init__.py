"""Bounces for SMTP senders: the bounce mailbox (IMAP), DSN and non-standard bounce
parsing, and what a bounce does to a subscriber.

``imap`` reads the mailbox, ``parse`` turns one message into bounces (stdlib ``email``,
no database), ``record`` writes events and suppresses addresses, ``run`` is one pass
(``mailer bounces``, the worker). SendGrid's bounces come through its webhook
(:mod:`mailer.web.webhook`) instead; the VERP envelope sender and the identifying
header are the SMTP backend's (:mod:`mailer.backends.smtp`).
"""

from __future__ import annotations

from .imap import URL_ENV, configured, imap_settings
from .parse import RECIPIENT_HEADER, Bounce, Parsed, parse
from .record import DEFERRED, Row
from .run import BounceReport, Poller, read_bounces

__all__ = [
    "DEFERRED",
    "RECIPIENT_HEADER",
    "URL_ENV",
    "Bounce",
    "BounceReport",
    "Parsed",
    "Poller",
    "Row",
    "configured",
    "imap_settings",
    "parse",
    "read_bounces",
]
