"""The small interface every backend implements, and the types it receives.

A backend gets a :class:`Batch`: one campaign, one language (one :class:`Content`),
up to ``sending.batch_size`` :class:`Recipient` s whose substitution values are
already computed (``personalize.py``). It reports what happened:

* per recipient, through the ``report`` callback (``accepted``, ``failed`` for a
  permanent refusal of that address, ``unknown`` when the message may have left
  but no answer came). Per-message backends (outbox, SMTP) call it after each
  message so the ledger can checkpoint message by message; batch backends
  (SendGrid) call it for every recipient once the provider accepted the request.
* for the batch as a whole, by raising:

  - :class:`TransientFailure`: nothing more was accepted (429/5xx after the bounded
    retries, connection refused); the unreported recipients are safe to send again;
  - :class:`UnknownOutcome`: the request left and no answer came (a timeout after
    sending); the unreported recipients are held ``unknown``;
  - :class:`~mailer.errors.ProviderRejected`: the provider refused the request as
    invalid (SendGrid 400); the campaign stops as ``failed``;
  - any other :class:`~mailer.errors.DeliveryError`: configuration or credentials
    are wrong; the campaign pauses.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from ..errors import DeliveryError

Outcome = Literal["accepted", "failed", "unknown"]

#: one pass over a part: every %%token%% the rendered issue may contain
TOKEN_RE = re.compile(r"%%[a-z_:.0-9]+%%")


@dataclass(frozen=True)
class Sender:
    """Who the message is from (from ``[sender]`` in mailer.toml)."""

    name: str
    email: str
    reply_to: str | None = None


@dataclass(frozen=True)
class Content:
    """What every recipient of one language gets, before substitution."""

    language: str
    subject: str
    html: str
    text: str
    #: tokens that appear in subject, html or text (so payloads carry only those)
    tokens: frozenset[str] = frozenset()

    @classmethod
    def of(cls, language: str, subject: str, html: str, text: str) -> Content:
        found = set(TOKEN_RE.findall(subject))
        found.update(TOKEN_RE.findall(html))
        found.update(TOKEN_RE.findall(text))
        return cls(language, subject, html, text, frozenset(found))


@dataclass(slots=True)
class Recipient:
    """One addressee with their substitution values (``%%token%%`` → text). Treat it as
    immutable (``dataclasses.replace`` makes a changed copy); it is not declared frozen
    because a send makes one per recipient and a frozen dataclass's ``__init__`` costs
    three times a plain one's."""

    subscriber_id: int
    email: str
    name: str
    #: values for the HTML part (HTML-escaped); tokens of the content only
    values: Mapping[str, str]
    #: values for the subject and text part (not escaped)
    text_values: Mapping[str, str]
    #: the List-Unsubscribe / List-Unsubscribe-Post headers for this recipient
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Batch:
    """One request's worth of recipients of one campaign in one language."""

    campaign_id: int
    batch_id: int
    slug: str
    sender: Sender
    content: Content
    recipients: list[Recipient]


Report = Callable[[Recipient, Outcome, str | None, str | None], None]
"""``report(recipient, outcome, provider_message_id, error)``."""


class TransientFailure(DeliveryError):
    """The batch (or its rest) was not accepted and can safely be sent again later."""


class UnknownOutcome(DeliveryError):
    """The request left but no answer came: the provider may have accepted it."""


@runtime_checkable
class Backend(Protocol):
    """What the send loop needs from a backend."""

    #: name used in config, ``--backend`` and the campaign row
    name: str
    #: True when messages go one by one (the ledger checkpoints per message)
    per_message: bool

    def open(self) -> None:
        """Connect (SMTP), create folders (outbox): called once before the first batch."""

    def send(self, batch: Batch, report: Report) -> None:
        """Send *batch*, calling *report* per recipient; raise as the module docstring says."""

    def probe(self, batch: Batch, recipient: Recipient) -> bool | None:
        """After a crash: was this in-flight message delivered? None when nobody can tell."""

    def close(self) -> None:
        """Release connections."""


