"""The send ledger with the in-memory backend, on real SQLite and PostgreSQL databases.

Also home of the helpers the other send tests import (``make_config``, ``seed``, ``rendered``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from mailer import db
from mailer.backends import MemoryBackend
from mailer.config import Config, Settings
from mailer.delivery.campaigns import campaign_result
from mailer.delivery.send import create_campaign, run_campaign, send_issue, store_contents
from mailer.errors import ProviderRejected
from mailer.rendered import MergeField, Rendered

SECRET = "test-secret-key-0123456789abcdef"


def make_config(root: Path, **overrides: Any) -> Config:
    """Settings for tests: sample sender, small batches unless told otherwise."""
    data: dict[str, Any] = {
        "name": "Test Newsletter",
        "default_language": "en",
        "languages": ["en", "tr"],
        "sender": {
            "from_name": "IOM Turkey",
            "from_email": "newsletter@example.org",
            "unsubscribe_mailto": "unsubscribe@example.org",
        },
        "sending": {"batch_size": 10, "max_backoff": 0.05, "max_consecutive_failures": 3},
        "outbox_dir": str(root / "outbox"),
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Config(settings=Settings.model_validate(data), path=None, root=root)


def seed(
    engine: Engine,
    n: int,
    list_name: str = "partners",
    *,
    languages: dict[int, str] | None = None,
    domain: str = "example.com",
) -> list[int]:
    """Insert *n* subscribed members of *list_name*; returns their ids."""
    languages = languages or {}
    with db.transaction(engine) as conn:
        list_id = db.get_or_create_list(conn, list_name)
        rows = [
            {
                "email": f"user{i:05d}@{domain}",
                "email_key": f"user{i:05d}@{domain}",
                "name": f"Reader{i} Example" if i % 3 else "",
                "language": languages.get(i),
                "attributes": {"city": "Ankara"} if i % 2 else {},
            }
            for i in range(n)
        ]
        if rows:
            conn.execute(db.subscribers.insert(), rows)
        ids = [
            int(r[0])
            for r in conn.execute(
                select(db.subscribers.c.id)
                .where(db.subscribers.c.email.like(f"%@{domain}"))
                .order_by(db.subscribers.c.id)
            )
        ]
        if ids:
            conn.execute(
                db.memberships.insert(), [{"list_id": list_id, "subscriber_id": i} for i in ids]
            )
    return ids


def rendered(lang: str = "en", slug: str = "2018-03-iom-turkey") -> Rendered:
    """A small Rendered with every kind of token, as build_issue would hand it over."""
    hello = "Merhaba" if lang == "tr" else "Hello"
    html = (
        f'<html lang="{lang}"><body><p>{hello} %%first_name%%, from %%city%%</p>'
        '<a href="https://example.org/story?utm_source=newsletter">Read more</a>'
        '<a href="%%unsubscribe_url%%">Unsubscribe</a></body></html>'
    )
    text = f"{hello} %%first_name%%, from %%city%%\n\nUnsubscribe: %%unsubscribe_url%%\n"
    return Rendered(
        slug=slug,
        language=lang,
        direction="ltr",
        subject=f"{hello}: news from the field",
        preheader="",
        mjml="",
        html=html,
        text=text,
        merge_fields=(
            MergeField("%%first_name%%", "first_name", "friend"),
            MergeField("%%city%%", "city", "Türkiye"),
        ),
    )


def campaign(
    engine: Engine, config: Config, langs: tuple[str, ...] = ("en",), list_name: str = "partners"
) -> int:
    """A campaign with its contents stored (no build needed)."""
    cid = create_campaign(engine, config, "issues/2018-03-iom-turkey.yaml", list_name)
    store_contents(engine, config, cid, [rendered(lang) for lang in langs])
    return cid


def statuses(engine: Engine, cid: int) -> dict[str, int]:
    d = db.deliveries
    with db.read(engine) as conn:
        rows = conn.execute(
            select(d.c.status, func.count()).where(d.c.campaign_id == cid).group_by(d.c.status)
        ).all()
    return {str(k): int(v) for k, v in rows}


def pending_owners(engine: Engine, cid: int) -> list[str | None]:
    """The owner of each of the campaign's ``pending`` batches (None: any runner may take it)."""
    b = db.batches
    with db.read(engine) as conn:
        rows = conn.execute(
            select(b.c.owner).where(b.c.campaign_id == cid, b.c.status == "pending")
        ).all()
    return [owner for (owner,) in rows]


