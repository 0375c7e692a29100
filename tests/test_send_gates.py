"""Gates before anything leaves (issue 11): pre-flight checks shared by `send` and `schedule`,
no campaign left behind by a refused send, --yes without a terminal, did-you-mean for lists,
cancelling a stuck campaign, one recipient's bad data, SIGTERM, redacted provider errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from mailer import db
from mailer.cli import main
from mailer.config import load_config
from mailer.delivery.send import create_campaign, run_campaign, store_contents
from support import send_project
from test_send import rendered, seed

ISSUE = "issues/2018-03-iom-turkey.yaml"
SECRET = "gates-secret-key-0123456789abcdef"

TOML = """
name = "Gates test"
postal_address = "IOM Turkey, Birlik Mahallesi, 06610 Ankara, Türkiye"
assets_url = "https://turkey.iom.int/sites/newsletter/assets/"
database_url = "sqlite:///{db}"
outbox_dir = "{outbox}"
default_language = "en"
languages = ["en"]
backend = "outbox"
[sender]
from_name = "IOM Turkey"
from_email = "newsletter@example.org"
[sending]
batch_size = {batch}
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
rate = {rate}
{tracking}
"""


def write_toml(root: Path, *, tracking: str = "", batch: int = 10, port: int = 25, rate: float = 0):
    (root / "mailer.toml").write_text(
        TOML.format(
            db=root / "mailer.db",
            outbox=root / "outbox",
            tracking=tracking,
            batch=batch,
            port=port,
            rate=rate,
        ),
        encoding="utf-8",
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config, the sample issue and a list 'partners' of 3."""
    send_project(tmp_path, monkeypatch)
    write_toml(tmp_path)
    for extra in tmp_path.glob("issues/*.??.yaml"):
        extra.unlink()  # English only: quicker builds
    seed(db.connect(load_config("mailer.toml").database_url), 3)
    return tmp_path


def counts(project: Path) -> tuple[int, int, int]:
    """(campaign rows, delivery rows, files in the outbox)."""
    engine = db.connect(load_config(project / "mailer.toml").database_url)
    with db.read(engine) as conn:
        n_c = conn.execute(select(func.count()).select_from(db.campaigns)).scalar_one()
        n_d = conn.execute(select(func.count()).select_from(db.deliveries)).scalar_one()
    outbox = project / "outbox"
    files = len(list(outbox.rglob("*.eml"))) if outbox.exists() else 0
    return int(n_c), int(n_d), files


def add_todo(project: Path) -> None:
    path = project / ISSUE
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('subject: "', 'subject: "TODO ', 1), encoding="utf-8")


SCHEDULE = ["schedule", ISSUE, "--list", "partners", "--at", "2099-12-01T09:00+03:00"]
SEND = ["send", ISSUE, "--list", "partners", "--yes"]


def test_send_refuses_an_issue_with_check_errors(project: Path) -> None:
    """A leftover TODO: `send --yes` exits 1 listing it; no campaign, no delivery, no file."""
    add_todo(project)
    out = CliRunner().invoke(main, SEND)
    assert out.exit_code == 1, out.output
    assert "leftover TODO" in out.output and "nothing was sent" in out.output
    assert "Traceback" not in out.output
    assert counts(project) == (0, 0, 0)


def test_schedule_refuses_an_issue_with_check_errors(project: Path) -> None:
    """The same TODO: `schedule` exits 1 listing it and stores no campaign."""
    add_todo(project)
    out = CliRunner().invoke(main, SCHEDULE)
    assert out.exit_code == 1, out.output
    assert "leftover TODO" in out.output and "nothing was scheduled" in out.output
    assert counts(project) == (0, 0, 0)


