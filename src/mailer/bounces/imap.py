"""The bounce mailbox over IMAP (stdlib ``imaplib``): connect, list unseen, fetch, file away.

Settings come from ``[bounces]`` in mailer.toml (host, port, security ``tls`` |
``starttls`` | ``none``, folder, username, processed_folder) and, overriding them,
``MAILER_BOUNCE_URL`` (``imaps://user:pass@host:993/INBOX``; ``imap://…`` plain,
``?starttls=1`` to upgrade). The password comes only from that variable: it is never
stored on the config, printed or logged (:class:`ImapSettings` hides it in its repr).

Messages are fetched with ``BODY.PEEK[]`` so reading marks nothing: only a message
that was recorded is filed away (moved to ``processed_folder``, or flagged ``\\Seen``
when that is ""); one that could not be read stays unseen where it was.
"""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from ..config import Config
from ..errors import BounceError, ConfigError

log = logging.getLogger(__name__)
URL_ENV = "MAILER_BOUNCE_URL"


@dataclass(frozen=True)
class ImapSettings:
    """Where the bounce mailbox is (the password included: never print this object)."""

    host: str
    port: int
    security: str  # tls | starttls | none
    folder: str
    username: str
    password: str
    processed_folder: str
    timeout: float

    def __repr__(self) -> str:
        return f"ImapSettings({self.username}@{self.host}:{self.port}/{self.folder})"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port} folder {self.folder!r}"


def configured(config: Config) -> bool:
    """Whether a bounce mailbox is set up (a ``[bounces] host`` or ``MAILER_BOUNCE_URL``)."""
    return bool(config.settings.bounces.host or config.secret(URL_ENV))


def imap_settings(config: Config) -> ImapSettings:
    """``[bounces]`` with ``MAILER_BOUNCE_URL``'s parts on top; ConfigError when incomplete."""
    b = config.settings.bounces
    host, port, security = b.host, b.port, b.security
    folder, username, password = b.folder, b.username, None
    url = config.secret(URL_ENV)
    if url:
        try:
            parts = urlsplit(url)
            url_port = parts.port
        except ValueError:
            parts, url_port = None, None
        if parts is None or parts.scheme not in ("imap", "imaps") or not parts.hostname:
            raise ConfigError(
                f"{URL_ENV} must look like imaps://user:password@host:993/INBOX",
                hint="use imap://…?starttls=1 to upgrade a plain connection, imap:// for none; "
                "URL-encode special characters of the password (%40 for @).",
            )
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        host = parts.hostname
        if parts.scheme == "imaps":
            security = "tls"
        else:
            security = "starttls" if query.get("starttls") in ("1", "true", "yes") else "none"
        port = url_port or None
        folder = unquote(parts.path.lstrip("/")) or folder
        username = unquote(parts.username) if parts.username else username
        password = unquote(parts.password) if parts.password is not None else None
    if not host:
        raise ConfigError(
            "no bounce mailbox is configured",
            hint=f"set [bounces] host (and username) in mailer.toml and export {URL_ENV}="
            "imaps://user:password@host:993/INBOX (or only the password part in the URL).",
        )
    if not username or password is None:
        raise ConfigError(
            f"the bounce mailbox {host} needs a username and a password",
            hint=f"export {URL_ENV}=imaps://USER:PASSWORD@{host}/{folder} "
            "(secrets never go in mailer.toml).",
        )
    return ImapSettings(
        host=host,
        port=port or (993 if security == "tls" else 143),
        security=security,
        folder=folder,
        username=username,
        password=password,
        processed_folder=b.processed_folder,
        timeout=b.timeout,
    )


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Mailbox:
    """One logged-in IMAP session on the bounce folder (use as a context manager)."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self._conn: imaplib.IMAP4 | None = None

    def __enter__(self) -> Mailbox:
        s = self.settings
        try:
            conn: imaplib.IMAP4
            if s.security == "tls":
                conn = imaplib.IMAP4_SSL(
                    s.host, s.port, ssl_context=ssl.create_default_context(), timeout=s.timeout
                )
            else:
                conn = imaplib.IMAP4(s.host, s.port, timeout=s.timeout)
                if s.security == "starttls":
                    conn.starttls(ssl.create_default_context())
        except (TimeoutError, OSError, imaplib.IMAP4.error) as exc:
            raise BounceError(
                f"cannot reach the bounce mailbox at {s.host}:{s.port}: {exc}",
                hint="check [bounces] host, port and security, or the host in "
                f"{URL_ENV}; the next run reads what is waiting.",
            ) from None
        try:
            conn.login(s.username, s.password)
        except imaplib.IMAP4.error:
            conn.shutdown()
            raise ConfigError(
                f"the IMAP server {s.host}:{s.port} refused the login of {s.username!r}",
                hint=f"check the user and password in {URL_ENV}.",
            ) from None
        typ, data = conn.select(_quote(s.folder))
        if typ != "OK":
            conn.logout()
            raise ConfigError(
                f"the bounce folder {s.folder!r} cannot be opened on {s.host}: {_said(data)}",
                hint="set [bounces] folder (or the path of the URL) to an existing folder.",
            )
        self._conn = conn
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            try:
                self._conn.expunge()
                self._conn.logout()
            except (OSError, imaplib.IMAP4.error):
                pass
            self._conn = None

    @property
    def conn(self) -> imaplib.IMAP4:
        assert self._conn is not None, "use Mailbox as a context manager"
        return self._conn

    def unseen(self, limit: int = 1000) -> list[str]:
        """UIDs of unseen messages, oldest first (at most *limit* per run)."""
        typ, data = self.conn.uid("SEARCH", "UNSEEN")
        if typ != "OK":
            raise BounceError(f"the IMAP server refused SEARCH: {_said(data)}")
        uids = b" ".join(d for d in data if isinstance(d, bytes)).split()
        return [u.decode("ascii") for u in uids[:limit]]

    def fetch(self, uid: str) -> bytes | None:
        """The whole message *uid*, leaving it unseen (None when it is gone)."""
        typ, data = self.conn.uid("FETCH", uid, "(BODY.PEEK[])")
        if typ != "OK":
            return None
        for item in data:
            if isinstance(item, tuple) and len(item) == 2:
                return bytes(item[1])
        return None

    def messages(self, limit: int = 1000) -> Iterator[tuple[str, bytes]]:
        """(uid, raw message) of every unseen message."""
        for uid in self.unseen(limit):
            raw = self.fetch(uid)
            if raw is not None:
                yield uid, raw

    def done(self, uid: str) -> None:
        """File a recorded message away: moved to the processed folder, or flagged seen."""
        target = self.settings.processed_folder
        conn = self.conn
        if not target:
            conn.uid("STORE", uid, "+FLAGS", "(\\Seen)")
            return
        conn.create(_quote(target))  # "already exists" is fine
        if "MOVE" in conn.capabilities:
            typ, data = conn.uid("MOVE", uid, _quote(target))
            if typ == "OK":
                return
        typ, data = conn.uid("COPY", uid, _quote(target))
        if typ != "OK":
            log.warning("bounce %s: cannot file it in %r: %s", uid, target, _said(data))
            conn.uid("STORE", uid, "+FLAGS", "(\\Seen)")
            return
        conn.uid("STORE", uid, "+FLAGS", "(\\Seen \\Deleted)")


def _said(data: Sequence[object] | None) -> str:
    text = " ".join(
        d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in data or []
    )
    return re.sub(r"\s+", " ", text)[:200]
