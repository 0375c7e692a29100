"""Hostile and odd input at ``mailer serve`` (issue 11, points 7, 10 and 12), on a real
uvicorn server on 127.0.0.1: non-ASCII link targets, oversized or malformed SendGrid
webhook posts, and click events while SQLite stays locked past its busy timeout."""

from __future__ import annotations

import json
import re
import select
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import event
from sqlalchemy import select as sql_select

from mailer import db
from mailer.rendered import Link
from mailer.tracking import rewrite as tracking
from mailer.tracking.rewrite import iri_to_uri
from mailer.web.server import create_app
from test_webhook import signed, webhook_server
from tracking_helpers import (
    BASE,
    SECRET,
    Seeded,
    count_events,
    live_server,
    raw_get,
    rendered,
    seed,
    wait_for,
)
from tracking_helpers import write_config as make_config

TURKISH = "https://example.org/haber/gaziantep-şehri?q=ç"
TURKISH_URI = "https://example.org/haber/gaziantep-%C5%9Fehri?q=%C3%A7"
ARABIC = "https://مثال.example/ar/أخبار/مقالة?بحث=نعم#القسم"
ARABIC_URI = (
    "https://xn--mgbh0fb.example/ar/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/%D9%85%D9%82%D8%A7%D9%84%D8%A9"
    "?%D8%A8%D8%AD%D8%AB=%D9%86%D8%B9%D9%85#%D8%A7%D9%84%D9%82%D8%B3%D9%85"
)


# -- point 7: non-ASCII link targets ------------------------------------------------


def test_iri_to_uri_encodes_once_and_keeps_uris() -> None:
    """Non-ASCII host, path, query and fragment become a URI; URIs and %XX are kept."""
    assert iri_to_uri(TURKISH) == TURKISH_URI
    assert iri_to_uri(ARABIC) == ARABIC_URI
    assert iri_to_uri(TURKISH_URI) == TURKISH_URI  # applying it twice changes nothing
    assert iri_to_uri("https://a.org/x%C3%A7 y?u=%2F%zz") == "https://a.org/x%C3%A7%20y?u=%2F%25zz"
    assert iri_to_uri("https://bücher.de:8080/ü") == "https://xn--bcher-kva.de:8080/%C3%BC"
    for uri in (
        "https://example.org/story-1?utm_content=hero&utm_source=newsletter",
        "mailto:?subject=Story&body=https%3A%2F%2Fexample.org%2Fs1",
    ):
        assert iri_to_uri(uri) == uri


@pytest.fixture
def iri_campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    """A seeded campaign tracked through BASE (SQLite)."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.setenv("MAILER_EVENTS_FLUSH_SECONDS", "0.01")
    return seed(make_config(tmp_path, f"sqlite:///{tmp_path / 'm.db'}", base_url=BASE))


def test_non_ascii_targets_are_stored_as_uris_and_redirect(iri_campaign: Seeded) -> None:
    """Turkish and Arabic link targets are stored percent-encoded and /c/ 302s to them."""
    s = iri_campaign
    links = (Link(TURKISH, "hero", "read_more"), Link(ARABIC, "grid-1", "read_more"))
    with db.transaction(s.engine) as conn:
        prepared = tracking.prepare(conn, s.campaign_id, rendered(links, "tr"), s.config)
        stored = conn.execute(
            sql_select(db.links.c.url).where(db.links.c.language == "tr").order_by(db.links.c.id)
        ).scalars()
        assert list(stored) == [TURKISH_URI, ARABIC_URI]
    paths = re.findall(r'href="https://news\.example\.org(/c/[^"]+)"', prepared.html)
    assert len(paths) == 2
    with live_server(create_app(s.config)) as url:
        for path, expected in zip(paths, (TURKISH_URI, ARABIC_URI), strict=True):
            status, location = raw_get(url, path.replace("%%r%%", _recipient(s)))
            assert (status, location) == (302, expected)
        assert wait_for(lambda: count_events(s.engine, "click") == 2)
    db.dispose_all()


def test_rows_stored_unencoded_are_encoded_on_the_way_out(iri_campaign: Seeded) -> None:
    """A link row written raw by an older mailer still redirects, to its URI."""
    s = iri_campaign
    with db.transaction(s.engine) as conn:
        link_id = conn.execute(
            db.links.insert().values(
                campaign_id=s.campaign_id, url=TURKISH, block="hero", kind="read_more"
            )
        ).inserted_primary_key[0]
    token = tracking.signer(s.config).link(s.campaign_id, int(link_id))
    with live_server(create_app(s.config)) as url:
        assert raw_get(url, f"/c/{token}/{_recipient(s)}") == (302, TURKISH_URI)
        r = httpx.get(f"{url}/c/{token}")
        assert (r.status_code, r.headers["location"]) == (302, TURKISH_URI)
    db.dispose_all()


def _recipient(s: Seeded) -> str:
    return tracking.signer(s.config).recipient(s.campaign_id, s.subscribers[0])


# -- point 10: the SendGrid webhook ------------------------------------------------


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 key pair for this test."""
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def hook(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, key: ec.EllipticCurvePrivateKey
) -> Iterator[tuple[Seeded, str]]:
    """A seeded campaign, the webhook key configured, a live server's base URL."""
    monkeypatch.setenv("MAILER_WEBHOOK_MAX_BYTES", str(64 * 1024))
    with webhook_server(tmp_path, db_url, monkeypatch, key) as served:
        yield served


