"""Bounces for SMTP senders: DSN parsing, and `mailer bounces` against a real IMAP server
(Debian's dovecot, started here on 127.0.0.1 with its own config and a maildir)."""

from __future__ import annotations

import email
import grp
import imaplib
import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from mailer import db
from mailer.bounces import Poller, parse
from mailer.bounces.record import record
from mailer.cli import main
from mailer.config import load_config
from mailer.delivery.send import run_campaign
from mailer.tracking.tokens import Signer
from support import free_port, require, stop_process, wait_port
from test_backend_smtp import Recorder, start
from test_send import SECRET, campaign, make_config, seed

DATA = Path(__file__).parent / "data" / "bounces"
ORIGINAL = (
    "Return-Path: <bounces+c1-s3@example.org>\n"
    "From: IOM Turkey <newsletter@example.org>\n"
    "To: user00002@example.com\n"
    "Subject: March news\n"
    "Message-ID: <orig-1@example.org>\n"
    "X-Mailer-Recipient: 1.3.abcdefghijkl"
)


def fill(name: str, rcpt: str, *, verp: str = "bounces@example.org", original: str = "") -> bytes:
    """A bounce from tests/data/bounces with its recipient, VERP address and returned headers."""
    text = (DATA / name).read_text(encoding="utf-8")
    for key, value in {
        "{RCPT}": rcpt,
        "{VERP}": verp,
        "{ORIGINAL}": original.strip("\n"),
        "{SUBJECT}": "March news",
    }.items():
        text = text.replace(key, value)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


# -- parsing, one shape at a time -------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "shape", "kind", "status", "policy_"),
    [
        ("postfix_hard.eml", "dsn", "hard", "5.1.1", False),
        ("dsn_delayed.eml", "dsn", "soft", "4.4.7", False),
        ("gmail_plain.eml", "text", "hard", "5.1.1", False),
        ("exim_failed.eml", "text", "hard", "5.1.1", False),
        ("microsoft_undeliverable.eml", "text", "soft", "5.7.515", True),
    ],
)
def test_each_bounce_shape_is_read(
    name: str, shape: str, kind: str, status: str, policy_: bool
) -> None:
    """Each shape gives the failed address, its status and hard/soft; returned headers give
    the signed token and the VERP pair."""
    raw = fill(name, "user00002@example.com", verp="bounces+c1-s3@example.org", original=ORIGINAL)
    parsed = parse(raw)
    assert parsed.problem is None and parsed.shape == shape
    [b] = parsed.bounces
    assert (b.kind, b.status, b.policy) == (kind, status, policy_)
    assert b.recipient == "user00002@example.com"
    assert b.action == ("delayed" if status.startswith("4") else "failed")
    if kind == "hard":
        assert status in b.diagnostic
    if name not in ("gmail_plain.eml",):  # Gmail's text returns no headers
        assert parsed.tokens == ["1.3.abcdefghijkl"]
    if name not in ("exim_failed.eml", "microsoft_undeliverable.eml"):
        assert parsed.verp == [(1, 3)]  # the bounce's To / the original's Return-Path


def test_microsoft_unknown_user_is_hard_and_an_auto_reply_is_not_a_bounce() -> None:
    """Outlook's 550 5.1.1 is a hard bounce; an out-of-office reply is reported unreadable."""
    raw = fill("microsoft_undeliverable.eml", "gone@outlook.com").replace(
        b"550 5.7.515 Access denied, sending domain example.org doesn't meet the required "
        b"authentication level.",
        b"550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
    )
    [b] = parse(raw).bounces
    assert (b.kind, b.status, b.recipient) == ("hard", "5.1.1", "gone@outlook.com")
    assert "RecipNotFound" in b.diagnostic
    auto = parse(fill("autoreply.eml", "reader@example.com"))
    assert auto.bounces == [] and auto.problem and "not a bounce" in auto.problem


