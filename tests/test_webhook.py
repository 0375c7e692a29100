"""SendGrid's Event Webhook on a real server: ECDSA P-256 keys made in the test, signed
as SendGrid signs (``timestamp + payload``, SHA-256), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from mailer import db
from mailer.stats import issue_stats
from mailer.web.server import create_app
from mailer.web.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, attribution
from tracking_helpers import SECRET, Seeded, count_events, live_server, seed
from tracking_helpers import write_config as make_config


def public_b64(key: ec.EllipticCurvePrivateKey) -> str:
    """The base64 DER public key, as SendGrid shows it."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def signed(
    key: ec.EllipticCurvePrivateKey, body: bytes, stamp: int | None = None
) -> dict[str, str]:
    """The two headers SendGrid sends with *body*."""
    ts = str(stamp if stamp is not None else int(time.time()))
    signature = key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: ts}


@contextmanager
def webhook_server(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, key: ec.EllipticCurvePrivateKey
) -> Iterator[tuple[Seeded, str]]:
    """A seeded campaign and `mailer serve` live with *key*'s public half as the SendGrid
    webhook key; yields (the seeded data, the server's base URL)."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.setenv("MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY", public_b64(key))
    s = seed(make_config(tmp_path, db_url))
    with live_server(create_app(s.config)) as url:
        yield s, url


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 key pair for this test."""
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def setup(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, key: ec.EllipticCurvePrivateKey
) -> Iterator[tuple[Seeded, httpx.Client]]:
    """A seeded campaign (SendGrid's own click tracking: no base_url) and a live server."""
    with (
        webhook_server(tmp_path, db_url, monkeypatch, key) as (s, url),
        httpx.Client(base_url=url) as client,
    ):
        yield s, client


def batch(s: Seeded) -> list[dict[str, Any]]:
    """A realistic batch: each event type once, with custom_args as SendGrid flattens them."""
    cid, (a, b, c) = str(s.campaign_id), [str(x) for x in s.subscribers]
    now = int(time.time())
    share = next(u for u in s.links if "twitter" in u)

    def ev(n: int, event: str, sub: str, **extra: Any) -> dict[str, Any]:
        return {
            "email": f"reader{int(sub) - int(s.subscribers[0])}@example.net",
            "timestamp": now,
            "event": event,
            "sg_event_id": f"evt-{n}",
            "sg_message_id": f"msg-{sub}",
            "campaign_id": cid,
            "subscriber_id": sub,
            **extra,
        }

    return [
        ev(1, "processed", a),
        ev(2, "delivered", a),
        ev(3, "open", a, useragent="Mozilla/5.0"),
        ev(
            4,
            "click",
            a,
            url="https://example.org/unknown?utm_content=grid-7&utm_source=newsletter",
        ),
        ev(5, "click", a, url=share),
        ev(
            6,
            "click",
            a,
            url="https://example.org/x?utm_content=hero&utm_source=whatsapp&utm_medium=social",
        ),
        ev(7, "bounce", b, reason="550 no such user", type="bounce"),
        ev(8, "spamreport", c),
    ]


def statuses(s: Seeded) -> list[str]:
    with db.read(s.engine) as conn:
        rows = conn.execute(select(db.subscribers.c.status).order_by(db.subscribers.c.id))
        return [r[0] for r in rows]


