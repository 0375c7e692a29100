"""`mailer send-test` with tracking configured: the message a reader gets, recorded as no send."""

from __future__ import annotations

import email
import json
import re
from email import policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, text

from mailer import db
from mailer.cli import main
from mailer.config import load_config
from mailer.db import migrations
from mailer.tracking.tokens import Signer
from mailer.web.server import create_app
from tracking_helpers import count_events, live_server, wait_for

ISSUE = "issues/2018-03-iom-turkey.yaml"
BASE = "https://news.turkey.iom.int"
SECRET = "test-secret-key-0123456789abcdef"
EDITOR = "editor@example.org"


def _configure(project: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, **extra: str) -> None:
    """Tracking on (base URL, opens), the database at *db_url*, the outbox in the project."""
    toml = (project / "mailer.toml").read_text()
    toml = re.sub(r"#\s*base_url\s*=.*", f'base_url = "{BASE}"', toml)
    toml = re.sub(r"(?m)^opens = false$", "opens = true", toml)
    (project / "mailer.toml").write_text(toml)
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.setenv("MAILER_DATABASE_URL", db_url)
    monkeypatch.setenv("MAILER_OUTBOX_DIR", str(project / "outbox"))
    for key, value in extra.items():
        monkeypatch.setenv(key, value)