def raw_post(
    base: str, headers: dict[str, str], chunks: Iterable[bytes], *, chunked: bool = False
) -> tuple[int | None, int]:
    """POST /webhooks/sendgrid on a raw socket, sending *chunks* only while the server has
    not answered; (status or None when no answer came within 5 s, body bytes sent)."""
    netloc = urlsplit(base).netloc
    host, port = netloc.split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    lines = ["POST /webhooks/sendgrid HTTP/1.1", f"Host: {netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    sent = 0
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        for chunk in chunks:
            if select.select([sock], [], [], 0.05)[0]:
                break  # the server answered: stop sending
            data = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        answer = b""
        try:
            while b"\r\n" not in answer:
                more = sock.recv(4096)
                if not more:
                    break
                answer += more
        except (TimeoutError, ConnectionResetError):
            pass
    finally:
        sock.close()
    match = re.match(rb"HTTP/1\.1 (\d{3})", answer)
    return (int(match.group(1)) if match else None), sent


def test_a_large_unsigned_post_is_refused_unread(hook: tuple[Seeded, str]) -> None:
    """500 MB announced without signature headers: 401 before 2 MiB of it were sent."""
    s, url = hook
    chunks = (b"[" + b" " * (64 * 1024 - 1) for _ in range(32))
    status, sent = raw_post(url, {"Content-Length": str(500 * 1024 * 1024)}, chunks)
    assert status == 401
    assert sent < 2 * 1024 * 1024
    assert count_events(s.engine) == 0


def test_a_body_over_the_cap_is_refused_with_413(
    hook: tuple[Seeded, str], key: ec.EllipticCurvePrivateKey
) -> None:
    """Signed headers but a body over the cap: 413 at once for a Content-Length, and after
    about the cap for a chunked stream; nothing is recorded."""
    s, url = hook
    headers = signed(key, b"[]")
    announced = {**headers, "Content-Length": str(10 * 1024 * 1024)}
    status, sent = raw_post(url, announced, (b" " * 65536 for _ in range(32)))
    assert (status, sent < 1024 * 1024) == (413, True)
    status, sent = raw_post(url, headers, (b" " * 16384 for _ in range(64)), chunked=True)
    assert status == 413
    assert sent < 512 * 1024  # the cap is 64 KiB: the server stopped reading near it
    r = httpx.post(f"{url}/webhooks/sendgrid", content=b"[]", headers=signed(key, b"[]"))
    assert r.status_code == 200  # a small signed body still goes through
    assert count_events(s.engine) == 0


def test_malformed_signature_headers_are_refused_before_the_body(
    hook: tuple[Seeded, str], key: ec.EllipticCurvePrivateKey
) -> None:
    """A non-numeric timestamp or a signature that is no base64: 403 without the body."""
    s, url = hook
    good = signed(key, b"[]")
    for bad in (
        {**good, "X-Twilio-Email-Event-Webhook-Timestamp": "9" * 40},
        {**good, "X-Twilio-Email-Event-Webhook-Signature": "<script>" * 10},
    ):
        status, sent = raw_post(url, {**bad, "Content-Length": str(10**9)}, [b" " * 65536] * 4)
        assert (status, sent) == (403, 0)
    assert count_events(s.engine) == 0


def _odd_batch(s: Seeded) -> tuple[list[Any], int]:
    """Good events mixed with odd ones; (batch, how many odd)."""
    cid, sub = str(s.campaign_id), str(s.subscribers[0])
    now = int(time.time())

    def ev(n: int, **fields: Any) -> dict[str, Any]:
        base = {
            "email": "reader0@example.net",
            "timestamp": now,
            "event": "open",
            "sg_event_id": f"odd-{n}",
            "campaign_id": cid,
            "subscriber_id": sub,
        }
        return {**base, **fields}

    odd = [
        ev(1, event=["open"]),
        ev(2, event=7),
        ev(3, sg_event_id=12345),
        ev(4, campaign_id=str(2**64)),
        ev(5, subscriber_id=2**63),
        ev(6, timestamp=2**63),
        ev(7, timestamp=10**30),
        ev(8, timestamp="soon"),
        ev(9, email=None, subscriber_id=None),
        ev(10, email={"a": 1}),
        ev(11, url=["x"], event="click"),
        "open",
        ["open"],
        None,
        17,
    ]
    good = [
        ev(20, event="delivered"),
        ev(21, event="open", useragent="Mozilla/5.0"),
        ev(22, event="click", url="https://example.org/story-2?utm_content=grid-1"),
        ev(23, event="bounce", subscriber_id=str(s.subscribers[1]), email="reader1@example.net"),
    ]
    batch: list[Any] = []
    for i, item in enumerate(odd):  # good events between the odd ones
        batch.append(item)
        if i % 4 == 0 and good:
            batch.append(good.pop(0))
    return batch + good, len(odd)


def test_odd_events_are_skipped_one_by_one_and_the_rest_recorded(
    hook: tuple[Seeded, str], key: ec.EllipticCurvePrivateKey
) -> None:
    """A signed batch with odd values records its four good events and says it skipped
    the odd ones; a replay records nothing twice."""
    s, url = hook
    events, n_odd = _odd_batch(s)
    body = json.dumps(events).encode()
    for _ in range(2):
        r = httpx.post(f"{url}/webhooks/sendgrid", content=body, headers=signed(key, body))
        assert r.status_code == 200
        assert f"{n_odd} skipped" in r.text
    with db.read(s.engine) as conn:
        rows = conn.execute(
            sql_select(db.events.c.provider_event_id, db.events.c.type).order_by(db.events.c.id)
        ).all()
        status = conn.execute(
            sql_select(db.subscribers.c.status).where(db.subscribers.c.id == s.subscribers[1])
        ).scalar()
    assert [tuple(r) for r in rows] == [
        ("odd-20", "delivered"),
        ("odd-21", "open"),
        ("odd-22", "click"),
        ("odd-23", "bounce"),
    ]
    assert status == "bounced"


def test_deeply_nested_json_is_a_400(
    hook: tuple[Seeded, str], key: ec.EllipticCurvePrivateKey
) -> None:
    """A signed body nested beyond the JSON parser's depth is refused as not JSON (400)."""
    s, url = hook
    body = b"[" * 30000 + b"]" * 30000
    r = httpx.post(f"{url}/webhooks/sendgrid", content=body, headers=signed(key, body))
    assert (r.status_code, r.text) == (400, "body is not JSON")
    assert count_events(s.engine) == 0


# -- point 12: clicks while SQLite stays locked ----------------------------------------


def test_clicks_during_a_long_lock_are_all_recorded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection holds BEGIN EXCLUSIVE well past the busy timeout while clicks
    come in: every redirect answers at once and, once the lock is released, every click
    is in the events table exactly once."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.setenv("MAILER_EVENTS_FLUSH_SECONDS", "0.01")
    monkeypatch.setenv("MAILER_EVENTS_BUSY_TIMEOUT_SECONDS", "0.2")
    path = tmp_path / "m.db"
    s = seed(make_config(tmp_path, f"sqlite:///{path}", base_url=BASE))

    @event.listens_for(s.engine, "connect")
    def short_busy_timeout(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=200")  # the lock outlasts it many times

    s.engine.dispose()
    hero = next(u for u in s.links if "story-1" in u)
    path_c = re.search(rf'href="{re.escape(BASE)}(/c/[^"/]+)/%%r%%"', s.html)
    assert path_c is not None
    sign = tracking.signer(s.config)
    agents = [f"Mozilla/5.0 reader-{i}" for i in range(24)]
    with live_server(create_app(s.config)) as url, httpx.Client(base_url=url) as client:
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            started = time.monotonic()
            for i, agent in enumerate(agents):
                recipient = sign.recipient(s.campaign_id, s.subscribers[i % 3])
                t0 = time.monotonic()
                r = client.get(f"{path_c.group(1)}/{recipient}", headers={"user-agent": agent})
                assert (r.status_code, r.headers["location"]) == (302, hero)
                assert time.monotonic() - t0 < 1.0  # answered at once
                time.sleep(0.05)
            assert time.monotonic() - started < 2.5  # every click came while locked
            time.sleep(max(0.0, 2.0 - (time.monotonic() - started)))  # 10 busy timeouts
            assert count_events(s.engine) == 0
            locker.execute("COMMIT")
        finally:
            if locker.in_transaction:
                locker.execute("ROLLBACK")
            locker.close()
        assert wait_for(lambda: count_events(s.engine, "click") >= len(agents), timeout=20)
        time.sleep(0.3)
    with db.read(s.engine) as conn:
        got = conn.execute(
            sql_select(db.events.c.user_agent).where(db.events.c.type == "click")
        ).scalars()
        assert sorted(got) == sorted(agents)
    db.dispose_all()
