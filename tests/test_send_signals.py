"""The provider's own events steer the sender: deliveries held `unknown` (the request left, no
answer came) become accepted when SendGrid's signed webhook reports `processed` or `delivered`
for them; spam reports above `[sending] max_complaint_rate` pause a campaign while it sends,
and only the operator resumes it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, select

from faultserver import FaultServer
from mailer import db
from mailer.backends.sendgrid import SendGridBackend
from mailer.config import load_config
from mailer.delivery.campaigns import list_campaigns
from mailer.delivery.send import run_campaign
from mailer.delivery.signals import Signals, verdict
from mailer.web.server import create_app
from support import ROOT
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


ISSUE = "issues/2018-03-iom-turkey.yaml"
TOML = """
name = "Signals test"
postal_address = "IOM Turkey, Birlik Mahallesi, 06610 Ankara, Türkiye"
assets_url = "https://turkey.iom.int/sites/newsletter/assets/"
database_url = "sqlite:///{db}"
default_language = "en"
backend = "sendgrid"
[sender]
from_name = "IOM Turkey"
from_email = "newsletter@example.org"
[sending]
batch_size = 10
concurrency = 1
timeout = 5
max_retries = 0
"""
#: the slow provider: each batch of 10 takes this long to be answered
DELAY = 0.6


def _mailer(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    script = "import sys; from mailer.cli import main; sys.exit(main())"
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _accepted(engine: Engine, cid: int, after: datetime | None = None) -> list[int]:
    """The subscriber ids accepted in campaign *cid* (accepted later than *after* only)."""
    d = db.deliveries
    query = (
        select(d.c.subscriber_id)
        .select_from(db.held.with_batch())
        .where(d.c.campaign_id == cid, db.held.status_of() == "accepted")
    )
    if after is not None:
        query = query.where(db.held.accepted_at_of() > after)
    with db.read(engine) as conn:
        return [int(r[0]) for r in conn.execute(query)]


def _campaign_row(engine: Engine, cid: int) -> dict[str, object]:
    with db.read(engine) as conn:
        row = conn.execute(select(db.campaigns).where(db.campaigns.c.id == cid)).mappings().one()
    return dict(row)


def test_spam_reports_pause_a_sending_campaign_and_the_operator_resumes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spam reports posted to the signed webhook while `mailer send` runs against a slow
    provider pause the campaign within one batch, with the reason in `mailer campaigns`;
    `mailer send` without --yes refuses naming it, with --yes resumes and finishes, and
    nobody gets the issue twice."""
    key = ec.generate_private_key(ec.SECP256R1())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILER_DATABASE_URL", raising=False)
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.setenv("MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY", public_b64(key))
    (tmp_path / "mailer.toml").write_text(TOML.format(db=tmp_path / "mailer.db"))
    shutil.copytree(ROOT / "issues", tmp_path / "issues")
    config = load_config(tmp_path / "mailer.toml")
    engine = db.connect(config.database_url)
    seed(engine, 120)  # small list: the sample floor is half of it (60 accepted)
    from mailer.delivery.send import create_campaign, store_contents
    from test_send import rendered

    cid = create_campaign(engine, config, ISSUE, "partners")
    store_contents(engine, config, cid, [rendered("en")])
    env = {k: v for k, v in os.environ.items() if k != "MAILER_DATABASE_URL"}
    with FaultServer(delay=DELAY) as server:
        env.update(SENDGRID_API_KEY=KEY, MAILER_SENDGRID_HOST=server.url)
        sender = _mailer(["send", ISSUE, "--list", "partners", "--yes"], env, tmp_path)
        try:
            deadline = time.monotonic() + 60
            while len(_accepted(engine, cid)) < 60 and time.monotonic() < deadline:
                time.sleep(0.05)
            got = _accepted(engine, cid)
            assert len(got) >= 60, "the send should be under way"
            events = [
                {
                    "event": "spamreport",
                    "email": "someone@example.com",
                    "sg_event_id": f"spam-{sid}",
                    "timestamp": int(time.time()),
                    "campaign_id": str(cid),
                    "subscriber_id": str(sid),
                }
                for sid in got[:3]
            ]
            body = json.dumps(events).encode()
            with live_server(create_app(config)) as url, httpx.Client(base_url=url) as client:
                answer = client.post("/webhooks/sendgrid", content=body, headers=signed(key, body))
                recorded = db.utcnow()
            assert answer.status_code == 200, answer.text
            out, err = sender.communicate(timeout=60)
        finally:
            if sender.poll() is None:
                sender.kill()
        assert sender.returncode == 1, out + err
        row = _campaign_row(engine, cid)
        assert row["status"] == "paused" and row["paused_by"] == "signals"
        assert "spam complaints: 3 of" in str(row["error"]), row["error"]
        assert "spam complaints: 3 of" in err  # the summary names the reason
        after = len(_accepted(engine, cid, recorded))
        assert after <= 10, "at most the batch in flight when the reports came is accepted after"
        paused_at = len(_accepted(engine, cid))
        assert paused_at < 120

        listed = _mailer(["campaigns"], env, tmp_path)
        shown, _ = listed.communicate(timeout=60)
        assert "paused on bad signals: spam complaints: 3 of" in shown

        refused = _mailer(["send", ISSUE, "--list", "partners"], env, tmp_path)
        _, why = refused.communicate(timeout=60)
        assert refused.returncode == 1
        assert "spam complaints: 3 of" in why and "--yes" in why and "Traceback" not in why
        assert len(_accepted(engine, cid)) == paused_at  # nothing sent without the word

        resumed = _mailer(["send", ISSUE, "--list", "partners", "--yes"], env, tmp_path)
        out, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, out + err
        assert "This campaign was paused on bad signals: spam complaints: 3 of" in err
    row = _campaign_row(engine, cid)
    assert row["status"] == "sent" and row["paused_by"] is None and row["signals_since"]
    assert len(_accepted(engine, cid)) == 120
    counts = Counter(server.accepted)
    assert len(counts) == 120 and max(counts.values()) == 1  # nobody twice


def test_the_pause_rule_needs_a_sample_and_two_complaints() -> None:
    """One complaint never pauses; two pause once enough was accepted (half a small list,
    at most 1,000), and bounces pause above max_bounce_rate with at least five."""
    sending = make_config(Path(".")).settings.sending
    assert verdict(Signals(5000, 1, 0), sending, 100_000) is None  # one is noise
    assert verdict(Signals(999, 2, 0), sending, 100_000) is None  # sample too small
    assert "spam complaints: 2 of 1000" in str(verdict(Signals(1000, 2, 0), sending, 100_000))
    assert verdict(Signals(3000, 2, 0), sending, 100_000) is None  # 0.07% < 0.1%
    assert "spam complaints: 2 of 150" in str(verdict(Signals(150, 2, 0), sending, 300))
    assert verdict(Signals(149, 2, 0), sending, 300) is None
    assert verdict(Signals(1000, 0, 50), sending, 100_000) is None  # 5% is not over 5%
    assert "bounces: 51 of 1000" in str(verdict(Signals(1000, 0, 51), sending, 100_000))
    assert verdict(Signals(60, 0, 4), sending, 120) is None  # under five bounces
