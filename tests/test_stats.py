"""`mailer stats` after a scripted set of clicks, opens and an unsubscribe on a real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from mailer import db
from mailer.cli import main
from mailer.stats import issue_stats
from mailer.tracking.tokens import Signer
from mailer.web.server import create_app
from tracking_helpers import BASE, SECRET, Seeded, count_events, live_server, seed, wait_for
from tracking_helpers import write_config as make_config

SIGN = Signer(SECRET.encode())


def script(s: Seeded, client: httpx.Client) -> None:
    """Clicks, opens and one unsubscribe, as readers and one scanner would make them."""
    url = {
        "hero": "https://example.org/story-1?utm_content=hero&utm_source=newsletter",
        "fb": next(u for u in s.links if "facebook" in u),
        "x": next(u for u in s.links if "twitter" in u),
        "grid": "https://example.org/story-2?utm_content=grid-1",
        "linkedin": "https://www.linkedin.com/company/iom",
    }
    a, b, c = s.subscribers

    def click(name: str, sub: int | None, ua: str = "Mozilla/5.0") -> None:
        path = f"/c/{SIGN.link(s.campaign_id, s.links[url[name]])}"
        if sub is not None:
            path += f"/{SIGN.recipient(s.campaign_id, sub)}"
        assert client.get(path, headers={"user-agent": ua}).status_code == 302

    for name, sub in [("hero", a), ("hero", a), ("fb", a), ("hero", b), ("grid", b)]:
        click(name, sub)
    for name, sub in [("linkedin", b), ("x", b), ("fb", None)]:
        click(name, sub)
    click("hero", c, ua="Mimecast URL protection")
    for sub in (a, a, b):
        assert client.get(f"/o/{SIGN.recipient(s.campaign_id, sub)}").status_code == 200
    r = client.post(
        f"/u/{SIGN.recipient(s.campaign_id, c)}", data={"List-Unsubscribe": "One-Click"}
    )
    assert r.status_code == 200
    assert wait_for(lambda: count_events(s.engine) == 13)


EXPECTED: dict[str, Any] = {
    "slug": "2018-03-test",
    "sent": 4,
    "accepted": 3,
    "delivered": 0,
    "bounced": 0,
    "opens": 3,
    "unique_opens": 2,
    "clicks": 8,
    "unique_clickers": 2,
    "unsubscribes": 1,
    "complaints": 0,
    "stories": [
        {
            "block": "hero",
            "clicks": 6,
            "unique_clickers": 2,
            "shares": {"facebook": 2, "x": 1},
            "title": "hero",  # the issue file /x/2018-03-test.yaml is gone: the id
            "click_rate": 66.7,
            "share_rates": {"facebook": 33.3, "x": 33.3},  # one anonymous facebook click
        },
        {
            "block": "grid-1",
            "clicks": 1,
            "unique_clickers": 1,
            "shares": {},
            "title": "grid-1",
            "click_rate": 33.3,
            "share_rates": {},
        },
    ],
    "follows": {"linkedin": 1},
    "scanner_clicks": 1,
    "scanner_opens": 0,
    "lists": ["partners"],
    "subject": "Test issue",  # the campaign row has none: the stored contents' subject
    "started_at": None,
    "finished_at": None,
    "recipients": 3,  # no provider delivered events: the accepted deliveries
    "recipients_are": "accepted",
    "unique_open_rate": 66.7,
    "click_rate": 66.7,
    "click_to_open_rate": 100.0,
    "unsubscribe_rate": 33.3,
    "complaint_rate": 0.0,
    "bounce_rate": 0.0,
    "proxy_opens": 0,
    "proxy_openers": 0,
    "opens_note": (
        "Opens are inflated by privacy proxies (Apple Mail Privacy Protection loads every "
        "image without the reader); read clicks first."
    ),
    "networks": [
        {
            "network": "facebook",
            "kind": "share",
            "clicks": 2,
            "unique_clickers": 1,
            "click_rate": 33.3,
        },
        {"network": "x", "kind": "share", "clicks": 1, "unique_clickers": 1, "click_rate": 33.3},
        {
            "network": "linkedin",
            "kind": "follow",
            "clicks": 1,
            "unique_clickers": 1,
            "click_rate": 33.3,
        },
    ],
}


def test_stats_count_exactly_per_story_and_network(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library, `mailer stats --json`, the table and the HTML report give the same counts."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.setenv("MAILER_EVENTS_FLUSH_SECONDS", "0.01")
    config = make_config(tmp_path, db_url, base_url=BASE, opens=True)
    s = seed(config)
    with db.transaction(s.engine) as conn:  # one refused address, one not yet attempted
        for status in ("failed", "pending"):
            sid = conn.execute(
                db.subscribers.insert().values(email=f"{status}@x.org", email_key=f"{status}@x.org")
            ).inserted_primary_key[0]
            conn.execute(
                db.deliveries.insert().values(
                    campaign_id=s.campaign_id, subscriber_id=sid, status=status
                )
            )
    with live_server(create_app(config)) as url, httpx.Client(base_url=url) as client:
        script(s, client)
    got = issue_stats(s.engine, "2018-03-test").as_dict()
    compared = got["comparison"]
    assert got == {**EXPECTED, "campaigns": [s.campaign_id], "comparison": compared}
    assert [{k: v for k, v in row.items() if k != "date"} for row in compared] == [
        {
            "campaign": s.campaign_id,
            "slug": "2018-03-test",
            "subject": "Test issue",
            "list": "partners",
            "recipients": 3,
            "unique_open_rate": 66.7,
            "click_rate": 66.7,
            "unsubscribe_rate": 33.3,
            "current": True,
        }
    ]

    runner = CliRunner()
    cfg = str(config.path)
    result = runner.invoke(main, ["--config", cfg, "stats", "2018-03-test", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == got

    table = runner.invoke(main, ["--config", cfg, "stats", "2018-03-test"], env={"COLUMNS": "160"})
    assert table.exit_code == 0, table.output
    assert "hero" in table.output and "grid-1" in table.output and "linkedin" in table.output
    assert "share facebook" in table.output

    report = tmp_path / "report.html"
    html = runner.invoke(main, ["--config", cfg, "stats", "2018-03-test", "--html", str(report)])
    assert html.exit_code == 0, html.output
    page = report.read_text(encoding="utf-8")
    assert page.count("<svg") == 2 and "<script" not in page
    assert "src=" not in page and "<link" not in page  # nothing fetched
    assert "<title>hero: 6</title>" in page and "<title>facebook: 2</title>" in page


def test_stats_of_an_unknown_issue_is_a_clean_error(tmp_path: Path) -> None:
    """Asking for an issue never sent exits 1 with a message and a hint, no traceback."""
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'm.db'}")
    result = CliRunner().invoke(main, ["--config", str(config.path), "stats", "nope"])
    assert result.exit_code == 1
    assert "no issue 'nope' has been sent" in result.output
    assert "Traceback" not in result.output