@pytest.fixture
def engine(db_url: str) -> Engine:
    return db.connect(db_url)


# -- tests ---------------------------------------------------------------------------
def test_every_recipient_gets_one_personalised_message(engine: Engine, tmp_path: Path) -> None:
    """A campaign sends each subscribed member once, with merge fields and fallbacks filled."""
    config = make_config(tmp_path)
    seed(engine, 25)
    cid = campaign(engine, config)
    backend = MemoryBackend()
    result = run_campaign(engine, config, cid, backend=backend)
    assert result.status == "sent" and result.accepted == 25 and result.total == 25
    assert sorted(m.to for m in backend.sent) == [f"user{i:05d}@example.com" for i in range(25)]
    assert len(backend.batches) == 3  # 10 + 10 + 5
    by_to = {m.to: m for m in backend.sent}
    assert "Hello Reader1, from Ankara" in by_to["user00001@example.com"].html
    assert "Hello friend, from Türkiye" in by_to["user00000@example.com"].text
    for m in backend.sent:
        assert "%%" not in m.html + m.text + m.subject
        assert (
            m.headers["List-Unsubscribe"] == "<mailto:unsubscribe@example.org?subject=unsubscribe>"
        )
        assert "mailto:unsubscribe@example.org?subject=unsubscribe" in m.html


