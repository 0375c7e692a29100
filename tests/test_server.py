"""The web endpoint on a real uvicorn server on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from mailer import db
from mailer.tracking.tokens import Signer
from mailer.web.server import create_app
from tracking_helpers import BASE, SECRET, Seeded, count_events, live_server, seed, wait_for
from tracking_helpers import write_config as make_config

HERO = "https://example.org/story-1?utm_content=hero&utm_source=newsletter"


@pytest.fixture
def seeded(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    """A seeded campaign tracked through BASE, deliveries accepted an hour ago."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.setenv("MAILER_EVENTS_FLUSH_SECONDS", "0.01")
    config = make_config(tmp_path, db_url, base_url=BASE, opens=True)
    return seed(config)


@pytest.fixture
def server(seeded: Seeded) -> Iterator[tuple[str, httpx.Client]]:
    """A live server for the seeded campaign and an httpx client on it."""
    with live_server(create_app(seeded.config)) as url, httpx.Client(base_url=url) as client:
        yield url, client


def tracked_path(s: Seeded, target: str, subscriber: int | None) -> str:
    """The /c/ path the prepared HTML has for *target*, filled for *subscriber*."""
    token = Signer(SECRET.encode()).link(s.campaign_id, s.links[target])
    path = f"/c/{token}/%%r%%"
    assert f"{BASE}{path}" in s.html
    if subscriber is None:
        return path.removesuffix("/%%r%%")
    return path.replace("%%r%%", Signer(SECRET.encode()).recipient(s.campaign_id, subscriber))


def events(engine: Any) -> list[Any]:
    with db.read(engine) as conn:
        return list(conn.execute(select(db.events).order_by(db.events.c.id)).mappings())


def test_click_redirects_to_the_stored_target_and_records_it(seeded: Seeded, server: Any) -> None:
    """A tracked link answers 302 to its registered URL and records who clicked what."""
    _, client = server
    sub = seeded.subscribers[1]
    r = client.get(tracked_path(seeded, HERO, sub), headers={"user-agent": "Mozilla/5.0 Reader"})
    assert r.status_code == 302
    assert r.headers["location"] == HERO
    assert r.headers["cache-control"] == "no-store"
    assert wait_for(lambda: count_events(seeded.engine, "click") == 1)
    (ev,) = events(seeded.engine)
    assert (ev["campaign_id"], ev["subscriber_id"], ev["link_id"]) == (
        seeded.campaign_id,
        sub,
        seeded.links[HERO],
    )
    assert (ev["block"], ev["kind"], ev["is_scanner"]) == ("hero", "read_more", False)
    assert ev["user_agent"] == "Mozilla/5.0 Reader"


def test_tampered_or_truncated_tokens_are_404_and_record_nothing(
    seeded: Seeded, server: Any
) -> None:
    """Every damaged token is refused with 404 and leaves no event behind."""
    _, client = server
    good = tracked_path(seeded, HERO, seeded.subscribers[0])
    link_token, rcpt = good.split("/")[2:4]
    other = Signer(SECRET.encode()).recipient(seeded.campaign_id + 1, seeded.subscribers[0])
    bad = [
        good[:-1],
        good[:-5],
        good.replace(link_token, link_token[:-1] + ("A" if link_token[-1] != "A" else "B")),
        f"/c/{link_token}/{rcpt[:-1]}",
        f"/c/{link_token[:-3]}",
        f"/c/{link_token}/{other}",  # a recipient token of another campaign
        f"/c/{Signer(b'another-key-0123456789').link(seeded.campaign_id, 1)}",
        f"/c/{Signer(SECRET.encode()).link(seeded.campaign_id, 9999)}",  # signed, no such link
        "/c/1.1.AAAAAAAAAA",
        "/c/%C3%A4.1.AAAAAAAAAA",
        "/c/",
    ]
    for path in bad:
        r = client.get(path)
        assert r.status_code in (400, 404), path
        assert "location" not in r.headers
    # a valid click afterwards is the barrier: once it is written, nothing else was
    assert client.get(good).status_code == 302
    assert wait_for(lambda: count_events(seeded.engine) >= 1)
    assert count_events(seeded.engine) == 1


def test_anonymous_click_and_scanner_flags(seeded: Seeded, server: Any) -> None:
    """A click without recipient is anonymous; a scanner user agent is flagged."""
    _, client = server
    share = next(u for u in seeded.links if "facebook" in u)
    assert client.get(tracked_path(seeded, share, None)).headers["location"] == share
    ua = "Mozilla/5.0 (compatible; BingPreview/1.0b) Microsoft Office SafeLinks"
    r = client.get(tracked_path(seeded, HERO, seeded.subscribers[0]), headers={"user-agent": ua})
    assert r.status_code == 302
    assert wait_for(lambda: count_events(seeded.engine) == 2)
    first, second = events(seeded.engine)
    assert first["subscriber_id"] is None and first["kind"] == "share:facebook"
    assert first["is_scanner"] is False
    assert second["is_scanner"] is True


