"""Sign-up with double opt-in on `mailer serve` (uvicorn, the sample project, the outbox)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from judges import PageJob, browser
from mailer import db
from readers_helpers import configure, free_port, outbox_messages, serve, text_of

LINK = re.compile(r"http://127\.0\.0\.1:\d+/confirm/\S+")


def _state(engine: Any, email: str) -> tuple[str, list[str]]:
    s, m = db.subscribers, db.memberships
    with db.read(engine) as conn:
        row = conn.execute(select(s.c.id, s.c.status).where(s.c.email == email)).one()
        members = conn.execute(select(m.c.status).where(m.c.subscriber_id == row.id)).scalars()
        return str(row.status), [str(x) for x in members]


def test_sign_up_confirm_by_button_only_then_welcome_once(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The form renders accessibly in Chromium; a sign-up mails a Turkish confirmation to the
    outbox's notices/ folder; HEAD and GET of its link leave the reader pending; the POST
    button confirms, records consent and sends the welcome issue once, however often it is
    pressed."""
    port = free_port()
    config = configure(project, monkeypatch, port, welcome="issues/welcome.yaml")
    engine = db.connect(config.database_url)
    outbox = project / "outbox" / "notices"  # notices have their own folder
    with serve(config, port) as url, httpx.Client(base_url=url, timeout=30) as client:
        form = client.get("/subscribe", params={"list": "partners"})
        assert form.status_code == 200 and '<html lang="en">' in form.text
        assert '<label for="mailer-email">' in form.text and "<script" not in form.text
        assert "#0033A0" in form.text  # brand colour from mailer.toml
        page = tmp_path / "form.html"
        page.write_text(form.text, encoding="utf-8")
        result = browser([PageJob("form", page, (375, 1024), axe=True)], tmp_path)
        for width in ("375", "1024"):
            bad = [
                v["id"]
                for v in result["form"][width]["axe"]["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            assert bad == [], bad

        fields = {"email": "ayse@example.org", "name": "Ayşe Yılmaz", "language": "tr"}
        r = client.post("/subscribe", data={**fields, "list": "partners"})
        assert r.status_code == 200 and "Check your inbox" in r.text
        [confirm] = outbox_messages(outbox)
        assert confirm["To"].addresses[0].addr_spec == "ayse@example.org"
        assert confirm["Subject"] == "IOM Turkey Newsletter aboneliğinizi onaylayın"
        link = LINK.findall(text_of(confirm))[0]
        assert _state(engine, "ayse@example.org") == ("pending", ["pending"])

        assert client.head(link).status_code == 200
        shown = client.get(link)
        assert shown.status_code == 200 and '<form method="post">' in shown.text
        assert _state(engine, "ayse@example.org") == ("pending", ["pending"])

        done = client.post(link)
        assert done.status_code == 200 and "You are subscribed" in done.text
        assert _state(engine, "ayse@example.org") == ("subscribed", ["subscribed"])
        assert client.post(link).status_code == 200  # pressed twice
        messages = outbox_messages(outbox)
        assert len(messages) == 2
        welcome = messages[1]
        assert welcome["Subject"] == "Welcome to the IOM Turkey Newsletter"
        assert "Welcome, Ayşe" in text_of(welcome) and "%%" not in text_of(welcome)
        assert f"{url}/p/" in welcome["List-Unsubscribe"]

        again = client.post("/subscribe", data={**fields, "list": "partners"})
        assert again.text == r.text  # already subscribed: the same answer, no new email
        assert len(outbox_messages(outbox)) == 2
    assert sorted(p.name for p in (project / "outbox").iterdir()) == ["notices"]  # not test/
    assert [p.name.split("-")[1] for p in sorted(outbox.glob("*.eml"))] == ["confirm", "welcome"]
    with db.read(engine) as conn:
        consent = conn.execute(select(db.consents)).one()
    assert consent.source == "form:partners" and consent.form == "/subscribe?list=partners"
    assert consent.optin_ip == "127.0.0.1" and consent.confirmed_at is not None
    assert "I want to receive IOM Turkey Newsletter (partners)" in consent.text


def test_forgotten_address_signs_up_to_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An address erased with `mailer subscribers forget` that signs up again (in another
    case) gets the same page as a new address, but is not stored and gets no email."""
    from click.testing import CliRunner

    from mailer.cli import main

    port = free_port()
    config = configure(project, monkeypatch, port)
    engine = db.connect(config.database_url)
    outbox = project / "outbox"
    with serve(config, port) as url, httpx.Client(base_url=url, timeout=30) as client:
        first = client.post("/subscribe", data={"email": "gone@example.org", "list": "partners"})
        assert first.status_code == 200 and len(outbox_messages(outbox)) == 1
        erased = CliRunner().invoke(main, ["subscribers", "forget", "gone@example.org", "--yes"])
        assert erased.exit_code == 0, erased.output
        again = client.post(
            "/subscribe", data={"email": "Gone@Example.org", "name": "G", "list": "press"}
        )
        fresh = client.post("/subscribe", data={"email": "new@example.org", "list": "press"})
        assert again.status_code == fresh.status_code == 200
        assert again.text == fresh.text and "Check your inbox" in again.text
    sent = [m["To"].addresses[0].addr_spec for m in outbox_messages(outbox)]
    assert sent == ["gone@example.org", "new@example.org"]  # the first sign-up's, and new's
    s = db.subscribers
    with db.read(engine) as conn:
        emails = conn.execute(select(s.c.email)).scalars().all()
        consents = conn.execute(select(db.consents.c.subscriber_id)).scalars().all()
    assert [e for e in emails if e.lower() == "gone@example.org"] == []
    assert len(consents) == 1  # new@'s only


def test_merge_field_values_have_one_owner() -> None:
    """Campaigns and notices (the welcome email) fill merge fields with the one
    `mailer.rendered.field_value`: email, name, first_name from the attribute or the name's
    first word, other attributes, raw JSON attributes, "" for none."""
    from mailer.delivery import personalize
    from mailer.notices import send
    from mailer.rendered import field_value

    assert personalize.field_value is field_value and send.field_value is field_value
    assert not hasattr(send, "_field")
    attrs = {"first_name": "Ayşe", "city": "Gaziantep"}
    assert field_value("email", "a@example.org", "", None) == "a@example.org"
    assert field_value("name", "a@example.org", "Ayşe Yılmaz", attrs) == "Ayşe Yılmaz"
    assert field_value("first_name", "a@example.org", "Ayşe Yılmaz", {}) == "Ayşe"
    assert field_value("first_name", "a@example.org", "A Y", attrs) == "Ayşe"
    assert field_value("city", "a@example.org", "", '{"city": "Gaziantep"}') == "Gaziantep"
    assert field_value("city", "a@example.org", "", "{}") == ""
    assert field_value("first_name", "a@example.org", "", None) == ""


def test_refusals_honeypot_and_limits(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lists outside [subscribe] lists refuse sign-ups; a filled honeypot and a bad
    address send nothing; one address gets at most per_address_day confirmations; an
    expired or forged confirmation link confirms nobody."""
    port = free_port()
    config = configure(project, monkeypatch, port)
    config.settings.subscribe.per_address_day = 2
    outbox = project / "outbox"
    with serve(config, port) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/subscribe", params={"list": "secret"}).status_code == 404
        r = client.post("/subscribe", data={"email": "a@example.org", "list": "secret"})
        assert r.status_code == 404
        bot = {"email": "bot@example.org", "list": "partners", "website": "http://spam"}
        assert "Check your inbox" in client.post("/subscribe", data=bot).text
        bad = client.post("/subscribe", data={"email": "not-an-address", "list": "partners"})
        assert bad.status_code == 400 and "invalid email address" in bad.text
        assert outbox_messages(outbox) == []
        for _ in range(4):
            r = client.post("/subscribe", data={"email": "b@example.org", "list": "partners"})
            assert "Check your inbox" in r.text
        assert len(outbox_messages(outbox)) == 2
        assert client.post("/confirm/1.1.1.forged").status_code == 400
        from mailer.tracking.tokens import Signer
        from readers_helpers import SECRET

        old = Signer(SECRET.encode()).confirmation(1, 1, 1000)
        assert client.post(f"/confirm/{old}").status_code == 410
    engine = db.connect(config.database_url)
    assert _state(engine, "b@example.org") == ("pending", ["pending"])
