"""campaign_result counts what the deliveries say, without reading every delivery.

Every campaign here, on SQLite and PostgreSQL, is checked against a plain count in Python
over its delivery rows: sent in several languages through a batch backend and through the
outbox (message by message), paused with recipients pending, held unknown, rejected,
resumed with a recipient skipped, a recipient erased, and campaigns whose batches were made
before schema version 7 (no ``batches.language``). The statements it runs show which way
it counted by language: from the batches, or (when they cannot tell it exactly) from the
deliveries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text

from mailer import db
from mailer.audience.privacy import forget
from mailer.backends import MemoryBackend
from mailer.backends.outbox import OutboxBackend
from mailer.delivery.campaigns import SKIPPED, CampaignResult, campaign_result
from mailer.delivery.send import run_campaign
from mailer.errors import ProviderRejected
from test_send import campaign, make_config, seed

#: routed: 0, 5, 10, ... Turkish; 1, 6, ... English; 2, 7, ... Arabic (no content: English);
#: the rest without a language (English)
LANGUAGES = {i: ("tr", "en", "ar")[i % 5] for i in range(200) if i % 5 < 3}
#: how the deliveries are counted by language when the batches cannot tell it
BY_DELIVERIES = "GROUP BY deliveries.language"


@pytest.fixture
def engine(db_url: str) -> Engine:
    return db.connect(db_url)


def plain(engine: Engine, cid: int) -> dict[str, Any]:
    """The campaign's counts from its delivery rows, counted in Python."""
    d = db.deliveries
    with db.read(engine) as conn:
        row = conn.execute(select(db.campaigns).where(db.campaigns.c.id == cid)).mappings().one()
        rows = conn.execute(  # each row's status, its batch's acceptance applied
            select(db.held.status_of(), d.c.language, d.c.error)
            .select_from(db.held.with_batch())
            .where(d.c.campaign_id == cid)
        ).all()
    status = Counter(str(r[0]) for r in rows)
    skipped = sum(1 for r in rows if r[0] == "failed" and (r[2] or "").startswith(SKIPPED))
    return {
        "status": row["status"],
        "total": row["recipients"],
        "accepted": status["accepted"],
        "failed": status["failed"] - skipped,
        "unknown": status["unknown"],
        "pending": status["pending"],
        "skipped": skipped,
        "error": row["error"],
        "by_language": dict(sorted(Counter(str(r[1]) for r in rows).items())),
    }


def counted(result: CampaignResult) -> dict[str, Any]:
    keys = ("status", "total", "accepted", "failed", "unknown", "pending", "skipped", "error")
    out = {k: getattr(result, k) for k in keys}
    out["by_language"] = result.by_language
    assert list(result.by_language) == sorted(result.by_language)
    return out


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL *engine* runs meanwhile."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def check(engine: Engine, cid: int, *, from_batches: bool) -> CampaignResult:
    """campaign_result(*cid*) equals the plain count, counted by language the way told."""
    with statements(engine) as seen:
        result = campaign_result(engine, cid)
    assert counted(result) == plain(engine, cid)
    assert any(BY_DELIVERIES in s for s in seen) is not from_batches, seen
    return result


def test_a_sent_campaign_in_several_languages(engine: Engine, tmp_path: Path) -> None:
    """Batch backend, three languages routed to two contents: counted from the batches."""
    config = make_config(tmp_path)
    seed(engine, 47, languages=LANGUAGES)
    cid = campaign(engine, config, langs=("en", "tr"))
    run_campaign(engine, config, cid, backend=MemoryBackend())
    result = check(engine, cid, from_batches=True)
    assert result.status == "sent" and result.by_language == {"en": 37, "tr": 10}


def test_outbox_campaign_message_by_message(engine: Engine, tmp_path: Path) -> None:
    """Per-message backend (the outbox, as SMTP): the same counts from the batches."""
    config = make_config(tmp_path)
    seed(engine, 23, languages=LANGUAGES)
    cid = campaign(engine, config, langs=("en", "tr"))
    run_campaign(engine, config, cid, backend=OutboxBackend(tmp_path / "outbox"))
    result = check(engine, cid, from_batches=True)
    assert result.accepted == 23 and result.by_language == {"en": 18, "tr": 5}


def test_paused_unknown_pending_and_resumed_with_a_skip(engine: Engine, tmp_path: Path) -> None:
    """Held unknown, left pending, then resumed with a recipient who left: every step's
    counts are the rows', read from the batches."""
    config = make_config(tmp_path)
    ids = seed(engine, 45, languages=LANGUAGES)
    cid = campaign(engine, config, langs=("en", "tr"))
    backend = MemoryBackend()
    backend.fail_next("unknown")
    stops = iter([False, False, True])
    run_campaign(engine, config, cid, backend=backend, should_stop=lambda: next(stops, True))
    first = check(engine, cid, from_batches=True)
    assert first.unknown == 10 and first.accepted > 0
    backend.fail_next("transient", times=3)  # three failures in a row: paused, batch pending
    run_campaign(engine, config, cid, backend=backend)
    second = check(engine, cid, from_batches=True)
    assert second.status == "paused" and second.pending > 0
    d = db.deliveries
    with db.transaction(engine) as conn:
        waiting = conn.execute(
            select(d.c.subscriber_id).where(d.c.campaign_id == cid, d.c.status == "pending")
        ).scalars()
        gone = sorted(waiting)[:2]
        conn.execute(
            db.subscribers.update()
            .where(db.subscribers.c.id.in_(gone))
            .values(status="unsubscribed")
        )
    run_campaign(engine, config, cid, backend=backend, retry_unknown=True)
    third = check(engine, cid, from_batches=True)
    assert third.status == "sent" and third.skipped == 2 and third.unknown == 0
    assert third.accepted == len(ids) - 2 and sum(third.by_language.values()) == len(ids)