def test_soft_bounces_from_three_campaigns_suppress(tmp_path: Path) -> None:
    """Soft bounces count per campaign; the third in 30 days suppresses, an open resets."""
    engine = db.connect(f"sqlite:///{tmp_path / 'm.db'}")
    config = make_config(tmp_path)
    [a, b] = seed(engine, 2)
    cids = [campaign(engine, config) for _ in range(4)]

    def delayed(sid: int, cid: int, n: int) -> list[Any]:
        raw = fill("dsn_delayed.eml", f"user0000{sid - a}@example.com", verp="x@example.org")
        raw = raw.replace(b"Message-Id: <", f"Message-Id: <{n}.".encode())
        parsed = parse(raw)
        parsed.verp.append((cid, sid))
        with engine.begin() as conn:
            conn.execute(
                db.deliveries.insert().values(campaign_id=cid, subscriber_id=sid, status="accepted")
            )
            return record(conn, config, parsed, uid=str(n), key=f"k{n}", signer=None)

    outcomes = [delayed(a, cids[i], i)[0] for i in range(3)]
    assert [o.outcome for o in outcomes] == ["soft", "soft", "suppressed"]
    assert outcomes[1].note == "2 of 3 soft bounces" and outcomes[2].campaign_id == cids[2]
    delayed(b, cids[0], 10)
    with engine.begin() as conn:  # the other reader opened between two soft bounces
        conn.execute(db.events.insert().values(type="open", subscriber_id=b))
    later = [delayed(b, cids[i], 11 + i)[0].outcome for i in (1, 2)]
    assert later == ["soft", "soft"]
    with db.read(engine) as conn:
        status = dict(conn.execute(select(db.subscribers.c.id, db.subscribers.c.status)).all())
    assert status == {a: "bounced", b: "subscribed"}


