"""End to end with the real sample issue: build once, track, send over SMTP, to Prism, as a test."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from sqlalchemy import func, select

from mailer import db
from mailer.cli import main
from mailer.config import load_config
from mailer.tracking.tokens import Signer
from prism import prism_url  # noqa: F401  (session fixture)
from support import free_port
from test_send import SECRET

ISSUE = "issues/2018-03-iom-turkey.yaml"
BASE = "https://news.turkey.iom.int"


class Inbox:
    """An aiosmtpd handler keeping (recipients, raw message)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 queued"


def _configure(project: Path, monkeypatch: pytest.MonkeyPatch, smtp_port: int) -> None:
    """Tracking on, SMTP pointed at the test server, database and outbox in the project."""
    toml = (project / "mailer.toml").read_text()
    toml = re.sub(r"#\s*base_url\s*=.*", f'base_url = "{BASE}"', toml)
    toml = re.sub(r"(?m)^port = \d+$", f"port = {smtp_port}", toml)
    toml = re.sub(r'(?m)^security = "starttls"$', 'security = "none"', toml)
    (project / "mailer.toml").write_text(toml)
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.setenv("MAILER_DATABASE_URL", f"sqlite:///{project / 'mailer.db'}")
    monkeypatch.setenv("MAILER_OUTBOX_DIR", str(project / "outbox"))


def _import(project: Path) -> dict[str, int]:
    from mailer.audience.csvimport import import_csv

    config = load_config(project / "mailer.toml")
    engine = db.connect(config.database_url)
    import_csv(engine, project / "subscribers.csv.example", "partners")
    s = db.subscribers
    with db.read(engine) as conn:
        rows = conn.execute(select(s.c.email, s.c.id).where(s.c.status == "subscribed")).all()
    return {str(e).lower(): int(i) for e, i in rows}


def test_sample_issue_over_smtp_with_tracking(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everyone gets one well-formed message: tracked links signed for them, no token left."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        _configure(project, monkeypatch, controller.port)
        people = _import(project)
        out = CliRunner().invoke(
            main, ["send", ISSUE, "--list", "partners", "--backend", "smtp", "--yes"]
        )
    finally:
        controller.stop()
    assert out.exit_code == 0, out.output
    assert len(people) >= 5 and f"sent: {len(people)} accepted" in out.output
    assert sorted(r[0].lower() for r, _ in inbox.messages) == sorted(people)
    signer = Signer(SECRET.encode())
    cid = int(re.search(r"campaign (\d+)", out.output).group(1))  # type: ignore[union-attr]
    for rcpts, raw in inbox.messages:
        sid = people[rcpts[0].lower()]
        token = signer.recipient(cid, sid)
        msg = email.message_from_bytes(raw, policy=policy.default)
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
        assert f"List-Unsubscribe: <{BASE}/u/{token}>, <mailto:" in head
        assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in head
        assert "=?" not in next(h for h in head.split("\r\n") if h.startswith("List-Unsub"))
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "%%" not in text + html + str(msg["Subject"])
        assert f"{BASE}/u/{token}" in html and f"{BASE}/u/{token}" in text
        tracked = re.findall(rf'href="{re.escape(BASE)}/c/([^"/]+)/([^"]+)"', html)
        assert tracked, "links go through /c/ with tracking on"
        assert {r for _, r in tracked} == {token}
        assert all(signer.verify_link(link)[0] == cid for link, _ in tracked)


def test_send_test_records_nothing(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`send-test` sends "[TEST]" messages to the given addresses and records no send: no
    delivery, no batch, no campaign of kind `send` (its links live under a `test` row)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        _configure(project, monkeypatch, controller.port)
        _import(project)
        out = CliRunner().invoke(
            main,
            [
                "send-test",
                ISSUE,
                "--to",
                "editor@example.org, chief@example.org",
                "--backend",
                "smtp",
            ],
        )
    finally:
        controller.stop()
    assert out.exit_code == 0, out.output
    assert sorted(r[0] for r, _ in inbox.messages) == ["chief@example.org", "editor@example.org"]
    for _, raw in inbox.messages:
        msg = email.message_from_bytes(raw, policy=policy.default)
        assert str(msg["Subject"]).startswith("[TEST] ")
        body = raw.decode("utf-8", "replace")
        assert "%%" not in msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "%%" not in body
    engine = db.connect(f"sqlite:///{project / 'mailer.db'}")
    with db.read(engine) as conn:
        assert conn.execute(select(func.count()).select_from(db.deliveries)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(db.batches)).scalar() == 0
        kinds = conn.execute(select(db.campaigns.c.kind)).scalars().all()
    assert kinds == ["test"]


def test_sample_issue_accepted_by_sendgrids_contract(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    prism_url: str,  # noqa: F811
) -> None:
    """The real sample, tracked, in SendGrid's payload shape passes Prism's validation."""
    _configure(project, monkeypatch, free_port())
    people = _import(project)
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.e2e-key")
    monkeypatch.setenv("MAILER_SENDGRID_HOST", prism_url)
    out = CliRunner().invoke(
        main, ["send", ISSUE, "--list", "partners", "--backend", "sendgrid", "--yes", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert f'"accepted": {len(people)}' in out.output and '"status": "sent"' in out.output


def test_send_test_to_the_outbox_writes_new_files_each_time(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two test sends to the same address leave two files: a test is never "already sent"."""
    _configure(project, monkeypatch, free_port())
    runner = CliRunner()
    args = ["send-test", ISSUE, "--to", "editor@example.org", "--backend", "outbox"]
    first = runner.invoke(main, args)
    second = runner.invoke(main, args)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    files = sorted((project / "outbox" / "test").glob("*.eml"))
    assert len(files) == 2
    for f in files:
        msg = email.message_from_bytes(f.read_bytes(), policy=policy.default)
        assert str(msg["Subject"]).startswith("[TEST] ") and str(msg["To"]) == "editor@example.org"


def test_send_test_refuses_a_malformed_address(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in --to is a clear error (exit 1) and nothing is written to the outbox."""
    _configure(project, monkeypatch, free_port())
    args = ["send-test", ISSUE, "--to", "editor@example.org,editor.example.org"]
    result = CliRunner().invoke(main, [*args, "--backend", "outbox"])
    assert result.exit_code == 1
    assert "editor.example.org" in result.output and "@" in result.output
    assert not list((project / "outbox").rglob("*.eml"))
