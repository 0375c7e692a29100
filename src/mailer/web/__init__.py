"""The web endpoint (``mailer serve``): click redirects, the open pixel, unsubscribe and the
view page (``server.py``, ``pages.py``), event recording (``recorder.py``) and the SendGrid
Event Webhook (``webhook.py``). It reads campaigns and links; it never sends.
"""

from __future__ import annotations

from .server import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]