def test_a_click_right_after_delivery_is_a_scanner_click(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A click within tracking.scanner_window_seconds of acceptance is flagged as a scanner."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    config = make_config(tmp_path, db_url, base_url=BASE, scanner_window_seconds=60)
    s = seed(config, accepted_ago=1)
    with live_server(create_app(config)) as url, httpx.Client(base_url=url) as client:
        assert client.get(tracked_path(s, HERO, s.subscribers[0])).status_code == 302
        assert wait_for(lambda: count_events(s.engine) == 1)
    (ev,) = events(s.engine)
    assert ev["is_scanner"] is True and ev["subscriber_id"] == s.subscribers[0]


def test_redirect_survives_a_database_that_cannot_record(seeded: Seeded, server: Any) -> None:
    """With the events table gone, clicks still redirect and the server keeps answering."""
    _, client = server
    with db.transaction(seeded.engine) as conn:
        conn.execute(text("DROP TABLE events"))
    for sub in seeded.subscribers:
        r = client.get(tracked_path(seeded, HERO, sub))
        assert r.status_code == 302 and r.headers["location"] == HERO
    assert client.get("/o/whatever").status_code == 200
    assert client.get("/healthz").text == "ok"
    sub = seeded.subscribers[0]
    path = f"/u/{Signer(SECRET.encode()).recipient(seeded.campaign_id, sub)}"
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with db.read(seeded.engine) as conn:
        status = conn.execute(
            select(db.subscribers.c.status).where(db.subscribers.c.id == sub)
        ).scalar()
    assert status == "unsubscribed"  # what the reader asked for, even without the event


def test_an_uncached_link_without_database_is_503_never_a_guess(seeded: Seeded) -> None:
    """When the link rows cannot be read, /c/ answers 503 and never redirects anywhere."""
    cascade = " CASCADE" if seeded.engine.dialect.name == "postgresql" else ""
    with live_server(create_app(seeded.config)) as url, httpx.Client(base_url=url) as client:
        with db.transaction(seeded.engine) as conn:
            conn.execute(text(f"DROP TABLE links{cascade}"))
        r = client.get(tracked_path(seeded, HERO, seeded.subscribers[0]))
        assert r.status_code == 503 and "location" not in r.headers
        assert client.get("/o/x").status_code == 200


def test_open_pixel_always_answers_a_gif(seeded: Seeded, server: Any) -> None:
    """/o/ returns a 1×1 GIF with no-store for any token and records only valid opens."""
    _, client = server
    assert f'src="{BASE}/o/%%r%%"' in seeded.html
    token = Signer(SECRET.encode()).recipient(seeded.campaign_id, seeded.subscribers[2])
    for path in ("/o/garbage", f"/o/{token[:-1]}", f"/o/{token}"):
        r = client.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"] == "image/gif"
        assert r.headers["cache-control"] == "no-store"
        assert r.content.startswith(b"GIF89a") and len(r.content) < 100
    assert wait_for(lambda: count_events(seeded.engine, "open") == 1)
    assert events(seeded.engine)[0]["subscriber_id"] == seeded.subscribers[2]


def test_one_click_unsubscribe_is_immediate_and_idempotent(seeded: Seeded, server: Any) -> None:
    """GET shows one button with the org's name; POST unsubscribes once, however often."""
    _, client = server
    sub = seeded.subscribers[0]
    path = f"/u/{Signer(SECRET.encode()).recipient(seeded.campaign_id, sub)}"
    page = client.get(path)
    assert page.status_code == 200
    assert "Example Org &amp; Partners" in page.text
    assert page.text.count("<button") == 1 and '<html lang="en">' in page.text
    assert "<script" not in page.text
    for _ in range(3):
        r = client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert r.status_code == 200 and "unsubscribed" in r.text
    with db.read(seeded.engine) as conn:
        status = conn.execute(
            select(db.subscribers.c.status).where(db.subscribers.c.id == sub)
        ).scalar()
    assert status == "unsubscribed"
    assert count_events(seeded.engine, "unsubscribe") == 1
    assert client.post(path[:-2] + "zz", data={"List-Unsubscribe": "One-Click"}).status_code == 400
    assert client.get("/u/nonsense").status_code == 400


def test_view_in_browser_has_no_personal_data(seeded: Seeded, server: Any) -> None:
    """/v/ serves the issue as sent with tokens neutralised; a bare campaign id is 404."""
    _, client = server
    view_token = Signer(SECRET.encode()).view(seeded.campaign_id)
    assert f"{BASE}/v/{view_token}" in seeded.html
    r = client.get(f"/v/{view_token}")
    assert r.status_code == 200
    assert "%%" not in r.text and "/o/" not in r.text
    assert "Hello friend" in r.text
    assert 'href="/leave"' in r.text
    clicks = re.findall(r'href="https://news\.example\.org(/c/[^"]+)"', r.text)
    assert len(clicks) == 6 and all(c.count("/") == 2 for c in clicks)
    followed = client.get(clicks[0])
    assert followed.status_code == 302 and followed.headers["location"] in seeded.links
    assert "unsubscribe link" in client.get("/leave").text
    assert client.get(f"/v/{seeded.campaign_id}").status_code == 404
    assert client.get(f"/v/{view_token[:-1]}").status_code == 404


def test_view_in_browser_picks_the_language(seeded: Seeded, server: Any) -> None:
    """?lang= picks a stored language; an unknown one falls back to the default language."""
    _, client = server
    with db.transaction(seeded.engine) as conn:
        conn.execute(
            db.campaign_contents.insert().values(
                campaign_id=seeded.campaign_id,
                language="tr",
                subject="Deneme",
                html='<html lang="tr"><body>Merhaba %%first_name%%</body></html>',
                text="",
                merge_fields=[
                    {"token": "%%first_name%%", "field": "first_name", "fallback": "dost"}
                ],
            )
        )
    path = f"/v/{Signer(SECRET.encode()).view(seeded.campaign_id)}"
    assert "Merhaba dost" in client.get(path, params={"lang": "tr"}).text
    assert "Hello friend" in client.get(path, params={"lang": "xx"}).text
    assert "Hello friend" in client.get(path).text
