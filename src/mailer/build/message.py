"""Email messages: multipart/alternative (text first, HTML last), UTF-8.

Bodies are encoded under the standard SMTP policy (quoted-printable lines of at
most 76 characters, RFC 2045); headers are serialised with ``max_line_length=998``
so the one-click ``List-Unsubscribe`` headers stay readable (unfolded, not RFC
2047 encoded).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

#: serialise like an MTA would accept, without folding or encoding long ASCII headers
SMTP_POLICY = policy.SMTP.clone(max_line_length=998)


def list_unsubscribe_headers(https_url: str | None, mailto: str | None) -> dict[str, str]:
    """``List-Unsubscribe`` (+ ``-Post`` for one-click when there is an https URL)."""
    parts = []
    if https_url:
        parts.append(f"<{https_url}>")
    if mailto:
        parts.append(f"<mailto:{mailto}?subject=unsubscribe>")
    headers: dict[str, str] = {}
    if parts:
        headers["List-Unsubscribe"] = ", ".join(parts)
    if https_url:
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers


def make_message(
    *,
    from_name: str,
    from_email: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    reply_to: str | None = None,
    headers: dict[str, str] | None = None,
    to_name: str | None = None,
) -> EmailMessage:
    """A complete message ready for SMTP or an .eml file."""
    msg = EmailMessage(policy=policy.SMTP)  # body lines at 76 (QP); headers unfolded in to_bytes
    user, _, domain = from_email.partition("@")
    msg["From"] = Address(from_name, user, domain)
    msg["To"] = Address(to_name or "", *to.rsplit("@", 1)) if "@" in to else to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=domain or None)
    if reply_to:
        msg["Reply-To"] = reply_to
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def to_bytes(msg: EmailMessage) -> bytes:
    """Serialise with the unfolded policy (CRLF line ends, long headers kept whole)."""
    return msg.as_bytes(policy=SMTP_POLICY)