def test_dry_run_shows_warnings(project: Path) -> None:
    """`send --dry-run` lists check's warnings with the counts and needs no --yes."""
    path = project / ISSUE
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('subject: "', 'subject: "' + "Very long " * 8, 1), encoding="utf-8"
    )
    out = CliRunner().invoke(main, ["send", ISSUE, "--list", "partners", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "3 recipient(s) would get it" in out.output
    assert "warning:" in out.output and "[subject]" in out.output
    assert counts(project) == (0, 0, 0)


@pytest.mark.parametrize("command", [SEND, SCHEDULE], ids=["send", "schedule"])
def test_missing_secret_key_refuses_before_a_campaign(project: Path, command: list[str]) -> None:
    """tracking.base_url without MAILER_SECRET_KEY: exit 1 naming it; no campaign row at all."""
    write_toml(project, tracking='[tracking]\nbase_url = "https://news.example.org"')
    out = CliRunner().invoke(main, command)
    assert out.exit_code == 1, out.output
    assert "MAILER_SECRET_KEY" in out.output and "tracking.base_url" in out.output
    assert counts(project) == (0, 0, 0)


def test_missing_sendgrid_key_refuses_before_a_campaign(project: Path) -> None:
    """--backend sendgrid without SENDGRID_API_KEY: exit 1 naming it, nothing stored."""
    out = CliRunner().invoke(main, [*SEND, "--backend", "sendgrid"])
    assert out.exit_code == 1 and "SENDGRID_API_KEY" in out.output
    assert counts(project) == (0, 0, 0)


def test_an_empty_list_is_refused(project: Path) -> None:
    """A list with nobody subscribed is refused before a campaign exists."""
    engine = db.connect(load_config("mailer.toml").database_url)
    with db.transaction(engine) as conn:
        db.get_or_create_list(conn, "empty")
    out = CliRunner().invoke(main, ["send", ISSUE, "--list", "empty", "--yes"])
    assert out.exit_code == 1 and "list 'empty' has nobody" in out.output
    assert counts(project) == (0, 0, 0)


def test_no_terminal_without_yes_refuses(project: Path) -> None:
    """stdin not a terminal and no --yes: exit 1 saying to add --yes; nothing is sent."""
    out = CliRunner().invoke(main, ["send", ISSUE, "--list", "partners"])
    assert out.exit_code == 1, out.output
    assert "add --yes" in out.output and "nothing was sent" in out.output
    assert counts(project) == (0, 0, 0)


@pytest.mark.parametrize("command", [SEND, SCHEDULE], ids=["send", "schedule"])
def test_misspelt_list_gets_did_you_mean(project: Path, command: list[str]) -> None:
    """--list partner (no s): "did you mean 'partners'?" in send and schedule."""
    args = [("partner" if a == "partners" else a) for a in command]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 1
    assert "no list named 'partner'" in out.output and "did you mean 'partners'?" in out.output


@pytest.mark.parametrize("status", ["sending", "paused"])
def test_a_stuck_campaign_can_be_cancelled(project: Path, status: str) -> None:
    """A campaign left `sending`/`paused` with no runner is cancelled by `schedule cancel`."""
    config = load_config("mailer.toml")
    engine = db.connect(config.database_url)
    cid = create_campaign(engine, config, ISSUE, "partners", status=status)
    out = CliRunner().invoke(main, ["schedule", "cancel", str(cid)])
    assert out.exit_code == 0, out.output
    assert f"Cancelled campaign {cid} (was {status}); nobody had got it" in out.output
    with db.read(engine) as conn:
        row = conn.execute(select(db.campaigns.c.status).where(db.campaigns.c.id == cid))
        assert row.scalar_one() == "cancelled"


def test_a_campaign_being_sent_is_not_cancelled(project: Path) -> None:
    """While a process holds the campaign's lock, cancel refuses and the row stays."""
    from mailer.delivery.send import campaign_lock

    config = load_config("mailer.toml")
    engine = db.connect(config.database_url)
    cid = create_campaign(engine, config, ISSUE, "partners", status="sending")
    code = (
        "import sys, time; from mailer import db; from mailer.delivery.send import campaign_lock\n"
        f"e = db.connect({config.database_url!r})\n"
        f"with campaign_lock(e, {cid}):\n    print('held', flush=True); time.sleep(20)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        out = CliRunner().invoke(main, ["schedule", "cancel", str(cid)])
        assert out.exit_code == 1 and "being sent by another process" in out.output
    finally:
        holder.kill()
        holder.wait(timeout=10)
    with campaign_lock(engine, cid):
        pass  # released with the process


def test_one_recipients_bad_data_fails_only_them(project: Path) -> None:
    """CR/LF in an attribute used in the subject: that delivery fails with the reason, the
    other 2 are accepted, the campaign ends `sent`, and a resume sends nobody twice."""
    config = load_config("mailer.toml")
    engine = db.connect(config.database_url)
    s = db.subscribers
    with db.transaction(engine) as conn:  # the CSV import would refuse this: write it directly
        victim = conn.execute(select(s.c.id).order_by(s.c.id).limit(1)).scalar_one()
        conn.execute(
            s.update().where(s.c.id == victim).values(attributes={"city": "Ankara\r\nBcc: x@y"})
        )
    cid = create_campaign(engine, config, ISSUE, "partners")
    r = rendered("en")
    from dataclasses import replace

    store_contents(engine, config, cid, [replace(r, subject="News for %%city%%")])
    result = run_campaign(engine, config, cid, backend="outbox")
    assert (result.status, result.accepted, result.failed) == ("sent", 2, 1)
    d = db.deliveries
    with db.read(engine) as conn:
        status, error = conn.execute(
            select(d.c.status, d.c.error).where(d.c.subscriber_id == victim)
        ).one()
    assert status == "failed" and "control character (CR)" in error and "subject" in error
    files = list((project / "outbox" / str(cid)).glob("*.eml"))
    assert len(files) == 2
    assert all(b"Bcc" not in f.read_bytes() for f in files)
    again = run_campaign(engine, config, cid, backend="outbox")
    assert (again.accepted, again.failed) == (2, 1)
    assert len(list((project / "outbox" / str(cid)).glob("*.eml"))) == 2


def test_provider_error_text_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    """SendGrid-shaped keys, the configured key and the SMTP password never show in errors."""
    from mailer.backends.base import redact

    monkeypatch.setenv("SENDGRID_API_KEY", "my-configured-key-42")
    monkeypatch.setenv("MAILER_SMTP_URL", "smtp://user:p%40ss-w0rd@mail.example.org:587")
    text = (
        "401: key SG.abcdEFGH_ij.klmnOPQR-stuv rejected; my-configured-key-42 invalid; "
        "auth p@ss-w0rd / p%40ss-w0rd failed"
    )
    shown = redact(text)
    for secret in ("SG.abcd", "my-configured-key-42", "p@ss-w0rd", "p%40ss-w0rd"):
        assert secret not in shown
    assert shown.startswith("401: key [redacted] rejected") and "auth" in shown


def test_sigterm_finishes_the_batch_and_exits_cleanly(project: Path) -> None:
    """SIGTERM during `mailer send` (smtp, paced): the batch in flight finishes, the process
    exits 1 without a traceback, no batch is left in flight, and the next send finishes the
    rest with nobody sent twice."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    from support import free_port

    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        engine = db.connect(load_config("mailer.toml").database_url)
        seed(engine, 30, domain="more.example.com")  # 33 readers
        write_toml(project, batch=5, port=port, rate=20)  # 20 messages/s: ~1.7 s in all
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        mailer = Path(sys.executable).parent / "mailer"
        proc = subprocess.Popen(
            [str(mailer), *SEND, "--backend", "smtp"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        d = db.deliveries
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until the first messages are accepted
            with db.read(engine) as conn:
                n = conn.execute(select(func.count()).where(d.c.status == "accepted")).scalar_one()
            if n >= 2:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, (out, err)
        assert "Traceback" not in err and "stopped by a signal" in err
        with db.read(engine) as conn:
            first = conn.execute(select(func.count()).where(d.c.status == "accepted")).scalar_one()
            in_flight = conn.execute(
                select(func.count()).where(db.batches.c.status == "sending")
            ).scalar_one()
            status = conn.execute(select(db.campaigns.c.status)).scalar_one()
        assert in_flight == 0 and 0 < first < 33 and first % 5 == 0 and status == "sending"
        again = CliRunner().invoke(main, [*SEND, "--backend", "smtp"])
        assert again.exit_code == 0, again.output
        assert "sent: 33 accepted" in again.output
    finally:
        controller.stop()