# -- a real IMAP server ------------------------------------------------------------------------
@dataclass
class Imap:
    port: int
    user: str
    password: str

    def client(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        conn.login(self.user, self.password)
        return conn

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        conn = self.client()
        try:
            typ, data = conn.append(folder, None, None, raw)
            assert typ == "OK", data
        finally:
            conn.logout()

    def uids(self, folder: str, criterion: str = "ALL") -> int:
        conn = self.client()
        try:
            typ, _ = conn.select(folder)
            if typ != "OK":
                return 0
            typ, data = conn.uid("SEARCH", criterion)
            return len(data[0].split())
        finally:
            conn.logout()


@pytest.fixture
def imap(tmp_path: Path) -> Iterator[Imap]:
    """An unprivileged dovecot on 127.0.0.1 (its own config, a passwd-file user, a maildir)."""
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None
    )
    require(binary, "dovecot not installed (apt-get install dovecot-imapd)")
    assert binary
    base = tmp_path / "dovecot"
    base.mkdir()
    run = Path(tempfile.mkdtemp(prefix="mb-"))  # unix socket paths must stay short
    run.chmod(0o755)  # dovecot's auth process reads the passwd-file from here
    (base / "state").mkdir()
    me = pwd.getpwuid(os.getuid())
    if os.getuid() == 0:  # dovecot refuses to serve mail as root: use its own users
        login, internal, mail_user = "dovenull", "dovecot", pwd.getpwnam("dovecot")
        home = Path(tempfile.mkdtemp(prefix="mailer-bounces-"))
        os.chown(home, mail_user.pw_uid, mail_user.pw_gid)
    else:
        login = internal = me.pw_name
        mail_user = me
        home = base / "home"
        home.mkdir()
    group = mail_user.pw_gid
    port = free_port()
    (run / "passwd").write_text("bounces:{PLAIN}s3cret-pass\n")
    conf = base / "dovecot.conf"
    conf.write_text(
        f"""base_dir = {run}
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login}
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
first_valid_uid = 1
first_valid_gid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {run}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={group} home={home}/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""
    )
    proc = subprocess.Popen([binary, "-F", "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        try:
            wait_port(port, timeout=20, proc=proc)
        except RuntimeError:
            log = base / "dovecot.log"
            raise RuntimeError(log.read_text() if log.exists() else "no dovecot") from None
        yield Imap(port, "bounces", "s3cret-pass")
    finally:
        stop_process(proc)
        shutil.rmtree(run, ignore_errors=True)
        if os.getuid() == 0:
            shutil.rmtree(home, ignore_errors=True)


def _project(tmp_path: Path, imap_port: int, smtp_port: int) -> Path:
    path = tmp_path / "mailer.toml"
    path.write_text(
        f"""name = "Test Newsletter"
database_url = "sqlite:///{tmp_path / "mailer.db"}"
backend = "smtp"
languages = ["en", "tr"]

[sender]
from_name = "IOM Turkey"
from_email = "newsletter@example.org"
unsubscribe_mailto = "unsubscribe@example.org"

[tracking]
base_url = "https://news.example.org"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
timeout = 5

[bounces]
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "bounces"
address = "bounces@example.org"
verp = true
timeout = 10
"""
    )
    return path


def _events(engine: Engine) -> list[tuple[str, int | None, int | None, dict[str, Any]]]:
    e = db.events
    with db.read(engine) as conn:
        rows = conn.execute(
            select(e.c.type, e.c.campaign_id, e.c.subscriber_id, e.c.data).order_by(e.c.id)
        ).all()
    return [(str(r[0]), r[1], r[2], dict(r[3] or {})) for r in rows]


def _statuses(engine: Engine) -> dict[str, str]:
    s = db.subscribers
    with db.read(engine) as conn:
        return {str(r[0]): str(r[1]) for r in conn.execute(select(s.c.email, s.c.status))}


@pytest.mark.slow
def test_mailer_bounces_reads_the_mailbox_records_and_files_away(
    imap: Imap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A campaign sent over SMTP with VERP; its bounces appended to a real IMAP mailbox: hard
    ones suppress, soft ones count, an auto-reply stays unread, a second run changes nothing."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.chdir(tmp_path)
    handler = Recorder()
    controller = start(handler)
    config_path = _project(tmp_path, imap.port, controller.port)
    config = load_config(config_path)
    engine = db.connect(config.database_url)
    try:
        ids = seed(engine, 6)
        cid = campaign(engine, config)
        result = run_campaign(engine, config, cid, backend="smtp")
    finally:
        controller.stop()
    assert result.accepted == 6
    sent = {}
    for mail_from, rcpts, raw in handler.messages:
        msg = email.message_from_bytes(raw, policy=policy.default)
        sid = ids[int(rcpts[0][4:9])]
        assert mail_from == f"bounces+c{cid}-s{sid}@example.org"  # VERP envelope sender
        token = str(msg["X-Mailer-Recipient"])
        assert Signer(SECRET.encode()).verify_recipient(token) == (cid, sid)
        head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii").replace("\r\n", "\n")
        sent[rcpts[0]] = (f"Return-Path: <{mail_from}>\n{head}", mail_from)

    def bounce(name: str, n: int, *, headers: bool = True, verp: bool = True) -> bytes:
        rcpt = f"user0000{n}@example.com"
        original, envelope = sent[rcpt]
        return fill(
            name,
            rcpt,
            verp=envelope if verp else "bounces@example.org",
            original=original if headers else "",
        )

    imap.append(bounce("postfix_hard.eml", 0, verp=False))  # the token in returned headers
    imap.append(bounce("dsn_delayed.eml", 1))
    imap.append(bounce("gmail_plain.eml", 2))  # VERP only
    imap.append(bounce("exim_failed.eml", 3, verp=False))
    imap.append(bounce("microsoft_undeliverable.eml", 4, verp=False))
    imap.append(fill("autoreply.eml", "user00005@example.com"))
    monkeypatch.setenv(
        "MAILER_BOUNCE_URL", f"imap://bounces:s3cret-pass@127.0.0.1:{imap.port}/INBOX"
    )
    runner = CliRunner()

    dry = runner.invoke(main, ["--config", str(config_path), "bounces", "--dry-run", "--json"])
    assert dry.exit_code == 1, dry.output  # the auto-reply needs a person
    assert json.loads(dry.output)["counts"] == {"suppressed": 3, "soft": 2, "unparseable": 1}
    assert _events(engine) == [] and imap.uids("INBOX", "UNSEEN") == 6

    out = runner.invoke(main, ["--config", str(config_path), "bounces", "--json"])
    assert out.exit_code == 1, out.output
    report = json.loads(out.output)
    assert "s3cret-pass" not in out.output
    by_email = {r["email"]: r for r in report["bounces"]}
    assert report["messages"] == 6
    assert report["counts"] == {"suppressed": 3, "soft": 2, "unparseable": 1}
    for n in (0, 2, 3):
        row = by_email[f"user0000{n}@example.com"]
        assert (row["outcome"], row["status"], row["campaign_id"]) == ("suppressed", "5.1.1", cid)
    assert by_email["user00001@example.com"]["outcome"] == "soft"
    assert by_email["user00004@example.com"]["note"].startswith("policy refusal (5.7.x)")
    assert by_email[None]["outcome"] == "unparseable"
    statuses = _statuses(engine)
    assert [statuses[f"user0000{n}@example.com"] for n in range(6)] == [
        "bounced",
        "subscribed",
        "bounced",
        "bounced",
        "subscribed",
        "subscribed",
    ]
    events = _events(engine)
    assert sorted((t, c, s) for t, c, s, _ in events) == sorted(
        [("bounce", cid, ids[n]) for n in (0, 2, 3)] + [("deferred", cid, ids[n]) for n in (1, 4)]
    )
    first = next(d for t, _, s, d in events if s == ids[0])
    assert first["status"] == "5.1.1" and "User unknown" in first["diagnostic"]
    assert first["recipient"] == "user00000@example.com" and first["action"] == "failed"
    assert imap.uids("INBOX") == 1 and imap.uids("INBOX", "UNSEEN") == 1  # the auto-reply
    assert imap.uids("Processed") == 5

    again = runner.invoke(main, ["--config", str(config_path), "bounces", "--json"])
    assert json.loads(again.output)["counts"] == {"unparseable": 1}
    assert _events(engine) == events and _statuses(engine) == statuses

    # the same bounce read twice (a run stopped before filing it away) counts once
    imap.append(bounce("dsn_delayed.eml", 1))
    table = runner.invoke(main, ["--config", str(config_path), "bounces"])
    assert "repeated" in table.output and "1 message(s)" not in table.output
    assert len(_events(engine)) == len(events)


def test_bad_password_is_a_clear_error(
    imap: Imap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused login exits 1 naming the server and the variable, never showing the password."""
    monkeypatch.setenv(
        "MAILER_BOUNCE_URL", f"imap://bounces:wrong-pass@127.0.0.1:{imap.port}/INBOX"
    )
    config_path = _project(tmp_path, imap.port, free_port())
    out = CliRunner().invoke(main, ["--config", str(config_path), "bounces"])
    assert out.exit_code == 1
    assert "refused the login of 'bounces'" in out.output and "MAILER_BOUNCE_URL" in out.output
    assert "wrong-pass" not in out.output and "Traceback" not in out.output


def test_no_mailbox_configured() -> None:
    """Without [bounces] or MAILER_BOUNCE_URL the command says how to set one up."""
    out = CliRunner(env={"MAILER_BOUNCE_URL": ""}).invoke(main, ["bounces"])
    assert out.exit_code == 1 and "no bounce mailbox is configured" in out.output


def test_worker_poller_reads_every_few_minutes(
    imap: Imap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's poller reads the mailbox when due, then waits poll_minutes; a refused
    login is logged, not raised, so sending goes on."""
    monkeypatch.setenv("MAILER_BOUNCE_URL", f"imap://bounces:s3cret-pass@127.0.0.1:{imap.port}/")
    config = load_config(_project(tmp_path, imap.port, free_port()))
    engine = db.connect(config.database_url)
    now = [1000.0]
    poller = Poller(config, clock=lambda: now[0])
    imap.append(fill("gmail_plain.eml", "nobody@example.com"))
    first = poller(engine)
    assert first is not None and first.counts == {"unmatched": 1}
    assert poller(engine) is None  # not due yet
    now[0] += 5 * 60
    monkeypatch.setenv("MAILER_BOUNCE_URL", f"imap://bounces:bad@127.0.0.1:{imap.port}/")
    assert Poller(config)(engine) is None  # logged, not raised
    monkeypatch.setenv("MAILER_BOUNCE_URL", "")
    assert not Poller(make_config(tmp_path)).enabled
