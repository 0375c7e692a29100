"""Notices: one transactional message to the one person who just asked for it.

The sign-up confirmation (double opt-in) and the welcome issue go out through the
configured backend (``mailer.backends``) one at a time, outside any campaign: no
ledger, no batches, no tracking. ``texts.py`` holds the confirmation email in each
language; ``send.py`` builds and sends. The web endpoint may call this stage (it sends
only to an address that just signed up, never to a list); campaigns stay in
``mailer.delivery``, which the web endpoint never imports.
"""

from __future__ import annotations

from .send import Notifier, send_confirmation, send_welcome
from .texts import confirmation_texts

__all__ = ["Notifier", "confirmation_texts", "send_confirmation", "send_welcome"]
