"""The SMTP backend: stdlib smtplib, one connection reused, reconnect on drop, a rate.

Settings come from ``[smtp]`` in mailer.toml (host, port, security ``starttls`` |
``tls`` | ``none``, timeout, rate in messages per second) or, overriding them,
``MAILER_SMTP_URL`` (``smtp://user:pass@host:587?starttls=1``, ``smtps://`` for TLS).
Credentials come only from that environment variable and are never logged.

Outcomes per message: the server's 250 after DATA → accepted; a 5xx for the
recipient → failed (permanent); the connection lost or timed out *during* DATA →
unknown (the server may have queued it). A drop before DATA is retried once on a
fresh connection; if the server cannot be reached the rest of the batch is a
:class:`TransientFailure` (safe to send later).

With ``[sending] concurrency = N`` the ledger sends on N connections (:meth:`SmtpBackend.fork`),
each message still checkpointed on its own; ``rate`` stays the whole process's.

Bounces (``[bounces]``, read by :mod:`mailer.bounces`): with ``address`` set the envelope
sender (Return-Path) is that mailbox, and with ``verp = true`` it is
``<local>+c<campaign>-s<subscriber>@<domain>``, so each bounce names its recipient. Every
message carries ``X-Mailer-Recipient``: the signed recipient token (campaign and
subscriber), which comes back inside the DSN's returned headers.
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, unquote, urlsplit

from ..config import Config
from ..errors import ConfigError, DeliveryError
from .base import Batch, Recipient, Report, TransientFailure, build_bytes

log = logging.getLogger(__name__)
SMTP_URL_ENV = "MAILER_SMTP_URL"
#: the header that names campaign and subscriber (a signed token) for bounce handling
RECIPIENT_HEADER = "X-Mailer-Recipient"
_TOKEN_RE = re.compile(r"/u/([0-9a-z]+\.[0-9a-z]+\.[A-Za-z0-9_-]+)>")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to connect (secrets included: never print this object)."""

    host: str
    port: int
    security: str  # starttls | tls | none
    timeout: float
    rate: float
    username: str | None = None
    password: str | None = None
    #: ``[bounces] address``: the envelope sender (Return-Path) when set
    bounce_address: str | None = None
    #: ``[bounces] verp``: a per-recipient envelope sender on the bounce address
    verp: bool = False

    def __repr__(self) -> str:  # keep the password out of logs and tracebacks
        return f"SmtpSettings({self.host}:{self.port}, {self.security})"


def smtp_settings(config: Config) -> SmtpSettings:
    """``[smtp]`` overridden by ``MAILER_SMTP_URL``; the envelope sender from ``[bounces]``."""
    b = config.settings.bounces
    return replace(
        _server_settings(config), bounce_address=b.address or None, verp=b.verp and bool(b.address)
    )


