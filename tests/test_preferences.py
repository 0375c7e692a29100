"""Per-list one-click unsubscribe and the preference page on `mailer serve`, with real
campaigns through the outbox backend."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from mailer import db
from mailer.audience import add, import_csv
from mailer.delivery.send import send_issue
from readers_helpers import configure, free_port, outbox_messages, serve

ISSUE = "issues/2018-03-iom-turkey.yaml"
WELCOME = "issues/welcome.yaml"


def _to(folder: Path) -> list[str]:
    return sorted(m["To"].addresses[0].addr_spec for m in outbox_messages(folder))


def test_one_click_leaves_only_the_campaigns_list(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader on lists A and B who one-clicks (RFC 8058) a campaign to A gets B's next
    campaign and not A's; an import of A does not bring them back; the preference page
    then unsubscribes from all lists."""
    port = free_port()
    config = configure(project, monkeypatch, port)
    engine = db.connect(config.database_url)
    with db.transaction(engine) as conn:
        for lst in ("A", "B"):
            add(conn, "reader@example.org", lst, name="Reader One")
        add(conn, "other@example.org", "A")
    first = send_issue(engine, config, ISSUE, "A", backend="outbox")
    folder = project / "outbox" / str(first.campaign_id)
    assert _to(folder) == ["other@example.org", "reader@example.org"]
    [msg] = [m for m in outbox_messages(folder) if "reader@" in str(m["To"])]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.findall(r"<(http://[^>]+/u/[^>]+)>", msg["List-Unsubscribe"])[0]
    with serve(config, port), httpx.Client(timeout=30) as client:
        page = client.get(unsubscribe)
        assert "Unsubscribe from A" in page.text and "/p/" in page.text
        for _ in range(2):
            r = client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
            assert r.status_code == 200 and "unsubscribed" in r.text

        second_a = send_issue(engine, config, WELCOME, "A", backend="outbox")
        second_b = send_issue(engine, config, WELCOME, "B", backend="outbox")
        outbox = project / "outbox"
        assert _to(outbox / str(second_a.campaign_id)) == ["other@example.org"]
        assert _to(outbox / str(second_b.campaign_id)) == ["reader@example.org"]

        csv = project / "again.csv"
        csv.write_text("email,name\nreader@example.org,Reader One\n", encoding="utf-8")
        import_csv(engine, csv, "A")
        with db.read(engine) as conn:
            m, ls = db.memberships, db.lists
            states = dict(
                conn.execute(
                    select(ls.c.name, m.c.status)
                    .select_from(m.join(ls, ls.c.id == m.c.list_id))
                    .where(m.c.subscriber_id == msg_subscriber(conn))
                ).all()
            )
        assert states == {"A": "left", "B": "subscribed"}

        prefs_path = re.findall(r'href="(/p/[^"]+)"', page.text)[0]
        prefs = client.get(f"http://127.0.0.1:{port}{prefs_path}")
        assert 'name="list" value="B" checked' in prefs.text
        assert 'name="list" value="A">' in prefs.text
        done = client.post(f"http://127.0.0.1:{port}{prefs_path}", data={"action": "all"})
        assert "unsubscribed" in done.text
    with db.read(engine) as conn:
        status = conn.execute(
            select(db.subscribers.c.status).where(db.subscribers.c.email == "reader@example.org")
        ).scalar()
        events = conn.execute(select(db.events.c.data).where(db.events.c.type == "unsubscribe"))
        data = [e for (e,) in events]
    assert status == "unsubscribed"
    assert {"source": "one-click", "list": "A"} in data and len(data) == 2


def test_serve_help_lists_every_route(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mailer serve --help` lists every route the app serves (each a line of its own) and
    still ends with the example."""
    from click.testing import CliRunner

    from mailer.cli import main
    from mailer.web.server import create_app

    config = configure(project, monkeypatch, free_port())
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    text = result.output.split("Options:")[0]
    lines = [line.split()[0] for line in text.splitlines() if line.strip().startswith("/")]
    listed = {p.split("?")[0] for p in lines}
    served = {r.path.split("{")[0].rstrip("/") for r in create_app(config).routes}  # type: ignore[attr-defined]
    for path in served:
        assert any(p == path or p.startswith(f"{path}/") for p in listed), path
    for path in ("/c", "/o", "/u", "/p", "/v", "/subscribe", "/confirm", "/archive"):
        assert any(p.startswith(path) for p in listed), path
    for path in ("/archive/feed.xml", "/assets/", "/webhooks/sendgrid"):
        assert any(p.startswith(path) for p in listed), path
    assert text.strip().splitlines()[-1].strip().startswith("MAILER_SECRET_KEY=... mailer serve")


def msg_subscriber(conn: object) -> int:
    """The id of reader@example.org."""
    s = db.subscribers
    return int(conn.execute(select(s.c.id).where(s.c.email == "reader@example.org")).scalar())  # type: ignore[attr-defined]
