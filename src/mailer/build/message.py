"""Email messages: multipart/alternative (text first, HTML last), UTF-8.

Bodies are quoted-printable with lines of at most 76 characters (RFC 2045); headers
stay unfolded (up to 998 characters) so the one-click ``List-Unsubscribe`` headers are
readable (not RFC 2047 encoded). :func:`eml_bytes` writes ``mailer build``'s
``message.eml`` directly (CRLF, RFC 2047 encoded words only where a header has
non-ASCII text), without the ``email`` package's policy machinery, which costs a
build more than the message itself (issue 15); :func:`make_message` and
:func:`to_bytes` make the same message as an :class:`~email.message.EmailMessage`.
"""

from __future__ import annotations

import base64
import os
import random
import re
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from email.message import EmailMessage

#: quoted-printable bodies: policy.SMTP's max_line_length (lines of 76 characters + "=")
_QP_LINE = 78
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: the bytes a quoted-printable body keeps as they are (the email package's body map): tab,
#: line feed and the printable ASCII but "="; every other byte is written =XX
_QP_SAFE = b"\t\n" + bytes(range(32, 61)) + bytes(range(62, 127))
#: a display name that can stand unquoted (RFC 5322 atoms and spaces)
_ATOMS_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]*$")


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
    from datetime import UTC, datetime
    from email import policy
    from email.headerregistry import Address
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

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
    from email import policy

    return msg.as_bytes(policy=policy.SMTP.clone(max_line_length=998))


def eml_bytes(
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
) -> bytes:
    """The message :func:`make_message` makes, serialised like :func:`to_bytes`, written
    directly: what ``message.eml`` holds."""
    domain = from_email.partition("@")[2]
    lines = [
        f"From: {_address(from_name, from_email)}",
        f"To: {_address(to_name or '', to) if '@' in to else _header_text(to)}",
        f"Subject: {_header_text(subject)}",
        f"Date: {_date(time.time())}",
        f"Message-ID: {_message_id(domain)}",
    ]
    if reply_to:
        lines.append(f"Reply-To: {_header_text(reply_to)}")
    lines += [f"{key}: {_header_text(value)}" for key, value in (headers or {}).items()]
    boundary = f"==============={random.randrange(10**18, 10**19)}=="
    lines += [
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
    ]
    for subtype, body in (("plain", text), ("html", html)):
        lines += [
            f"--{boundary}",
            f'Content-Type: text/{subtype}; charset="utf-8"',
            "Content-Transfer-Encoding: quoted-printable",
            "",
            _qp(body),
        ]
    lines += [f"--{boundary}--", ""]
    return "\r\n".join(lines).encode("ascii")


def _qp(body: str) -> str:
    """*body* as UTF-8 quoted-printable, lines of at most 76 characters, CRLF: byte for byte
    what the email package's content manager writes (``quoprimime.body_encode``, which maps
    every character through a table in Python), in a fraction of its time: each byte value
    that needs it is escaped everywhere at once (``bytes.replace``; a text has a few dozen
    such values, a script's lead and trail bytes), then the lines are cut as the email
    package cuts them (:func:`_qp_wrap`)."""
    data = b"\n".join(body.encode("utf-8").splitlines()) + b"\n"
    unsafe = set(data.translate(None, _QP_SAFE))
    if 61 in unsafe:  # "=" first: the escapes written after it bring their own
        data = data.replace(b"=", b"=3D")
    for value in unsafe - {61}:
        data = data.replace(bytes((value,)), b"=%02X" % value)
    lines: list[str] = []
    for line in data.decode("ascii").split("\n")[:-1]:
        _qp_wrap(line, lines)
    lines.append("")  # the body ends with a line break
    return "\r\n".join(lines)


def _qp_wrap(line: str, out: list[str]) -> None:
    """Append *line* (escaped) to *out* cut into pieces of at most ``_QP_LINE`` characters
    with soft breaks (``=``), never inside an ``=XX``; whitespace ending the line is
    escaped (or kept before a soft break) so that no line ends in a space or tab."""
    start = 0
    last = len(line) - 1 - _QP_LINE  # a piece starting after this is the line's rest
    while start <= last:
        stop = start + _QP_LINE - 1
        if line[stop - 2] == "=":  # an =XX would be cut after its "="
            out.append(line[start : stop - 1])
            start = stop - 2
        elif line[stop - 1] == "=":  # ... or after its first digit
            out.append(line[start:stop])
            start = stop - 1
        else:
            out.append(line[start:stop] + "=")
            start = stop
    if not line or line[-1] not in " \t":
        out.append(line[start:])
        return
    room = start - last
    white = line[-1]
    if room >= 3:
        end = f"={ord(white):02X}"
    elif room == 2:
        end = f"{white}=\r\n"
    else:
        end = f"=\r\n={ord(white):02X}"
    out.append(line[start:-1] + end)


def _header_text(value: str) -> str:
    """*value* on one line: as it is when ASCII, else RFC 2047 encoded words (UTF-8, base64)
    with the ASCII words around them kept readable."""
    value = value.replace("\r", " ").replace("\n", " ")
    if value.isascii():
        return value
    words = value.split(" ")
    first = next(i for i, w in enumerate(words) if not w.isascii())
    last = max(i for i, w in enumerate(words) if not w.isascii())
    middle = " ".join(words[first : last + 1])
    return " ".join([*words[:first], _encoded_words(middle), *words[last + 1 :]])


def _encoded_words(text: str) -> str:
    """*text* as one RFC 2047 ``=?utf-8?b?...?=`` word: what the email package writes under
    ``max_line_length=998`` (a phrase split into several words decodes with extra spaces in
    some readers, Python's among them)."""
    return f"=?utf-8?b?{base64.b64encode(text.encode('utf-8')).decode('ascii')}?="


def _address(name: str, email: str) -> str:
    """``Name <user@domain>``: the name quoted when it needs it, encoded when not ASCII."""
    name = name.replace("\r", " ").replace("\n", " ").strip()
    if not name:
        return email
    if not name.isascii():
        return f"{_encoded_words(name)} <{email}>"
    if not _ATOMS_RE.match(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{email}>"


def _date(now: float) -> str:
    """RFC 5322 date in UTC (English names whatever the locale)."""
    t = time.gmtime(now)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def _message_id(domain: str) -> str:
    """A unique Message-ID like :func:`email.utils.make_msgid`'s."""
    stamp = int(time.time() * 100)
    return f"<{stamp}.{os.getpid()}.{random.getrandbits(64)}@{domain or 'localhost'}>"