def _cli(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def _import(project: Path) -> dict[str, int]:
    """The sample subscribers in list "partners": address -> id of the subscribed ones."""
    _cli("subscribers", "import", "subscribers.csv.example", "--list", "partners")
    engine = db.connect(load_config(project / "mailer.toml").database_url)
    s = db.subscribers
    with db.read(engine) as conn:
        rows = conn.execute(select(s.c.email, s.c.id).where(s.c.status == "subscribed")).all()
    return {str(e).lower(): int(i) for e, i in rows}


def _message(path: Path) -> EmailMessage:
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _html(msg: EmailMessage) -> str:
    return str(msg.get_body(("html",)).get_content())  # type: ignore[union-attr]


def _count(engine: db.Engine, table: db.Table) -> int:
    with db.read(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _targets(engine: db.Engine, html: str) -> str:
    """*html* with every per-message URL made comparable: /c/ links replaced by their stored
    target, the unsubscribe, view and pixel URLs by a mark."""
    signer = Signer(SECRET.encode())
    with db.read(engine) as conn:
        stored = dict(conn.execute(select(db.links.c.id, db.links.c.url)).all())

    def link(m: re.Match[str]) -> str:
        return f"TRACKED[{stored[signer.verify_link(m.group(1))[1]]}]"

    out = re.sub(rf"{re.escape(BASE)}/c/([^/\"]+)/[^\"]+", link, html)
    for kind in ("u", "v", "o"):
        out = re.sub(rf"{re.escape(BASE)}/{kind}/[^\"]+", f"{kind.upper()}-URL", out)
    return out


def test_send_test_is_what_a_reader_gets_and_no_send(
    project: Path, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    """A tracked test message equals a reader's (links through /c/, pixel, one-click headers),
    is listed nowhere, records no delivery, and the real send then reaches everyone."""
    _configure(project, monkeypatch, db_url)
    people = _import(project)
    reader = "john.miller@un.example.org"  # an English reader: send-test sends the default
    _cli("send-test", ISSUE, "--to", f"{reader},{EDITOR}", "--backend", "outbox")
    engine = db.connect(db_url)
    tests = sorted((project / "outbox" / "test").glob("*.eml"))
    assert len(tests) == 2
    for path in tests:
        msg = _message(path)
        assert str(msg["Subject"]).startswith("[TEST] ")
        head = path.read_bytes().split(b"\r\n\r\n", 1)[0].decode("ascii")
        unsub = next(h for h in head.split("\r\n") if h.startswith("List-Unsubscribe:"))
        assert re.fullmatch(rf"List-Unsubscribe: <{re.escape(BASE)}/u/[^>]+>, <mailto:.+>", unsub)
        assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in head
        html = _html(msg)
        assert "%%" not in html
        assert re.search(rf'href="{re.escape(BASE)}/c/[^"]+"', html)
        assert f'src="{BASE}/o/' in html  # tracking.opens is on
        assert "utm_" not in "".join(re.findall(r'href="([^"]+)"', html))
    # nothing recorded as a send: no delivery, no batch, listed nowhere, no stats
    assert _count(engine, db.deliveries) == 0 and _count(engine, db.batches) == 0
    assert json.loads(_cli("campaigns", "--json").output) == []
    assert json.loads(_cli("schedule", "list", "--all", "--json").output) == []
    stats = CliRunner().invoke(main, ["stats", ISSUE, "--json"])
    assert stats.exit_code == 1 and "has been sent" in stats.output
    # the real send of the same issue to the list goes to everyone
    sent = json.loads(
        _cli("send", ISSUE, "--list", "partners", "--backend", "outbox", "--yes", "--json").output
    )
    assert sent["status"] == "sent" and sent["accepted"] == len(people)
    real = json.loads(_cli("campaigns", "--json").output)
    assert [c["id"] for c in real] == [sent["id"]] and real[0]["accepted"] == len(people)
    assert _count(engine, db.deliveries) == len(people)
    # the reader's test message is the reader's message (links resolve to the same targets)
    test_msg = next(p for p in tests if p.name.endswith(f"-{reader}.eml"))
    reader_msg = next((project / "outbox" / str(sent["id"])).glob(f"*-{reader}.eml"))
    assert _targets(engine, _html(_message(test_msg))) == _targets(
        engine, _html(_message(reader_msg))
    )
    assert str(_message(test_msg)["Subject"]) == f"[TEST] {_message(reader_msg)['Subject']}"
    numbers = json.loads(_cli("stats", ISSUE, "--json").output)
    assert numbers["campaigns"] == [sent["id"]]
    assert [row["campaign"] for row in numbers["comparison"]] == [sent["id"]]


def test_test_links_redirect_and_unsubscribe_nobody(
    project: Path, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    """Through the real app a test message's link redirects to its stored target and its
    one-click unsubscribe answers without unsubscribing the subscriber it was sent to."""
    _configure(project, monkeypatch, db_url)
    people = _import(project)
    reader = "john.miller@un.example.org"  # an English reader: send-test sends the default
    _cli("send-test", ISSUE, "--to", reader, "--backend", "outbox")
    path = next((project / "outbox" / "test").glob("*.eml"))
    msg = _message(path)
    html = _html(msg)
    clicked = re.findall(rf'href="{re.escape(BASE)}(/c/[^"]+)"', html)
    unsubscribe = re.search(rf"<{re.escape(BASE)}(/u/[^>]+)>", str(msg["List-Unsubscribe"]))
    assert clicked and unsubscribe
    engine = db.connect(db_url)
    signer = Signer(SECRET.encode())
    link_token = clicked[0].split("/")[2]
    cid, link_id = signer.verify_link(link_token)
    with db.read(engine) as conn:
        target = conn.execute(select(db.links.c.url).where(db.links.c.id == link_id)).scalar_one()
    config = load_config(project / "mailer.toml")
    with live_server(create_app(config)) as url, httpx.Client(base_url=url, timeout=10) as client:
        answer = client.get(clicked[0], follow_redirects=False)
        assert answer.status_code == 302 and answer.headers["location"] == target
        assert target.startswith("https://")
        page = client.get(unsubscribe.group(1))
        assert page.status_code == 200 and "<form" in page.text  # the page a reader sees
        for href in re.findall(r'href="([^"]+)"', page.text):  # no link to a dead page
            assert client.get(href).status_code == 200, href
        assert "/p/" not in page.text
        posted = client.post(  # RFC 8058 one-click
            unsubscribe.group(1),
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        said = "This was a test message: nobody was unsubscribed"
        assert posted.status_code == 200 and said in posted.text
        pressed = client.post(unsubscribe.group(1), data={"List-Unsubscribe": "One-Click"})
        assert pressed.status_code == 200 and said in pressed.text  # the page's button
        assert wait_for(lambda: count_events(engine, "click") == 1)
    with db.read(engine) as conn:
        status = conn.execute(
            select(db.subscribers.c.status).where(db.subscribers.c.id == people[reader])
        ).scalar_one()
        events = conn.execute(
            select(db.events.c.type, db.events.c.campaign_id, db.events.c.subscriber_id)
        ).all()
    assert status == "subscribed"
    assert [tuple(e) for e in events] == [("click", cid, None)]  # the test campaign's, nobody's


def test_send_test_without_tracking_links_go_straight(
    project: Path, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    """Without [tracking] base_url a test message has its links as they are, the mailto
    unsubscribe only, and nothing is written to the database."""
    monkeypatch.setenv("MAILER_DATABASE_URL", db_url)
    monkeypatch.setenv("MAILER_OUTBOX_DIR", str(project / "outbox"))
    _import(project)
    _cli("send-test", ISSUE, "--to", EDITOR, "--backend", "outbox")
    msg = _message(next((project / "outbox" / "test").glob("*.eml")))
    assert str(msg["Subject"]).startswith("[TEST] ")
    assert str(msg["List-Unsubscribe"]).startswith("<mailto:")
    assert msg["List-Unsubscribe-Post"] is None
    assert "/c/" not in _html(msg) and "utm_" in _html(msg)
    engine = db.connect(db_url)
    assert _count(engine, db.campaigns) == 0 and _count(engine, db.links) == 0


def test_a_database_at_v2_gets_campaign_kinds(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration 3 adds campaigns.kind to an older database: its campaigns are sends."""
    monkeypatch.setattr(migrations, "MIGRATIONS", db.MIGRATIONS[:3])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", 3)
    engine = db.connect(db_url)
    with db.transaction(engine) as conn:
        list_id = db.get_or_create_list(conn, "partners")
        conn.execute(text("ALTER TABLE campaigns DROP COLUMN kind"))
        conn.execute(
            text(
                "INSERT INTO campaigns (issue_slug, issue_path, list_id, status, backend, subject,"
                " late, send_late, recipients, created_at) VALUES ('x', 'x.yaml', :l, 'sent',"
                " 'outbox', 'S', false, false, 3, CURRENT_TIMESTAMP)"
            ),
            {"l": list_id},
        )
        conn.execute(db.schema_version.update().values(version=2))
    db.dispose_all()
    engine = db.connect(db_url)
    with db.read(engine) as conn:
        assert db.current_version(conn) == 3
        assert conn.execute(select(db.campaigns.c.kind)).scalars().all() == ["send"]
