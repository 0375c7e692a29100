"""The SendGrid backend against SendGrid's own contract (Prism) and a fault-injecting server."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from faultserver import FaultServer
from mailer import db
from mailer.backends.base import Batch
from mailer.backends.sendgrid import SendGridBackend, retry_delay
from mailer.delivery.campaigns import campaign_result
from mailer.delivery.send import run_campaign
from mailer.errors import ProviderRejected
from prism import prism_url  # noqa: F401  (session fixture)
from test_send import SECRET, campaign, make_config, seed

KEY = "SG.test-key-that-must-never-leak.0123456789"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return db.connect(f"sqlite:///{tmp_path / 'mailer.db'}")


def test_prism_accepts_every_request(
    engine: Engine,
    tmp_path: Path,
    prism_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """2,500 recipients go in 3 requests SendGrid's contract accepts; the key is never logged."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    config = make_config(
        tmp_path, tracking={"base_url": "https://news.example.org"}, sending={"batch_size": 1000}
    )
    seed(engine, 2500)
    cid = campaign(engine, config)
    backend = SendGridBackend(KEY, prism_url, timeout=30, max_retries=0)
    payloads: list[dict[str, Any]] = []
    original = SendGridBackend.payload_json

    def spy(self: SendGridBackend, batch: Batch) -> bytes:
        text = original(self, batch)
        assert json.loads(text) == json.loads(json.dumps(self.payload(batch)))
        payloads.append(json.loads(text))
        return text

    monkeypatch.setattr(SendGridBackend, "payload_json", spy)
    result = run_campaign(engine, config, cid, backend=backend)
    assert result.status == "sent" and result.accepted == 2500
    assert backend.requests == 3
    payloads.sort(key=lambda p: -len(p["personalizations"]))  # batches fly together
    assert [len(p["personalizations"]) for p in payloads] == [1000, 1000, 500]
    body = payloads[0]
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["categories"] == ["2018-03-iom-turkey"]
    assert body["from"] == {"email": "newsletter@example.org", "name": "IOM Turkey"}
    p = body["personalizations"][1]
    assert p["custom_args"] == {
        "campaign_id": str(cid),
        "subscriber_id": p["custom_args"]["subscriber_id"],
    }
    assert all(isinstance(v, str) for v in p["custom_args"].values())
    assert p["headers"]["List-Unsubscribe"].startswith("<https://news.example.org/u/")
    assert p["headers"]["List-Unsubscribe"].endswith(
        ", <mailto:unsubscribe@example.org?subject=unsubscribe>"
    )
    assert p["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert set(p["substitutions"]) == {"%%first_name%%", "%%city%%", "%%unsubscribe_url%%"}
    assert KEY not in caplog.text and "test-key-that" not in caplog.text


def test_prism_rejects_an_invalid_request_with_reasons(
    engine: Engine,
    tmp_path: Path,
    prism_url: str,  # noqa: F811
) -> None:
    """A request the real API would refuse stops the campaign as failed with Prism's reasons."""
    config = make_config(tmp_path, sending={"batch_size": 1000})
    seed(engine, 3)
    with db.transaction(engine) as conn:
        sid = conn.execute(
            db.subscribers.insert().values(email="not an address", email_key="not an address")
        ).inserted_primary_key[0]
        conn.execute(db.memberships.insert().values(list_id=1, subscriber_id=sid))
    cid = campaign(engine, config)
    backend = SendGridBackend(KEY, prism_url, timeout=30, max_retries=0)
    with pytest.raises(ProviderRejected) as info:
        run_campaign(engine, config, cid, backend=backend)
    assert info.value.reasons, "Prism's sl-violations should be reported"
    assert any("email" in r for r in info.value.reasons)
    result = campaign_result(engine, cid)
    assert result.status == "failed" and result.accepted == 0 and result.failed == 4
    assert "400" in (result.error or "") and "email" in (result.error or "")
    assert KEY not in (result.error or "")


def test_faults_end_with_everyone_accepted_exactly_once(engine: Engine, tmp_path: Path) -> None:
    """429, 500, 503 and a dropped connection are retried; a hang is held unknown until retried."""
    config = make_config(
        tmp_path, sending={"concurrency": 1}
    )  # the script is one request after another
    seed(engine, 60)
    cid = campaign(engine, config)
    script = ["429", "500", "503", "drop", "ok", "hang"]
    with FaultServer(script, hang_seconds=2.0) as server:
        backend = SendGridBackend(KEY, server.url, timeout=0.5, max_retries=6, max_backoff=0.05)
        started = time.monotonic()
        result = run_campaign(engine, config, cid, backend=backend)
        assert time.monotonic() - started < 10
        assert result.status == "paused" and result.accepted == 50 and result.unknown == 10
        assert len(server.accepted) == 50 == len(set(server.accepted))
        assert sorted(server.hung) == [f"user{i:05d}@example.com" for i in range(10, 20)]
        assert server.actions[:6] == script
        again = run_campaign(engine, config, cid, backend=backend)  # no word: still held
        assert again.unknown == 10 and len(server.accepted) == 50
        final = run_campaign(engine, config, cid, backend=backend, retry_unknown=True)
    assert final.status == "sent" and final.accepted == 60 and final.unknown == 0
    assert sorted(server.accepted) == [f"user{i:05d}@example.com" for i in range(60)]
    assert {a["campaign_id"] for a in server.custom_args} == {str(cid)}


def test_retries_run_out_then_pause_and_resume(engine: Engine, tmp_path: Path) -> None:
    """When the provider keeps failing, retries are bounded and the campaign pauses intact."""
    config = make_config(tmp_path, sending={"max_consecutive_failures": 2, "concurrency": 1})
    seed(engine, 15)
    cid = campaign(engine, config)
    with FaultServer(["503"] * 6) as server:
        backend = SendGridBackend(KEY, server.url, timeout=2, max_retries=2, max_backoff=0.01)
        result = run_campaign(engine, config, cid, backend=backend)
        assert result.status == "paused" and "2 failed batches in a row" in (result.error or "")
        assert "503" in (result.error or "") and server.accepted == []
        assert len(server.actions) == 6  # 2 batches x (1 + 2 retries), bounded
        result = run_campaign(engine, config, cid, backend=backend)
    assert result.status == "sent" and sorted(server.accepted) == sorted(set(server.accepted))
    assert len(server.accepted) == 15


def test_retry_delay_honours_the_server() -> None:
    """Retry-After and X-RateLimit-Reset set the wait (capped); otherwise jittered back-off."""
    now = 1_000_000.0
    assert retry_delay({"Retry-After": "2"}, 1, 60, now) == 2.0
    assert retry_delay({"X-RateLimit-Reset": str(int(now) + 5)}, 1, 60, now) == 5.0
    assert retry_delay({"X-RateLimit-Reset": str(int(now) + 500)}, 1, 60, now) == 60.0
    delays = {retry_delay(None, 3, 60, now) for _ in range(20)}
    assert all(0.5 <= d <= 1.0 for d in delays) and len(delays) > 1


def test_an_answer_cut_short_is_held_unknown(engine: Engine, tmp_path: Path) -> None:
    """A response cut off after the request arrived is ambiguous: held unknown, not retried."""
    config = make_config(tmp_path)
    seed(engine, 20)
    cid = campaign(engine, config)
    with FaultServer(["garble"]) as server:
        backend = SendGridBackend(KEY, server.url, timeout=2, max_retries=3, max_backoff=0.01)
        result = run_campaign(engine, config, cid, backend=backend)
    assert result.unknown == 10 and result.accepted == 10 and result.status == "paused"
    assert len(server.actions) == 2 and len(server.hung) == 10
    assert not set(server.hung) & set(server.accepted)
