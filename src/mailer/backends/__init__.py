"""Backends that deliver messages: outbox, smtp, sendgrid, and memory (for tests).

``get_backend(name, config)`` picks one by name; see :mod:`mailer.backends.base`
for the interface and how a backend reports what happened.
"""

from __future__ import annotations

from ..config import Config
from ..errors import ConfigError
from .base import (
    Backend,
    Batch,
    Content,
    Recipient,
    Sender,
    TransientFailure,
    UnknownOutcome,
)
from .memory import MemoryBackend, SentMessage

NAMES = ("outbox", "smtp", "sendgrid", "memory")


def get_backend(name: str, config: Config) -> Backend:
    """The backend called *name*, set up from *config* (secrets from the environment)."""
    if name == "outbox":
        from .outbox import OutboxBackend

        return OutboxBackend(config.outbox_dir)
    if name == "smtp":
        from .smtp import SmtpBackend, smtp_settings

        return SmtpBackend(smtp_settings(config))
    if name == "sendgrid":
        from .sendgrid import SendGridBackend

        return SendGridBackend.from_config(config)
    if name == "memory":
        return MemoryBackend()
    raise ConfigError(
        f"unknown backend '{name}'",
        hint=f"use one of: {', '.join(NAMES)} (backend = ... in mailer.toml or --backend).",
    )


__all__ = [
    "NAMES",
    "Backend",
    "Batch",
    "Content",
    "MemoryBackend",
    "Recipient",
    "Sender",
    "SentMessage",
    "TransientFailure",
    "UnknownOutcome",
    "get_backend",
]