#: a SendGrid API key as it may appear in a provider's error text
_SENDGRID_KEY = re.compile(r"SG\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """*text* (an error carrying provider text) with any API key or SMTP password hidden:
    SendGrid-shaped keys, the configured ``SENDGRID_API_KEY`` and the password of
    ``MAILER_SMTP_URL`` (raw and URL-encoded)."""
    from urllib.parse import quote, unquote, urlsplit

    secrets: list[str] = []
    key = os.environ.get("SENDGRID_API_KEY", "")
    if len(key) >= 4:
        secrets.append(key)
    url = os.environ.get("MAILER_SMTP_URL", "")
    if url:
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password and len(password) >= 3:
            secrets += [password, unquote(password), quote(unquote(password), safe="")]
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _SENDGRID_KEY.sub(REDACTED, text)


def substitute(template: str, values: Mapping[str, str]) -> str:
    """Replace every known ``%%token%%`` of *template* in one pass (unknown ones stay)."""
    if "%%" not in template:
        return template
    return TOKEN_RE.sub(lambda m: values.get(m.group(0), m.group(0)), template)


def personal_parts(batch: Batch, recipient: Recipient) -> tuple[str, str, str]:
    """(subject, text, html) of *batch* for *recipient*, substituted locally."""
    c = batch.content
    return (
        substitute(c.subject, recipient.text_values),
        substitute(c.text, recipient.text_values),
        substitute(c.html, recipient.values),
    )


#: characters no header may carry (CR, LF, NUL and the other C0 controls but TAB; DEL)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NAMES = {"\r": "CR", "\n": "LF", "\x00": "NUL"}


def _shown(char: str) -> str:
    return _NAMES.get(char, f"U+{ord(char):04X}")


def message_problem(batch: Batch, recipient: Recipient) -> str | None:
    """Why the message for *recipient* cannot be built safely, or None.

    A control character (CR, LF, NUL, …) from a subscriber's data in the subject, a
    header, the address or the name would break the message or inject headers; a NUL
    anywhere breaks SMTP. The ledger marks such a delivery ``failed`` with this reason
    and the send goes on."""
    subject = substitute(batch.content.subject, recipient.text_values)
    if m := _CONTROL.search(subject):
        return (
            f"the subject would contain a control character ({_shown(m[0])}) "
            "from this subscriber's data"
        )
    for field_name, value in (("address", recipient.email), ("name", recipient.name)):
        if m := _CONTROL.search(value):
            return f"the {field_name} contains a control character ({_shown(m[0])})"
    for header, value in recipient.headers.items():
        if m := _CONTROL.search(value):
            return f"the {header} header would contain a control character ({_shown(m[0])})"
    for value in recipient.text_values.values():
        if "\x00" in value:
            return "this subscriber's data contains a NUL character"
    return None


def may_have_problems(batch: Batch) -> bool:
    """False when no recipient of *batch* can have a :func:`message_problem`: one scan of
    the subject and of every recipient's address, name, headers and values together
    finds no control character (the per-recipient check then has nothing to find).

    The scan is over the UTF-8 bytes: every character :func:`message_problem` looks for
    is ASCII, and in UTF-8 an ASCII byte only ever stands for that character, so
    deleting every other byte (``bytes.translate``, ten times a regular expression's
    speed) leaves something exactly when one of them is there."""
    parts = [batch.content.subject]
    for r in batch.recipients:
        parts += (r.email, r.name, *r.headers.values(), *r.text_values.values())
    data = "".join(parts).encode("utf-8", "surrogatepass")
    return bool(data.translate(None, _NOT_CONTROL))


#: every byte but the ones of :data:`_CONTROL`'s characters (``may_have_problems``)
_NOT_CONTROL = bytes(b for b in range(256) if not _CONTROL.match(chr(b)) or b >= 0x80)


def build_bytes(batch: Batch, recipient: Recipient) -> bytes:
    """The complete RFC 5322 message for one recipient (SMTP and outbox)."""
    from ..build.message import make_message, to_bytes

    subject, text, html = personal_parts(batch, recipient)
    msg = make_message(
        from_name=batch.sender.name,
        from_email=batch.sender.email,
        to=recipient.email,
        to_name=recipient.name or None,
        subject=subject,
        text=text,
        html=html,
        reply_to=batch.sender.reply_to,
        headers=dict(recipient.headers),
    )
    return to_bytes(msg)
