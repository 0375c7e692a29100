"""The SMTP backend against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import email
import threading
import time
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import Engine

from mailer import db
from mailer.backends import get_backend
from mailer.backends.smtp import SmtpBackend, smtp_settings
from mailer.delivery.send import run_campaign
from support import free_port
from test_send import SECRET, campaign, make_config, seed


class Recorder:
    """An aiosmtpd handler that keeps every message; can drop the connection now and then."""

    def __init__(self, drop_every: int = 0, refuse: set[str] | None = None) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.drop_every = drop_every
        self.refuse = refuse or set()
        self.lock = threading.Lock()
        self.drop_pending = False
        self.drops = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            n = len(self.messages)
        if self.drop_every and n % self.drop_every == 0:
            self.drop_pending = True  # drop at the next MAIL FROM, as an idle timeout would
        return "250 2.0.0 queued"

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.drop_pending:
            self.drop_pending = False
            self.drops += 1
            server.transport.close()
            return "421 4.4.2 closing: idle too long"
        envelope.mail_from = address
        return "250 OK"


def start(handler: Recorder, **kwargs: Any) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return db.connect(f"sqlite:///{tmp_path / 'mailer.db'}")


def smtp_config(tmp_path: Path, port: int, **extra: Any) -> Any:
    return make_config(
        tmp_path,
        smtp={"host": "127.0.0.1", "port": port, "security": "none", "timeout": 5, **extra},
    )


def test_every_message_arrives_well_formed(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each recipient gets one multipart/alternative message, text first, filled, plain headers."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    handler = Recorder()
    controller = start(handler)
    try:
        config = smtp_config(tmp_path, controller.port)
        config = make_config(
            tmp_path,
            smtp=config.settings.smtp.model_dump(),
            tracking={"base_url": "https://news.example.org"},
        )
        seed(engine, 23)
        cid = campaign(engine, config)
        result = run_campaign(engine, config, cid, backend="smtp")
    finally:
        controller.stop()
    assert result.status == "sent" and result.accepted == 23
    assert sorted(r[0] for _, r, _ in handler.messages) == [
        f"user{i:05d}@example.com" for i in range(23)
    ]
    for mail_from, rcpts, raw in handler.messages:
        assert mail_from == "newsletter@example.org"
        msg = email.message_from_bytes(raw, policy=policy.default)
        assert msg.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in msg.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        assert all(p.get_content_charset() == "utf-8" for p in msg.iter_parts())
        assert msg["Message-ID"] and msg["Date"]
        assert str(msg["From"]) == "IOM Turkey <newsletter@example.org>"
        head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
        line = next(h for h in head.split("\r\n") if h.startswith("List-Unsubscribe:"))
        assert "=?" not in line and line.startswith(
            "List-Unsubscribe: <https://news.example.org/u/"
        )
        assert line.endswith(", <mailto:unsubscribe@example.org?subject=unsubscribe>")
        assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in head
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "%%" not in text + html + str(msg["Subject"])
        n = int(rcpts[0][4:9])
        expected = f"Reader{n}" if n % 3 else "friend"
        assert f"Hello {expected}, from {'Ankara' if n % 2 else 'Türkiye'}" in text
        assert "https://news.example.org/u/" in html


def test_reconnects_when_the_server_drops_and_refusals_fail_one(
    engine: Engine, tmp_path: Path
) -> None:
    """A dropped connection is reopened, nothing lost or doubled; a 550 fails only that one."""
    handler = Recorder(drop_every=4, refuse={"user00005@example.com"})
    controller = start(handler)
    try:
        config = smtp_config(tmp_path, controller.port)
        seed(engine, 12)
        cid = campaign(engine, config)
        result = run_campaign(engine, config, cid, backend="smtp")
    finally:
        controller.stop()
    assert result.status == "sent" and result.accepted == 11 and result.failed == 1, result
    assert handler.drops == 2
    got = sorted(r[0] for _, r, _ in handler.messages)
    assert got == sorted(f"user{i:05d}@example.com" for i in range(12) if i != 5)


def test_credentials_from_the_environment_and_rate(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MAILER_SMTP_URL gives host, port and login; the rate spaces messages out."""
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"p@ss word")

    handler = Recorder()
    controller = start(handler, authenticator=authenticator, auth_require_tls=False)
    try:
        monkeypatch.setenv(
            "MAILER_SMTP_URL",
            f"smtp://editor:p%40ss%20word@127.0.0.1:{controller.port}?starttls=0&rate=40",
        )
        config = make_config(tmp_path)
        settings = smtp_settings(config)
        assert "p@ss" not in repr(settings) and settings.rate == 40.0
        seed(engine, 9)
        cid = campaign(engine, config)
        started = time.monotonic()
        result = run_campaign(engine, config, cid, backend=get_backend("smtp", config))
        elapsed = time.monotonic() - started
    finally:
        controller.stop()
    assert result.accepted == 9 and len(handler.messages) == 9
    assert logins and set(logins) == {(b"editor", b"p@ss word")}
    assert elapsed >= 8 / 40


def test_unreachable_server_pauses_the_campaign(engine: Engine, tmp_path: Path) -> None:
    """With nobody listening the send pauses with a clear message and nothing is marked sent."""
    config = smtp_config(tmp_path, free_port())
    seed(engine, 3)
    cid = campaign(engine, config)
    result = run_campaign(engine, config, cid, backend=SmtpBackend(smtp_settings(config)))
    assert result.status == "paused" and result.accepted == 0
    assert "cannot connect to the SMTP server" in (result.error or "")


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, made here."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_starttls_and_tls_verify_the_server(
    security: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """STARTTLS and implicit TLS connect with certificate checks (the test CA is trusted)."""
    import ssl

    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts our CA only here
    handler = Recorder()
    if security == "starttls":
        controller = start(handler, tls_context=server_ctx, require_starttls=True)
    else:
        controller = start(handler, ssl_context=server_ctx)
    try:
        config = smtp_config(tmp_path, controller.port, security=security)
        seed(engine, 3)
        cid = campaign(engine, config)
        result = run_campaign(engine, config, cid, backend="smtp")
    finally:
        controller.stop()
    assert result.status == "sent" and result.accepted == 3 and len(handler.messages) == 3


@pytest.mark.parametrize(
    "url", ["smtp://u:p@127.0.0.1:notaport", "smtp://u:p@127.0.0.1:25?timeout=soon"]
)
def test_malformed_smtp_url_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """A MAILER_SMTP_URL with a non-numeric port or timeout is a ConfigError naming it."""
    from mailer.errors import ConfigError

    monkeypatch.setenv("MAILER_SMTP_URL", url)
    with pytest.raises(ConfigError, match="MAILER_SMTP_URL must look like") as err:
        smtp_settings(make_config(tmp_path))
    assert "p@" not in str(err.value) and "numbers" in (err.value.hint or "")
