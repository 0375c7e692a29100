"""Bounce messages → :class:`Bounce` records (stdlib ``email`` only, no database).

Two shapes are read:

* **DSNs** (RFC 3464): ``multipart/report; report-type=delivery-status``. Every
  per-recipient block of the ``message/delivery-status`` part gives one bounce:
  ``Final-Recipient`` (or ``Original-Recipient``), ``Action`` (``failed`` | ``delayed``;
  ``delivered``/``relayed``/``expanded`` are not bounces), ``Status`` and
  ``Diagnostic-Code``.
* **Non-standard bounces** in plain text: Gmail's "Delivery Status Notification
  (Failure)", Postfix's "Undelivered Mail Returned to Sender", Exim's "Mail delivery
  failed", Microsoft's "Undeliverable:". The SMTP reply (``550 5.1.1 …``) and the
  failed address are found in the human-readable text.

Classification: ``5.x.x`` is **hard** (the address is suppressed) except ``5.7.x``, a
policy refusal (spam block, the sender's own SPF/DKIM/DMARC failing, e.g. Outlook's
``550 5.7.515``), which is **soft** with ``policy=True``: suppressing every Outlook
address because the sender's DNS is wrong would be worse than the bounce. ``4.x.x``
and ``Action: delayed`` are **soft**.

Who it was for: the original message's headers come back inside the bounce
(``message/rfc822``, ``text/rfc822-headers`` or quoted in the text); the signed
``X-Mailer-Recipient`` token, the ``List-Unsubscribe`` ``/u/<token>`` URL, or the
VERP envelope address ``bounces+c<campaign>-s<subscriber>@domain`` (the bounce's
``To``/``Delivered-To``/``X-Original-To``, the original's ``Return-Path``) are
collected here; :mod:`mailer.bounces.record` checks them against the database.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from typing import Literal

from ..backends.smtp import RECIPIENT_HEADER

Kind = Literal["hard", "soft"]

VERP_RE = re.compile(r"bounces\+c(\d{1,18})-s(\d{1,18})@", re.IGNORECASE)
_TOKEN_HEADER_RE = re.compile(
    rf"^{RECIPIENT_HEADER}:\s*([0-9a-z]+\.[0-9a-z]+\.[A-Za-z0-9_-]+)", re.I | re.M
)
_UNSUB_RE = re.compile(r"/u/([0-9a-z]+\.[0-9a-z]+\.[A-Za-z0-9_-]{12})(?![A-Za-z0-9_-])")
_ADDR_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
#: an SMTP reply with its enhanced status: "550 5.1.1", "550-5.1.1", "#550 5.1.1"
_REPLY_RE = re.compile(r"(?<![\d.])([45]\d\d)[ -]#?([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
#: an enhanced status on its own, after a space, '#' or '(' ("Status: 5.1.1", "#5.1.1")
_STATUS_RE = re.compile(r"(?:(?<=[\s#(])|^)([45]\.\d{1,3}\.\d{1,3})(?![\d.])", re.M)
#: a bare SMTP reply code after the words MTAs put before it
_CODE_RE = re.compile(
    r"(?:said:|returned|error[^\n:]{0,60}:|server was:|response was:)\s*['\"(]?\s*([45]\d\d)\b",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|delivery status notification|mail delivery (failed|failure|subsystem)|"
    r"returned mail|returned to sender|delivery failure|failure notice|"
    r"delayed mail|delivery (has been )?delayed|warning: message",
    re.IGNORECASE,
)
_DELAY_RE = re.compile(
    r"\(delay\)|delayed|still being retried|will (continue to )?retry|warning only|"
    r"has not yet been delivered",
    re.IGNORECASE,
)
#: wording of a permanent failure when no code is given
_GONE_RE = re.compile(
    r"user unknown|no such user|does not exist|address couldn.t be found|"
    r"mailbox (unavailable|not found)|recipient (address )?rejected|unknown recipient",
    re.IGNORECASE,
)
_DAEMON_RE = re.compile(r"^(mailer-daemon|postmaster|bounces?)[@+]", re.IGNORECASE)


@dataclass(frozen=True)
class Bounce:
    """One failed (or delayed) recipient of one bounce message."""

    kind: Kind
    #: the address the remote server refused (None when the bounce does not say)
    recipient: str | None
    #: the enhanced status code, e.g. "5.1.1" (None when only words said it)
    status: str | None
    action: str
    diagnostic: str
    #: a 5.7.x refusal: the sender's reputation or authentication, not the address
    policy: bool = False


@dataclass(frozen=True)
class Parsed:
    """What one message in the bounce mailbox says."""

    #: "dsn", "text" (a non-standard bounce) or "unknown"
    shape: str
    subject: str
    message_id: str
    bounces: list[Bounce] = field(default_factory=list)
    #: signed recipient tokens found in the returned original (X-Mailer-Recipient, /u/)
    tokens: list[str] = field(default_factory=list)
    #: (campaign id, subscriber id) pairs from VERP addresses
    verp: list[tuple[int, int]] = field(default_factory=list)
    #: why nothing could be read from it (None when ``bounces`` is not empty)
    problem: str | None = None


def classify(status: str | None, action: str) -> tuple[Kind, bool]:
    """(hard|soft, policy) of an enhanced *status* and a DSN *action*."""
    if action == "delayed" or (status or "").startswith("4."):
        return "soft", False
    if status and status.startswith("5.7."):
        return "soft", True
    return "hard", False


def _text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # a broken transfer encoding: read what is there
        payload = None
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, "replace")
        except LookupError:
            return payload.decode("utf-8", "replace")
    raw = part.get_payload()
    return raw if isinstance(raw, str) else ""


def _address(value: str | None) -> str | None:
    """``rfc822; user@example.org`` → ``user@example.org``."""
    if not value:
        return None
    text = str(value).split(";", 1)[-1].strip().strip("<>").strip()
    return text if "@" in text else None


def _status(value: str | None) -> str | None:
    m = _STATUS_RE.search(f" {value or ''}")
    return m.group(1) if m else None


def _dsn(msg: Message) -> tuple[list[Bounce], list[str]]:
    """Bounces from the delivery-status part; the returned original's header texts."""
    bounces: list[Bounce] = []
    originals: list[str] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            blocks = part.get_payload()
            if not isinstance(blocks, list):  # some MTAs: one text blob
                blocks = [HeaderParser().parsestr(b) for b in _text(part).split("\n\n")]
            for block in blocks[1:] if len(blocks) > 1 else blocks:
                if not isinstance(block, Message):
                    continue
                action = str(block.get("Action", "")).strip().lower()
                if action not in ("failed", "delayed"):
                    continue
                status = _status(block.get("Status"))
                kind, policy = classify(status, action)
                recipient = _address(block.get("Final-Recipient")) or _address(
                    block.get("Original-Recipient")
                )
                diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
                bounces.append(Bounce(kind, recipient, status, action, diagnostic, policy))
        elif ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                originals.append("".join(f"{k}: {v}\n" for k, v in inner[0].items()))
        elif ctype == "text/rfc822-headers":
            originals.append(_text(part))
    return bounces, originals


