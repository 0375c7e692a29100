"""The one exception tree of mailer.

Every error a user can cause, or that the outside world causes, is a
:class:`MailerError`. The CLI turns these into a clean message and exit code 1;
anything else is a bug and shows a traceback under ``--debug``::

    MailerError
    ├── ConfigError          mailer.toml or the environment is wrong
    ├── IssueError           an issue file cannot be read or validated
    ├── RenderError          templates, MJML or inlining failed
    ├── SubscriberError      a subscriber, list or import file is wrong
    ├── DatabaseError        the database cannot be reached or upgraded
    ├── PreflightError       a send or schedule was refused before anything was stored
    ├── DeliveryError        a backend refused or failed a send
    │   └── ProviderRejected the provider rejected the request (e.g. SendGrid 400)
    ├── TrackingError        a token is invalid or a webhook is not verified
    ├── BounceError          the bounce mailbox cannot be reached or read
    └── ScheduleError        a schedule is invalid or cannot be claimed
"""

from __future__ import annotations


class MailerError(Exception):
    """Base of every error mailer reports to the user.

    ``hint`` says how to fix it; ``location`` names the file (and line) at fault.
    """

    def __init__(self, message: str, *, hint: str | None = None, location: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.location = location

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ConfigError(MailerError):
    """mailer.toml or an environment variable is missing or invalid."""


class IssueError(MailerError):
    """An issue file cannot be read, parsed or validated."""


class RenderError(MailerError):
    """A template, the MJML compiler or the CSS inliner failed."""


class SubscriberError(MailerError):
    """A subscriber, a list or an import file is invalid."""


class DatabaseError(MailerError):
    """The database cannot be reached, or its schema cannot be upgraded."""


class PreflightError(MailerError):
    """A send or a schedule was refused by its pre-flight checks; nothing was stored.

    ``findings`` holds the issue's error findings (``mailer check``'s), when that was why.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        location: str | None = None,
        findings: list[object] | None = None,
    ):
        super().__init__(message, hint=hint, location=location)
        self.findings = findings or []


class DeliveryError(MailerError):
    """A backend failed to deliver a message or a batch."""


class ProviderRejected(DeliveryError):
    """The provider rejected the request as invalid (e.g. SendGrid answered 400)."""

    def __init__(self, message: str, *, reasons: list[str] | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.reasons = reasons or []


class TrackingError(MailerError):
    """A tracking or unsubscribe token is invalid, or a webhook failed verification."""


class ScheduleError(MailerError):
    """A schedule is invalid, or a scheduled campaign cannot be claimed."""


class BounceError(MailerError):
    """The bounce mailbox (``[bounces]``, ``MAILER_BOUNCE_URL``) cannot be reached or read."""