def test_tracking_base_url_gives_signed_unsubscribe_links(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With tracking.base_url, each recipient gets a signed /u/ link and one-click headers."""
    from mailer.tracking.tokens import Signer

    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    config = make_config(tmp_path, tracking={"base_url": "https://news.example.org/"})
    ids = seed(engine, 3)
    cid = campaign(engine, config)
    backend = MemoryBackend()
    run_campaign(engine, config, cid, backend=backend)
    signer = Signer(SECRET.encode())
    for m in backend.sent:
        token = signer.recipient(cid, m.subscriber_id)
        assert f'href="https://news.example.org/u/{token}"' in m.html
        assert m.headers["List-Unsubscribe"] == (
            f"<https://news.example.org/u/{token}>, "
            "<mailto:unsubscribe@example.org?subject=unsubscribe>"
        )
        assert m.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert signer.verify_recipient(token) == (cid, m.subscriber_id)
    assert sorted(m.subscriber_id for m in backend.sent) == ids


def test_language_routing(engine: Engine, tmp_path: Path) -> None:
    """Subscribers get their language when the issue has it, else the default."""
    config = make_config(tmp_path)
    seed(engine, 6, languages={0: "tr", 1: "TR-tr", 2: "ar", 3: "en"})
    cid = campaign(engine, config, langs=("en", "tr"))
    backend = MemoryBackend()
    result = run_campaign(engine, config, cid, backend=backend)
    langs = {m.to: m.language for m in backend.sent}
    assert langs["user00000@example.com"] == "tr" and langs["user00001@example.com"] == "tr"
    assert langs["user00002@example.com"] == "en"  # no Arabic variant: the default
    assert sum(1 for v in langs.values() if v == "en") == 4
    assert result.by_language == {"en": 4, "tr": 2}
    tr = next(m for m in backend.sent if m.language == "tr")
    assert tr.subject.startswith("Merhaba")


def test_resume_never_requeues_accepted_and_skips_unsubscribed(
    engine: Engine, tmp_path: Path
) -> None:
    """A paused campaign resumes where it stopped; someone who unsubscribed meanwhile is skipped."""
    config = make_config(tmp_path)
    ids = seed(engine, 30)
    cid = campaign(engine, config)
    first = MemoryBackend()
    stops = iter([False, False, True])
    result = run_campaign(engine, config, cid, backend=first, should_stop=lambda: next(stops))
    assert result.status == "sending" and result.accepted == 20
    with db.transaction(engine) as conn:
        conn.execute(
            db.subscribers.update()
            .where(db.subscribers.c.id == ids[25])
            .values(status="unsubscribed")
        )
    second = MemoryBackend()
    result = run_campaign(engine, config, cid, backend=second)
    assert result.status == "sent" and result.accepted == 29
    got = [m.subscriber_id for m in second.sent]
    assert sorted(got) == [i for i in ids[20:] if i != ids[25]]
    assert not set(got) & {m.subscriber_id for m in first.sent}
    # a finished campaign is left alone
    third = MemoryBackend()
    again = run_campaign(engine, config, cid, backend=third)
    assert again.status == "sent" and third.sent == [] and third.opened == 0


def test_pending_batch_is_resent_and_unsubscribed_member_skipped(
    engine: Engine, tmp_path: Path
) -> None:
    """A batch written but never sent is sent on resume, minus whoever unsubscribed since."""
    config = make_config(tmp_path)
    ids = seed(engine, 5)
    cid = campaign(engine, config)
    backend = MemoryBackend()
    backend.fail_next("transient", times=3)  # 3 failures in a row: pause, batch stays pending
    result = run_campaign(engine, config, cid, backend=backend)
    assert result.status == "paused" and "3 failed batches in a row" in (result.error or "")
    assert statuses(engine, cid) == {"pending": 5}
    with db.transaction(engine) as conn:
        conn.execute(
            db.subscribers.update().where(db.subscribers.c.id == ids[0]).values(status="bounced")
        )
    result = run_campaign(engine, config, cid, backend=backend)
    assert result.status == "sent" and result.accepted == 4 and result.skipped == 1
    assert sorted(m.subscriber_id for m in backend.sent) == ids[1:]


def test_unknown_is_held_and_retried_only_on_request(engine: Engine, tmp_path: Path) -> None:
    """A batch with no answer is held unknown, reported, and re-sent only with retry_unknown."""
    config = make_config(tmp_path)
    seed(engine, 25)
    cid = campaign(engine, config)
    backend = MemoryBackend()
    backend.fail_next("unknown")
    result = run_campaign(engine, config, cid, backend=backend)
    assert result.status == "paused" and result.unknown == 10 and result.accepted == 15
    assert "--retry-unknown" in (result.error or "")
    result = run_campaign(engine, config, cid, backend=backend)
    assert result.unknown == 10 and len(backend.sent) == 15  # not re-sent without the word
    result = run_campaign(engine, config, cid, backend=backend, retry_unknown=True)
    assert result.status == "sent" and result.accepted == 25 and result.unknown == 0
    assert len({m.to for m in backend.sent}) == 25 == len(backend.sent)


def test_rejected_request_fails_the_campaign(engine: Engine, tmp_path: Path) -> None:
    """A provider rejection stops the campaign as failed, with the provider's reasons."""
    config = make_config(tmp_path)
    seed(engine, 25)
    cid = campaign(engine, config)
    backend = MemoryBackend()
    backend.fail_next("reject")
    with pytest.raises(ProviderRejected, match="rejected"):
        run_campaign(engine, config, cid, backend=backend)
    result = campaign_result(engine, cid)
    assert result.status == "failed" and result.failed == 10 and backend.sent == []
    assert "rejected on purpose" in (result.error or "")


def test_send_issue_resumes_the_same_campaign(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """send_issue picks up the unfinished campaign of that issue and list instead of a new one."""
    config = make_config(tmp_path)
    seed(engine, 12)
    cid = campaign(engine, config)
    backend = MemoryBackend()
    backend.fail_next("transient", times=3)
    issue = "issues/2018-03-iom-turkey.yaml"
    first = send_issue(engine, config, issue, "partners", backend=backend)
    assert first.campaign_id == cid and first.status == "paused"
    second = send_issue(engine, config, issue, "partners", backend=backend)
    assert second.campaign_id == cid and second.status == "sent" and second.accepted == 12
    third = send_issue(engine, config, issue, "partners", backend=backend)
    assert third.already_sent and len(backend.sent) == 12
    with db.read(engine) as conn:
        assert conn.execute(select(func.count()).select_from(db.campaigns)).scalar() == 1


def test_outbox_in_flight_message_is_probed(engine: Engine, tmp_path: Path) -> None:
    """After a crash mid-batch the outbox's in-flight message counts as sent if its file exists."""
    from mailer.backends.outbox import OutboxBackend

    config = make_config(tmp_path)
    ids = seed(engine, 4)
    cid = campaign(engine, config)
    backend = OutboxBackend(tmp_path / "outbox")
    b, d = db.batches, db.deliveries
    from mailer.delivery.ledger import Ledger
    from mailer.delivery.recipients import load_contents

    with db.read(engine) as conn:
        row = conn.execute(select(db.campaigns).where(db.campaigns.c.id == cid)).mappings().one()
    ledger = Ledger(engine, config, row, backend, load_contents(engine, cid))
    batch = ledger.next_new()
    assert batch is not None
    backend.open()
    # simulate a crash: the batch went in flight, the first file was written, nothing recorded
    with db.transaction(engine) as conn:
        conn.execute(b.update().where(b.c.id == batch.batch_id).values(status="sending"))
    backend.send(
        type(batch)(**{**batch.__dict__, "recipients": batch.recipients[:1]}),
        lambda *a: None,
    )
    stale = tmp_path / "outbox" / str(cid) / ".0000009-x@example.com.eml.999999999.tmp"
    stale.write_bytes(b"half a message")  # left by a process that died mid-write
    result = run_campaign(engine, config, cid, backend=backend)
    assert result.status == "sent" and result.accepted == 4
    assert not stale.exists()
    files = sorted(p.name for p in (tmp_path / "outbox" / str(cid)).glob("*.eml"))
    assert files == [f"{i:07d}-user{n:05d}@example.com.eml" for n, i in enumerate(ids)]
    assert not list((tmp_path / "outbox").rglob("*.tmp"))
    with db.read(engine) as conn:
        assert conn.execute(select(func.count()).where(d.c.status == "accepted")).scalar() == 4


def test_send_issue_leaves_a_campaign_a_live_runner_holds(engine: Engine, tmp_path: Path) -> None:
    """A campaign claimed by a live run-due process is not sent a second time by hand."""
    from mailer.errors import DeliveryError
    from mailer.schedule.worker import runner_id

    config = make_config(tmp_path)
    seed(engine, 3)
    cid = campaign(engine, config)
    with db.transaction(engine) as conn:
        conn.execute(
            db.campaigns.update()
            .where(db.campaigns.c.id == cid)
            .values(status="sending", claimed_by=runner_id(), claimed_at=db.utcnow())
        )
    backend = MemoryBackend()
    with pytest.raises(DeliveryError, match="being sent right now"):
        send_issue(engine, config, "issues/2018-03-iom-turkey.yaml", "partners", backend=backend)
    assert backend.sent == [] and statuses(engine, cid) == {}


def test_resume_with_another_backend_uses_the_old_ones_rules(
    engine: Engine, tmp_path: Path
) -> None:
    """A batch in flight under SendGrid is held unknown even when resumed with another backend,
    and the campaign then records the backend it now uses."""
    config = make_config(tmp_path)
    seed(engine, 15)
    cid = create_campaign(engine, config, "x.yaml", "partners", backend="sendgrid", slug="x")
    store_contents(engine, config, cid, [rendered("en")])
    from mailer.delivery.ledger import Ledger
    from mailer.delivery.recipients import load_contents

    with db.read(engine) as conn:
        row = conn.execute(select(db.campaigns).where(db.campaigns.c.id == cid)).mappings().one()
    ledger = Ledger(engine, config, row, MemoryBackend(), load_contents(engine, cid))
    batch = ledger.next_new()
    assert batch is not None
    ledger.mark_in_flight(batch)  # ... and the process dies here
    backend = MemoryBackend(per_message=True)
    result = run_campaign(engine, config, cid, backend=backend)
    assert result.unknown == 10 and result.accepted == 5 and len(backend.sent) == 5
    with db.read(engine) as conn:
        assert conn.execute(select(db.campaigns.c.backend)).scalar() == "memory"


@pytest.mark.slow
def test_any_mix_of_failures_and_stops_sends_each_once() -> None:
    """Whatever the provider does and however often the send stops, resuming (and retrying the
    unknown ones, which the memory backend never received) reaches everyone exactly once."""
    import tempfile

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    events = st.lists(
        st.sampled_from(["ok", "ok", "transient", "unknown", "stop"]), min_size=0, max_size=8
    )

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(n=st.integers(min_value=0, max_value=25), script=events, batch=st.integers(1, 8))
    def run(n: int, script: list[str], batch: int) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            engine = db.connect(f"sqlite:///{tmp}/m.db")
            try:
                config = make_config(
                    Path(tmp), sending={"batch_size": batch, "max_consecutive_failures": 2}
                )
                ids = seed(engine, n)
                cid = campaign(engine, config)
                backend = MemoryBackend()
                for event in script:
                    if event in ("transient", "unknown"):
                        backend.fail_next(event)  # type: ignore[arg-type]
                    answers = iter([False, event == "stop"] + [True] * 1000)
                    run_campaign(engine, config, cid, backend=backend, should_stop=answers.__next__)
                backend.clear_failures()
                result = run_campaign(engine, config, cid, backend=backend, retry_unknown=True)
                assert result.status == "sent", result
                assert sorted(m.subscriber_id for m in backend.sent) == ids
                assert result.accepted == n and result.unknown == 0
            finally:
                db.dispose_all()

    run()


def test_merge_values_are_escaped_in_html_only(tmp_path: Path) -> None:
    """A name with HTML characters is escaped in the HTML part and kept as is in the text."""
    from mailer.backends.base import Content
    from mailer.delivery.personalize import Personalizer

    r = rendered("en")
    content = Content.of("en", r.subject + " %%first_name%%", r.html, r.text)
    p = Personalizer(make_config(tmp_path), 7, content, r.merge_fields)
    got = p.recipient(3, "a@example.org", "<b>Ayşe</b> & Co", '{"city": "Izmir & Ankara"}')
    assert got.text_values["%%first_name%%"] == "<b>Ayşe</b>"
    assert got.values["%%first_name%%"] == "&lt;b&gt;Ayşe&lt;/b&gt;"
    assert got.values["%%city%%"] == "Izmir &amp; Ankara"
    assert got.text_values["%%city%%"] == "Izmir & Ankara"
    assert got.values["%%unsubscribe_url%%"] == "mailto:unsubscribe@example.org?subject=unsubscribe"
    plain = p.recipient(4, "b@example.org", "", None)
    assert plain.values is plain.text_values and plain.values["%%first_name%%"] == "friend"


def test_a_second_sender_of_the_same_campaign_is_refused(engine: Engine, tmp_path: Path) -> None:
    """While one process holds a campaign, another run_campaign refuses and sends nothing."""
    from mailer.delivery.send import campaign_lock
    from mailer.errors import DeliveryError

    config = make_config(tmp_path)
    seed(engine, 3)
    cid = campaign(engine, config)
    backend = MemoryBackend()
    script = (
        "import sys, time\n"
        "from mailer import db\n"
        "from mailer.delivery.send import campaign_lock\n"
        "with campaign_lock(db.connect(sys.argv[1]), int(sys.argv[2])):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(30)\n"
    )
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(engine.url.render_as_string(False)), str(cid)],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with pytest.raises(DeliveryError, match="being sent by another process"):
            run_campaign(engine, config, cid, backend=backend)
        assert backend.sent == [] and statuses(engine, cid) == {}
    finally:
        holder.kill()  # SIGKILL: the lock goes with the process
        holder.wait()
    # PostgreSQL ends the dead client's session (and its advisory lock) when it notices the
    # closed socket: a moment after the process is gone, on a busy machine several
    import time

    deadline = time.monotonic() + 15
    while True:
        try:
            with campaign_lock(engine, cid):
                break
        except DeliveryError:
            assert time.monotonic() < deadline, "the lock outlived its process by 15 s"
            time.sleep(0.05)
    result = run_campaign(engine, config, cid, backend=backend)
    assert result.status == "sent" and len(backend.sent) == 3
    with campaign_lock(engine, cid):  # released after the run
        pass