def test_valid_batch_is_recorded_and_a_replay_is_deduplicated(
    setup: Any, key: ec.EllipticCurvePrivateKey
) -> None:
    """A signed batch records its events once; SendGrid's repeats change nothing."""
    s, client = setup
    body = json.dumps(batch(s)).encode()
    for _ in range(3):
        r = client.post("/webhooks/sendgrid", content=body, headers=signed(key, body))
        assert r.status_code == 200
    # 'processed' is recorded too: it settles deliveries held unknown (delivery.recovery)
    assert count_events(s.engine) == 8
    assert statuses(s) == ["subscribed", "bounced", "complained"]
    with db.read(s.engine) as conn:
        clicks = conn.execute(
            select(db.events.c.link_id, db.events.c.block, db.events.c.kind)
            .where(db.events.c.type == "click")
            .order_by(db.events.c.provider_event_id)
        ).all()
    share = next(u for u in s.links if "twitter" in u)
    assert [tuple(c) for c in clicks] == [
        (None, "grid-7", None),
        (s.links[share], "hero", "share:x"),
        (None, "hero", "share:whatsapp"),
    ]
    # stats work from SendGrid's own events too
    stats = issue_stats(s.engine, "2018-03-test")
    assert (stats.delivered, stats.unique_opens, stats.bounced, stats.complaints) == (1, 1, 1, 1)
    assert {st.block: (st.clicks, st.shares) for st in stats.stories} == {
        "hero": (2, {"x": 1, "whatsapp": 1}),
        "grid-7": (1, {}),
    }


def test_unsubscribe_events_unsubscribe(setup: Any, key: ec.EllipticCurvePrivateKey) -> None:
    """unsubscribe and group_unsubscribe events make the subscriber unsubscribed."""
    s, client = setup
    events = [
        {
            "event": "group_unsubscribe",
            "sg_event_id": "u1",
            "email": "reader0@example.net",
            "timestamp": int(time.time()),
        },
        {
            "event": "unsubscribe",
            "sg_event_id": "u2",
            "subscriber_id": str(s.subscribers[1]),
            "campaign_id": str(s.campaign_id),
            "timestamp": int(time.time()),
        },
    ]
    body = json.dumps(events).encode()
    assert (
        client.post("/webhooks/sendgrid", content=body, headers=signed(key, body)).status_code
        == 200
    )
    assert statuses(s) == ["unsubscribed", "unsubscribed", "subscribed"]
    assert count_events(s.engine, "unsubscribe") == 2


def test_unverified_requests_are_refused_and_record_nothing(
    setup: Any, key: ec.EllipticCurvePrivateKey
) -> None:
    """Missing headers, a bad signature, a wrong key or a stale timestamp: 401/403, no rows."""
    s, client = setup
    body = json.dumps(batch(s)).encode()
    good = signed(key, body)
    other = ec.generate_private_key(ec.SECP256R1())
    attempts = {
        "no headers": {},
        "no timestamp": {SIGNATURE_HEADER: good[SIGNATURE_HEADER]},
        "no signature": {TIMESTAMP_HEADER: good[TIMESTAMP_HEADER]},
        "wrong key": signed(other, body),
        "other body": signed(key, body + b" "),
        "garbage signature": {**good, SIGNATURE_HEADER: "not base64!!"},
        "other timestamp": {**good, TIMESTAMP_HEADER: str(int(good[TIMESTAMP_HEADER]) + 1)},
        "stale": signed(key, body, int(time.time()) - 3600),
        "future": signed(key, body, int(time.time()) + 3600),
    }
    for what, headers in attempts.items():
        r = client.post("/webhooks/sendgrid", content=body, headers=headers)
        assert r.status_code in (401, 403), what
    assert count_events(s.engine) == 0
    assert statuses(s) == ["subscribed"] * 3


def test_without_a_configured_key_everything_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: ec.EllipticCurvePrivateKey
) -> None:
    """No MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY: even a well-signed batch is refused."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.delenv("MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY", raising=False)
    s = seed(make_config(tmp_path, f"sqlite:///{tmp_path / 'm.db'}"))
    body = json.dumps(batch(s)).encode()
    with live_server(create_app(s.config)) as url:
        r = httpx.post(f"{url}/webhooks/sendgrid", content=body, headers=signed(key, body))
    assert r.status_code == 403
    assert count_events(s.engine) == 0
    db.dispose_all()


def test_attribution_from_utm_parameters() -> None:
    """utm_content names the story; utm_source with utm_medium=social names the network."""
    assert attribution("https://a.org/x?utm_content=s1&utm_source=newsletter") == ("s1", None)
    assert attribution("https://a.org/?utm_content=s2&utm_source=linkedin&utm_medium=social") == (
        "s2",
        "share:linkedin",
    )
    assert attribution("https://a.org/plain") == (None, None)
