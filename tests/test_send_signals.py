"""The provider's own events settle the sender's doubts: deliveries held `unknown` (the request
left, no answer came) become accepted when SendGrid's signed webhook reports `processed` or
`delivered` for them, at the next resume and in `mailer campaigns`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine

from faultserver import FaultServer
from mailer import db
from mailer.backends.sendgrid import SendGridBackend
from mailer.delivery.campaigns import list_campaigns
from mailer.delivery.send import run_campaign
from mailer.web.server import create_app
from test_send import SECRET, campaign, make_config, seed
from test_webhook import public_b64, signed
from tracking_helpers import live_server

KEY = "SG.signals-test-key.0123456789"


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'mailer.db'}"
    monkeypatch.setenv("MAILER_DATABASE_URL", url)
    yield db.connect(url)
    db.dispose_all()


def test_unknown_deliveries_become_accepted_from_processed_events(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch held unknown after a hang: `processed` events posted to the real webhook for
    6 of its 10 recipients make those 6 accepted (in `mailer campaigns` and at resume); the
    other 4 stay unknown for the operator, and a resume sends nobody again."""
    key = ec.generate_private_key(ec.SECP256R1())
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.setenv("MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY", public_b64(key))
    config = make_config(tmp_path, sending={"concurrency": 1, "batch_size": 10})
    ids = seed(engine, 20)
    cid = campaign(engine, config)
    with FaultServer(["ok", "hang"], hang_seconds=1.5) as server:
        backend = SendGridBackend(KEY, server.url, timeout=0.6, max_retries=0)
        first = run_campaign(engine, config, cid, backend=backend)
        assert first.status == "paused" and first.unknown == 10
        held = sorted(ids)[10:]
        events = [
            {
                "event": "processed",
                "email": f"user{i:05d}@example.com",
                "sg_event_id": f"proc-{sid}",
                "timestamp": 1_700_000_000,
                "campaign_id": str(cid),
                "subscriber_id": str(sid),
            }
            for i, sid in enumerate(held[:6], start=10)
        ]
        body = json.dumps(events).encode()
        with live_server(create_app(config)) as url, httpx.Client(base_url=url) as client:
            answer = client.post("/webhooks/sendgrid", content=body, headers=signed(key, body))
        assert answer.status_code == 200, answer.text
        (row,) = list_campaigns(engine, cid)
        assert row["accepted"] == 16 and row["unknown"] == 4
        again = run_campaign(engine, config, cid, backend=backend)
    assert again.status == "paused" and again.accepted == 16 and again.unknown == 4
    assert len(server.accepted) == 10  # nobody sent again