def test_rejected_batches_fail_the_campaign(engine: Engine, tmp_path: Path) -> None:
    """A rejected request: its deliveries failed (not skipped), the rest never queued."""
    config = make_config(tmp_path)
    seed(engine, 25, languages=LANGUAGES)
    cid = campaign(engine, config, langs=("en", "tr"))
    backend = MemoryBackend()
    backend.fail_next("reject")
    with pytest.raises(ProviderRejected):
        run_campaign(engine, config, cid, backend=backend)
    result = check(engine, cid, from_batches=True)
    assert result.status == "failed" and result.failed >= 10 and result.skipped == 0


def test_an_erased_recipient_is_counted_from_the_deliveries(engine: Engine, tmp_path: Path) -> None:
    """Erasure deletes a delivery, so a batch's size no longer says how many it holds."""
    config = make_config(tmp_path)
    seed(engine, 21, languages=LANGUAGES)
    cid = campaign(engine, config, langs=("en", "tr"))
    run_campaign(engine, config, cid, backend=MemoryBackend())
    with db.transaction(engine) as conn:
        assert forget(conn, "user00005@example.com")  # Turkish
    result = check(engine, cid, from_batches=False)
    assert result.by_language == {"en": 16, "tr": 4} and result.accepted == 20


def test_a_delivery_without_a_batch_is_counted_from_the_deliveries(
    engine: Engine, tmp_path: Path
) -> None:
    """Sizes that add up are not enough: a delivery outside every batch (as no mailer
    writes, but a database may hold) makes the deliveries counted."""
    config = make_config(tmp_path)
    ids = seed(engine, 12, languages=LANGUAGES)
    cid = campaign(engine, config, langs=("en", "tr"))
    run_campaign(engine, config, cid, backend=MemoryBackend())
    d = db.deliveries
    with db.transaction(engine) as conn:  # one English delivery replaced by an unbatched one
        conn.execute(d.delete().where(d.c.campaign_id == cid, d.c.subscriber_id == ids[1]))
        conn.execute(
            d.insert().values(
                campaign_id=cid, subscriber_id=ids[1], language="ar", status="accepted"
            )
        )
    result = check(engine, cid, from_batches=False)
    assert result.by_language == {"ar": 1, "en": 8, "tr": 3}


def _make_old(engine: Engine, url: str) -> Engine:
    """The database as schema version 6 left it (no batches.language, no
    batches.accepted_count), then opened by this mailer: migrations 7 and 8 add the
    columns, NULL in every batch made before."""
    with db.transaction(engine) as conn:
        conn.execute(text("ALTER TABLE batches DROP COLUMN language"))
        conn.execute(text("ALTER TABLE batches DROP COLUMN accepted_count"))
        conn.execute(db.schema_version.update().values(version=6))
    db.dispose_all()
    engine = db.connect(url)
    with db.read(engine) as conn:
        assert db.current_version(conn) == db.SCHEMA_VERSION == 8
        assert conn.execute(select(db.batches.c.language).distinct()).scalars().all() == [None]
    return engine


def test_campaigns_from_before_the_migration(db_url: str, tmp_path: Path) -> None:
    """Batches made before migration 7 have no language: their campaigns are counted from the
    deliveries, sent or resumed after the upgrade; a campaign made after it, from its
    batches."""
    engine = db.connect(db_url)
    config = make_config(tmp_path)
    seed(engine, 33, languages=LANGUAGES)
    sent = campaign(engine, config, langs=("en", "tr"))
    run_campaign(engine, config, sent, backend=MemoryBackend())
    seed(engine, 26, "donors", languages=LANGUAGES, domain="example.net")
    halfway = campaign(engine, config, langs=("en", "tr"), list_name="donors")
    stops = iter([False, True])
    run_campaign(
        engine, config, halfway, backend=MemoryBackend(), should_stop=lambda: next(stops, True)
    )
    engine = _make_old(engine, db_url)
    check(engine, sent, from_batches=False)
    before = check(engine, halfway, from_batches=False)
    assert before.status == "sending" and before.accepted < 26
    run_campaign(engine, config, halfway, backend=MemoryBackend())
    after = check(engine, halfway, from_batches=False)  # old batches and new ones
    assert after.status == "sent" and after.accepted == 26
    seed(engine, 14, "friends", languages=LANGUAGES, domain="example.edu")
    new = campaign(engine, config, langs=("en", "tr"), list_name="friends")
    run_campaign(engine, config, new, backend=MemoryBackend())
    assert check(engine, new, from_batches=True).accepted == 14