def _server_settings(config: Config) -> SmtpSettings:
    s = config.settings.smtp
    url = config.secret(SMTP_URL_ENV)
    if not url:
        return SmtpSettings(s.host, s.port, s.security, s.timeout, s.rate)
    bad = ConfigError(
        f"{SMTP_URL_ENV} must look like smtp://user:pass@host:587?starttls=1",
        hint="use smtps:// for TLS from the start; ?starttls=0 for a plain connection; "
        "the port, ?timeout= and ?rate= are numbers.",
    )
    try:  # a non-numeric port or timeout raises ValueError: a config error, not a traceback
        parts = urlsplit(url)
        url_port = parts.port
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        timeout = float(query.get("timeout", s.timeout))
        rate = float(query.get("rate", s.rate))
    except ValueError:
        raise bad from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise bad
    if parts.scheme == "smtps":
        security = "tls"
    elif query.get("starttls", "1") in ("0", "false", "no"):
        security = "none"
    else:
        security = "starttls"
    return SmtpSettings(
        host=parts.hostname,
        port=url_port or (465 if security == "tls" else 587),
        security=security,
        timeout=timeout,
        rate=rate,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class SmtpBackend:
    """Sends each message over one reused SMTP connection."""

    name = "smtp"
    per_message = True

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._conn: smtplib.SMTP | None = None
        #: when the next message may go (monotonic), shared with forks
        self._next = [0.0]
        self._pace_lock = threading.Lock()

    def fork(self) -> SmtpBackend:
        """Same server, its own connection: one more lane (``[sending] concurrency``).
        The ``rate`` is the whole process's: a backend and its forks share one pace."""
        other = SmtpBackend(self.settings)
        other._next, other._pace_lock = self._next, self._pace_lock
        return other

    # -- connection ------------------------------------------------------
    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            conn: smtplib.SMTP
            if s.security == "tls":
                conn = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=ssl.create_default_context()
                )
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.security == "starttls":
                    conn.starttls(context=ssl.create_default_context())
            if s.username:
                conn.login(s.username, s.password or "")
        except smtplib.SMTPAuthenticationError:
            raise ConfigError(
                f"the SMTP server {s.host}:{s.port} refused the login",
                hint=f"check the user and password in {SMTP_URL_ENV}.",
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientFailure(
                f"cannot connect to the SMTP server {s.host}:{s.port}: {exc}",
                hint=f"check [smtp] in mailer.toml or {SMTP_URL_ENV}; the send resumes later.",
            ) from None
        return conn

    def open(self) -> None:
        if self._conn is None:
            self._conn = self._connect()

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._conn.quit()
            self._conn = None

    def _pace(self) -> None:
        if self.settings.rate <= 0:
            return
        with self._pace_lock:
            now = time.monotonic()
            slot = max(now, self._next[0])
            self._next[0] = slot + 1.0 / self.settings.rate
        if slot > now:
            time.sleep(slot - now)

    # -- sending ---------------------------------------------------------
    def _envelope(self, conn: smtplib.SMTP, sender: str, rcpt: str) -> tuple[int, str]:
        """MAIL FROM + RCPT TO; (code, message) of the first refusal, or (250, "")."""
        conn.ehlo_or_helo_if_needed()
        code, msg = conn.mail(sender)
        if code != 250:
            conn.rset()
            text = msg.decode("utf-8", "replace")
            if code == 421:  # the server is closing the connection: reconnect
                raise smtplib.SMTPServerDisconnected(f"{code} {text}")
            if code >= 500:  # the sender is refused: no use trying other recipients
                raise DeliveryError(
                    f"the SMTP server refused the sender {sender}: {code} {text}",
                    hint="check [sender] from_email and the server's relay rules.",
                )
            raise TransientFailure(f"the SMTP server answered {code} {text} to MAIL FROM")
        code, msg = conn.rcpt(rcpt)
        if code not in (250, 251):
            conn.rset()
            return code, msg.decode("utf-8", "replace")
        return 250, ""

    def envelope_sender(self, batch: Batch, r: Recipient) -> str:
        """MAIL FROM: the bounce mailbox (VERP-tagged per recipient), else the sender."""
        address = self.settings.bounce_address
        if not address:
            return batch.sender.email
        if not self.settings.verp or "@" not in address:
            return address
        local, domain = address.rsplit("@", 1)
        return f"{local}+c{batch.campaign_id}-s{r.subscriber_id}@{domain}"

    @staticmethod
    def identified(r: Recipient) -> Recipient:
        """*r* with ``X-Mailer-Recipient`` (its signed token) when it has one."""
        token = r.text_values.get("%%r%%", "")
        if token.count(".") != 2:
            m = _TOKEN_RE.search(r.headers.get("List-Unsubscribe", ""))
            token = m.group(1) if m else ""
        if not token:
            return r
        return replace(r, headers={**r.headers, RECIPIENT_HEADER: token})

    def _one(self, batch: Batch, r: Recipient, report: Report) -> None:
        try:
            data = build_bytes(batch, self.identified(r))
        except (ValueError, TypeError, UnicodeError) as exc:  # this recipient's data
            report(r, "failed", None, f"the message could not be built: {exc}")
            return
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            try:
                code, msg = self._envelope(conn, self.envelope_sender(batch, r), r.email)
            except (OSError, smtplib.SMTPServerDisconnected):
                self._conn = None  # dropped before DATA: nothing left, reconnect
                if attempt == 2:
                    raise TransientFailure(
                        "the SMTP server keeps dropping the connection"
                    ) from None
                continue
            if code >= 500:
                report(r, "failed", None, f"{code} {msg}")
                return
            if code != 250:
                raise TransientFailure(f"the SMTP server answered {code} {msg}; retry later")
            try:
                code, reply = conn.data(data)
            except (OSError, smtplib.SMTPServerDisconnected) as exc:
                self._conn = None
                report(r, "unknown", None, f"connection lost during DATA: {exc}")
                return
            text = reply.decode("utf-8", "replace")
            if code != 250:
                with contextlib.suppress(OSError, smtplib.SMTPException):
                    conn.rset()
            if code == 250:
                report(r, "accepted", text[:200], None)
            elif code >= 500:
                report(r, "failed", None, f"{code} {text}")
            else:
                raise TransientFailure(f"the SMTP server answered {code} {text}; retry later")
            return

    def send(self, batch: Batch, report: Report) -> None:
        for r in batch.recipients:
            self._pace()
            self._one(batch, r, report)

    def probe(self, batch: Batch, recipient: Recipient) -> bool | None:
        return None  # an SMTP server cannot be asked
