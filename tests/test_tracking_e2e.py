"""End to end: the sample issue sent to the outbox with tracking on, its links clicked on a
real server, one reader leaving by one-click unsubscribe, then `mailer stats`."""

from __future__ import annotations

import email
import json
import re
from collections import Counter
from datetime import timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mailer import db
from mailer.audience.subscribers import add
from mailer.cli import main
from mailer.config import load_config
from mailer.stats import issue_stats
from mailer.tracking.tokens import Signer
from mailer.web.server import create_app
from tracking_helpers import SECRET, count_events, live_server, raw_get, wait_for

BASE = "https://news.turkey.iom.int"
ISSUE = "issues/2018-03-iom-turkey.yaml"
READERS = ("ayse@example.net", "omar@example.net", "lena@example.net")


def html_part(path: Path, kind: str = "text/html") -> str:
    msg: Message = email.message_from_bytes(path.read_bytes())
    for part in msg.walk():
        if part.get_content_type() == kind:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"{path} has no HTML part")


def unsubscribe_url(path: Path) -> str:
    header = email.message_from_bytes(path.read_bytes())["List-Unsubscribe"]
    found = re.search(r"<(https://[^>]+)>", header)
    assert found, header
    return found.group(1)


@pytest.fixture
def sent(project: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The sample issue sent by the outbox backend to three readers, tracking on."""
    toml = (project / "mailer.toml").read_text(encoding="utf-8")
    toml, n = re.subn(r"(?m)^#\s*base_url\s*=.*$", f'base_url = "{BASE}"', toml, count=1)
    assert n == 1
    (project / "mailer.toml").write_text(toml, encoding="utf-8")
    monkeypatch.setenv("MAILER_DATABASE_URL", db_url)
    monkeypatch.setenv("MAILER_OUTBOX_DIR", str(project / "outbox"))
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.setenv("MAILER_EVENTS_FLUSH_SECONDS", "0.01")
    from mailer.delivery.send import send_issue

    config = load_config(project / "mailer.toml")
    engine = db.connect(config.database_url)
    with db.transaction(engine) as conn:
        for address in READERS:
            add(conn, address, "partners", name=address.split("@")[0].title(), language="en")
    result = send_issue(engine, config, project / ISSUE, "partners", backend="outbox")
    assert result.accepted == 3, result
    with db.transaction(engine) as conn:  # readers click later than scanners do
        conn.execute(db.deliveries.update().values(accepted_at=db.utcnow() - timedelta(hours=1)))
        ids = {
            r.email: int(r.id)
            for r in conn.execute(select(db.subscribers.c.email, db.subscribers.c.id))
        }
        links = {
            int(r.id): (r.url, r.block, r.kind)
            for r in conn.execute(
                select(db.links.c.id, db.links.c.url, db.links.c.block, db.links.c.kind)
            )
        }
    files = {
        address: next((project / "outbox" / str(result.campaign_id)).glob(f"*{address}.eml"))
        for address in READERS
    }
    return {
        "config": config,
        "engine": engine,
        "campaign": result.campaign_id,
        "ids": ids,
        "links": links,
        "files": files,
    }


def tracked_hrefs(html: str) -> list[str]:
    return re.findall(rf'href="{re.escape(BASE)}(/c/[^"]+)"', html)


def test_sent_issue_links_redirect_and_stats_count_them(sent: dict[str, Any]) -> None:
    """Every tracked link of a sent message redirects to its target with UTM; scripted
    clicks give exact stats per story and network; one-click unsubscribe stops the next send."""
    sign = Signer(SECRET.encode())
    links, engine, cid = sent["links"], sent["engine"], sent["campaign"]
    by_reader = {a: tracked_hrefs(html_part(p)) for a, p in sent["files"].items()}
    first = by_reader[READERS[0]]
    assert first, "the sent message has no tracked link"
    assert len(html_part(sent["files"][READERS[0]]).encode()) < 102 * 1024
    text_urls = re.findall(
        r"(?:https?|mailto):\S+", html_part(sent["files"][READERS[0]], "text/plain")
    )
    untracked = [
        u for u in text_urls if not u.startswith((f"{BASE}/c/", f"{BASE}/u/", f"{BASE}/v/"))
    ]
    assert text_urls and untracked == [], untracked

    def link_of(path: str) -> tuple[str, str, str]:
        return links[sign.verify_link(path.split("/")[2])[1]]

    clicks: list[tuple[str, str]] = []  # (reader, path) in order
    with live_server(create_app(sent["config"])) as url, httpx.Client(base_url=url) as client:
        for path in first:  # every link of the issue answers with its own stored target
            status, location = raw_get(url, path)
            target, block, kind = link_of(path)
            assert (status, location) == (302, target)
            query = parse_qs(urlsplit(target).query)
            if kind == "read_more":
                assert query.get("utm_source") == ["newsletter"]
                assert query.get("utm_medium") == ["email"]
                assert query.get("utm_content") == [block]
            clicks.append((READERS[0], path))
        stories = [p for p in by_reader[READERS[1]] if link_of(p)[2] == "read_more"]
        shares = [p for p in by_reader[READERS[1]] if link_of(p)[2].startswith("share:")]
        script = [stories[0], stories[0], *shares[:2], stories[-1]]
        for path in script:
            assert raw_get(url, path)[0] == 302
            clicks.append((READERS[1], path))
        page = html_part(sent["files"][READERS[0]])
        view = re.search(rf'href="{re.escape(BASE)}(/v/[^"]+)"', page)
        assert view, "the sent message has no view-in-browser link"
        public = client.get(view.group(1))
        assert public.status_code == 200 and "Gaziantep" in public.text
        assert "%%" not in public.text and "/u/" not in public.text and "/o/" not in public.text
        assert not any(reader in public.text for reader in READERS)
        leave = unsubscribe_url(sent["files"][READERS[2]])
        assert leave.startswith(f"{BASE}/u/")
        r = client.post(
            leave.removeprefix(BASE),
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 200
        assert wait_for(lambda: count_events(engine, "click") == len(clicks))

    expected_story: Counter[str] = Counter()
    expected_share: Counter[tuple[str, str]] = Counter()
    expected_follow: Counter[str] = Counter()
    clickers: dict[str, set[str]] = {}
    for reader, path in clicks:
        _, block, kind = link_of(path)
        if kind.startswith("follow:"):
            expected_follow[kind.split(":")[1]] += 1
            continue
        expected_story[block] += 1
        clickers.setdefault(block, set()).add(reader)
        if kind.startswith("share:"):
            expected_share[(block, kind.split(":")[1])] += 1

    stats = issue_stats(engine, "2018-03-iom-turkey")
    assert (stats.sent, stats.accepted, stats.unsubscribes) == (3, 3, 1)
    assert stats.clicks == len(clicks) and stats.unique_clickers == 2
    assert {s.block: s.clicks for s in stats.stories} == dict(expected_story)
    assert {s.block: s.unique_clickers for s in stats.stories} == {
        b: len(r) for b, r in clickers.items()
    }
    assert {(s.block, n): c for s in stats.stories for n, c in s.shares.items()} == dict(
        expected_share
    )
    assert stats.follows == dict(expected_follow)

    result = CliRunner().invoke(
        main, ["--config", str(sent["config"].path), "stats", ISSUE, "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == stats.as_dict()

    # a following send to the same list skips the reader who left
    from mailer.delivery.send import create_campaign, run_campaign

    config = sent["config"]
    again = create_campaign(engine, config, config.root / ISSUE, "partners", backend="outbox")
    run_campaign(engine, config, again, backend="outbox")
    names = sorted(p.name for p in (config.outbox_dir / str(again)).glob("*.eml"))
    assert len(names) == 2 and not any(READERS[2] in n for n in names)
    assert cid != again