def _plain(msg: Message, subject: str) -> list[Bounce]:
    """One bounce from a non-standard report's text, or none."""
    texts = []
    for part in msg.walk():
        if part.get_content_type() == "message/rfc822":
            break  # the returned original starts: its text is not the report
        if part.get_content_type() == "text/plain":
            texts.append(_text(part))
    text = "\n".join(texts)
    if not text and not _BOUNCE_SUBJECT_RE.search(subject):
        return []
    # the report ends where the copy of the original message begins
    report = re.split(
        r"^-{2,}.*(?:copy of the message|original message|message headers).*$|"
        r"^Original message headers:|^Received: ",
        text,
        maxsplit=1,
        flags=re.IGNORECASE | re.MULTILINE,
    )[0]
    status = diagnostic = None
    if m := _REPLY_RE.search(report):
        status, diagnostic = m.group(2), _line(report, m.start())
    elif m := _CODE_RE.search(report):
        status = f"{m.group(1)[0]}.0.0"
        diagnostic = _line(report, m.start(1))
    elif m := _STATUS_RE.search(report):
        status, diagnostic = m.group(1), _line(report, m.start(1))
    delayed = bool(_DELAY_RE.search(subject) or _DELAY_RE.search(report[:2000]))
    if status is None:
        if not _BOUNCE_SUBJECT_RE.search(subject):
            return []
        if delayed:
            status, diagnostic = None, "delivery delayed"
        elif m := _GONE_RE.search(report):
            diagnostic = _line(report, m.start())
        else:
            return []
    action = "delayed" if delayed and not (status or "").startswith("5.") else "failed"
    kind, policy = classify(status, action)
    recipients = [a for a in _ADDR_RE.findall(report) if not _DAEMON_RE.match(a)]
    recipient = recipients[0].strip(".") if recipients else None
    return [Bounce(kind, recipient, status, action, diagnostic or "", policy)]


def _line(text: str, at: int) -> str:
    """The whitespace-folded line of *text* around offset *at* (at most 300 characters)."""
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    return " ".join(text[start : end if end >= 0 else None].split())[:300]


def message_key(raw: bytes, message_id: str) -> str:
    """A stable key of one bounce message (its Message-ID, else its bytes)."""
    basis = message_id.encode("utf-8", "replace") if message_id else raw
    return hashlib.sha256(basis).hexdigest()[:32]


def parse(raw: bytes) -> Parsed:
    """Read one message from the bounce mailbox."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    subject = " ".join(str(_header(msg, "Subject")).split())
    message_id = str(msg.get("Message-ID", "")).strip()
    bounces: list[Bounce] = []
    originals: list[str] = []
    shape = "unknown"
    if msg.get_content_type() == "multipart/report":
        bounces, originals = _dsn(msg)
        shape = "dsn" if bounces else shape
    if not bounces:
        bounces = _plain(msg, subject)
        shape = "text" if bounces else shape
        originals = originals or [_whole_text(msg)]
    envelope = " ".join(
        str(v)
        for k in ("To", "Delivered-To", "X-Original-To", "Envelope-To")
        for v in (msg.get_all(k) or [])
    )
    haystack = "\n".join([envelope, *originals])
    tokens = list(dict.fromkeys(_TOKEN_HEADER_RE.findall(haystack) + _UNSUB_RE.findall(haystack)))
    verp = list(dict.fromkeys((int(c), int(s)) for c, s in VERP_RE.findall(haystack)))
    problem = None
    if not bounces:
        problem = (
            "not a bounce this reader understands: no delivery-status report, and no SMTP "
            "reply (e.g. '550 5.1.1') or failure wording in its text"
        )
    return Parsed(shape, subject, message_id, bounces, tokens, verp, problem)


def _header(msg: Message, name: str) -> str:
    value = msg.get(name, "")
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except (ValueError, LookupError, email.errors.HeaderParseError):
        return str(value)


def _whole_text(msg: Message) -> str:
    """Every text part, the returned original's included (Exim quotes it in the text)."""
    out = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            out.append(_text(part))
        elif part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                out.append("".join(f"{k}: {v}\n" for k, v in inner[0].items()))
    return "\n".join(out)


__all__ = ["RECIPIENT_HEADER", "Bounce", "Parsed", "classify", "message_key", "parse"]
