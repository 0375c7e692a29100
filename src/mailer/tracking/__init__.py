"""Tracking, shared by the sender and the web endpoint: signed tokens (``tokens.py``), the
per-campaign link registration and rewrite (``rewrite.py``) and the signs of a link
scanner (``scanners.py``). The endpoint that answers the links is ``mailer.web``.
"""

from __future__ import annotations

from .rewrite import RECIPIENT_TOKEN, base_url, prepare, signer, tracked
from .tokens import Signer

__all__ = ["RECIPIENT_TOKEN", "Signer", "base_url", "prepare", "signer", "tracked"]
