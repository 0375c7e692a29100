"""`mailer stats` answers the editor's questions: rates beside counts, stories by title,
subject and send times, privacy-proxy opens, the previous issues of the same list, and an
HTML report that fits a phone. Campaigns and events are rows in a real SQLite database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from mailer import db
from mailer.cli import main
from mailer.stats import issue_stats
from tracking_helpers import write_config

ISSUE = """\
subject: "Gaziantep: a year on"
blocks:
  - type: story
    id: hero
    title: Why Gaziantep matters
    body: A city of newcomers.
    url: https://example.org/gaziantep
    share: true
  - type: highlights
    title: In brief
    items:
      - id: clinic
        title: A clinic reopens in Kilis
        url: https://example.org/kilis
"""

T0 = datetime(2024, 5, 2, 9, 0, 0)


@dataclass
class World:
    root: Path
    config: Any
    engine: Any
    issue: Path
    current: int
    subs: list[int]


def add_campaign(
    conn: Any,
    *,
    slug: str,
    list_id: int,
    subject: str,
    started: datetime,
    subs: list[int],
    issue_path: str,
    openers: int = 0,
    clickers: int = 0,
    unsubscribers: int = 0,
) -> int:
    """A sent campaign: accepted and delivered to *subs*; the first *openers* open, the
    first *clickers* click its one link, the last *unsubscribers* unsubscribe."""
    cid = int(
        conn.execute(
            db.campaigns.insert().values(
                issue_slug=slug,
                issue_path=issue_path,
                list_id=list_id,
                status="sent",
                backend="outbox",
                subject=subject,
                recipients=len(subs),
                created_at=started - timedelta(minutes=5),
                started_at=started,
                finished_at=started + timedelta(minutes=2),
            )
        ).inserted_primary_key[0]
    )
    link = int(
        conn.execute(
            db.links.insert().values(
                campaign_id=cid, url=f"https://example.org/{slug}", block="hero", kind="read_more"
            )
        ).inserted_primary_key[0]
    )
    for sid in subs:
        conn.execute(
            db.deliveries.insert().values(
                campaign_id=cid, subscriber_id=sid, status="accepted", accepted_at=started
            )
        )
        event(conn, "delivered", cid, sid, started + timedelta(seconds=20))
    later = started + timedelta(hours=3)
    for sid in subs[:openers]:
        event(conn, "open", cid, sid, later, ua="Mozilla/5.0 (iPhone) Mail")
    for sid in subs[:clickers]:
        event(conn, "click", cid, sid, later, link_id=link)
    for sid in subs[len(subs) - unsubscribers :] if unsubscribers else []:
        event(conn, "unsubscribe", cid, sid, later)
    return cid


def event(
    conn: Any,
    type_: str,
    cid: int,
    sid: int | None,
    at: datetime,
    *,
    ua: str | None = "Mozilla/5.0 (X11; Linux) Firefox/126.0",
    link_id: int | None = None,
    block: str | None = None,
    kind: str | None = None,
    scanner: bool = False,
) -> None:
    """One row of events, as the web endpoint or the webhook writes it."""
    conn.execute(
        db.events.insert().values(
            type=type_,
            campaign_id=cid,
            subscriber_id=sid,
            link_id=link_id,
            block=block,
            kind=kind,
            user_agent=ua,
            is_scanner=scanner,
            created_at=at,
        )
    )


def world(tmp_path: Path) -> World:
    """Two earlier issues and this one to list "partners", one issue to list "staff"."""
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'm.db'}")
    issue = tmp_path / "2024-05-gaziantep.yaml"
    issue.write_text(ISSUE, encoding="utf-8")
    engine = db.connect(config.database_url)
    with db.transaction(engine) as conn:
        partners = db.get_or_create_list(conn, "partners")
        staff = db.get_or_create_list(conn, "staff")
        subs = []
        for i in range(4):
            sid = int(
                conn.execute(
                    db.subscribers.insert().values(
                        email=f"r{i}@example.net", email_key=f"r{i}@example.net"
                    )
                ).inserted_primary_key[0]
            )
            subs.append(sid)
        gone = str(tmp_path / "gone.yaml")
        add_campaign(
            conn, slug="2024-03-march", list_id=partners, subject="March: the floods",
            started=T0 - timedelta(days=60), subs=subs[:2], issue_path=gone,
            openers=2, clickers=1,
        )  # fmt: skip
        add_campaign(
            conn, slug="2024-04-april", list_id=partners, subject="April: back to school",
            started=T0 - timedelta(days=30), subs=subs, issue_path=gone,
            openers=1, clickers=1, unsubscribers=1,
        )  # fmt: skip
        add_campaign(
            conn, slug="2024-04-staff", list_id=staff, subject="Staff notes",
            started=T0 - timedelta(days=10), subs=subs, issue_path=gone, openers=4,
        )  # fmt: skip
        cid = add_campaign(
            conn, slug="2024-05-gaziantep", list_id=partners, subject="Gaziantep: a year on",
            started=T0, subs=subs, issue_path=str(issue.resolve()),
        )  # fmt: skip
        a, b, c, d = subs
        later = T0 + timedelta(hours=2)
        event(conn, "open", cid, a, T0 + timedelta(seconds=30))  # preload right after delivery
        event(conn, "open", cid, a, later)  # and the reader
        event(conn, "open", cid, b, later, ua="Mozilla/5.0")  # Apple's proxy only
        event(conn, "click", cid, a, later, block="hero", kind="read_more")
        event(conn, "click", cid, a, later, block="hero", kind="read_more")
        event(conn, "click", cid, a, later, block="hero", kind="share:facebook")
        event(conn, "click", cid, c, later, block="clinic", kind="read_more")  # images off
        event(conn, "click", cid, c, later, block="footer", kind="follow:linkedin")
        event(conn, "click", cid, d, T0, block="hero", kind="read_more", scanner=True)
        event(conn, "unsubscribe", cid, d, later)
    return World(tmp_path, config, engine, issue, cid, subs)


def test_rates_titles_times_and_proxy_opens(tmp_path: Path) -> None:
    """4 delivered, 2 unique openers give a 50.0% open rate; clicks, click-to-open and
    unsubscribes have their rates; stories carry their titles; proxy opens are counted."""
    w = world(tmp_path)
    s = issue_stats(w.engine, "2024-05-gaziantep")
    assert (s.subject, s.lists, s.campaigns) == ("Gaziantep: a year on", ["partners"], [w.current])
    assert (s.started_at, s.finished_at) == ("2024-05-02T09:00:00", "2024-05-02T09:02:00")
    assert (s.accepted, s.delivered, s.recipients, s.recipients_are) == (4, 4, 4, "delivered")
    assert (s.unique_opens, s.unique_open_rate) == (2, 50.0)
    assert (s.unique_clickers, s.click_rate, s.click_to_open_rate) == (2, 50.0, 100.0)
    assert (s.clicks, s.scanner_clicks) == (5, 1)
    assert (s.unsubscribes, s.unsubscribe_rate) == (1, 25.0)
    assert (s.opens, s.proxy_opens, s.proxy_openers) == (3, 2, 1)
    assert "read clicks first" in s.opens_note
    stories = {st.block: st for st in s.stories}
    assert [st.block for st in s.stories] == ["hero", "clinic"]
    assert stories["hero"].title == "Why Gaziantep matters"
    assert stories["clinic"].title == "A clinic reopens in Kilis"
    assert (stories["hero"].clicks, stories["hero"].unique_clickers) == (3, 1)
    assert stories["hero"].click_rate == 25.0
    assert stories["hero"].shares == {"facebook": 1}
    assert stories["hero"].share_rates == {"facebook": 25.0}
    nets = {(n.kind, n.network): (n.clicks, n.unique_clickers, n.click_rate) for n in s.networks}
    assert nets == {("share", "facebook"): (1, 1, 25.0), ("follow", "linkedin"): (1, 1, 25.0)}


def test_comparison_with_previous_issues_of_the_same_list(tmp_path: Path) -> None:
    """The comparison shows this issue, then the earlier issues of list "partners" newest
    first with their own rates, and never another list's issue."""
    w = world(tmp_path)
    rows = [
        (r.current, r.slug, r.subject, r.list, r.date, r.recipients, r.unique_open_rate,
         r.click_rate, r.unsubscribe_rate)
        for r in issue_stats(w.engine, str(w.issue)).comparison
    ]  # fmt: skip
    assert rows == [
        (True, "2024-05-gaziantep", "Gaziantep: a year on", "partners", "2024-05-02T09:00:00",
         4, 50.0, 50.0, 25.0),
        (False, "2024-04-april", "April: back to school", "partners", "2024-04-02T09:00:00",
         4, 25.0, 25.0, 25.0),
        (False, "2024-03-march", "March: the floods", "partners", "2024-03-03T09:00:00",
         2, 100.0, 50.0, 0.0),
    ]  # fmt: skip


def test_titles_fall_back_to_the_block_id_when_the_issue_file_is_gone(tmp_path: Path) -> None:
    """A campaign whose issue file no longer exists shows its stories by block id."""
    w = world(tmp_path)
    w.issue.unlink()
    s = issue_stats(w.engine, "2024-05-gaziantep")
    assert [(st.block, st.title) for st in s.stories] == [("hero", "hero"), ("clinic", "clinic")]
    april = issue_stats(w.engine, "2024-04-april")
    assert [st.title for st in april.stories] == ["hero"]


def test_json_table_and_html_carry_the_same_answers(tmp_path: Path) -> None:
    """`--json` has the documented keys and values; the table shows clicks before opens,
    the proxy warning, titles and the comparison; the HTML report carries the same."""
    w = world(tmp_path)
    runner = CliRunner()
    cfg = ["--config", str(w.config.path), "stats"]
    got = runner.invoke(main, [*cfg, "2024-05-gaziantep", "--json"])
    assert got.exit_code == 0, got.output
    data = json.loads(got.output)
    assert data["unique_open_rate"] == 50.0 and data["click_to_open_rate"] == 100.0
    assert data["stories"][0]["title"] == "Why Gaziantep matters"
    assert [r["slug"] for r in data["comparison"]] == [
        "2024-05-gaziantep",
        "2024-04-april",
        "2024-03-march",
    ]
    from mailer.stats import model

    for key in data:  # every key is documented
        assert f"``{key}``" in (model.__doc__ or ""), key

    table = runner.invoke(main, [*cfg, str(w.issue)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    out = table.output
    assert "Gaziantep: a year on" in out and "2024-05-02 09:00:00" in out
    assert out.index("click rate") < out.index("open rate")
    assert (
        "Opens are inflated by privacy proxies" in out and "2 open(s) look made by a proxy" in out
    )
    assert "Why Gaziantep matters" in out and "A clinic reopens in Kilis" in out
    assert "April: back to school" in out and "March: the floods" in out
    assert "Staff notes" not in out
    assert "50.0%" in out and "25.0%" in out

    report = tmp_path / "report.html"
    html = runner.invoke(main, [*cfg, "2024-05-gaziantep", "--html", str(report)])
    assert html.exit_code == 0, html.output
    page = report.read_text(encoding="utf-8")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    for text in (
        "Why Gaziantep matters",
        "April: back to school",
        "read clicks first",
        "50.0%",
        "100.0%",
        "2024-05-02 09:00:00",
        "<title>Why Gaziantep matters: 3</title>",
    ):
        assert text in page, text  # fmt: skip
    assert page.index("click rate") < page.index("open rate")
    assert "<script" not in page and "src=" not in page


def test_html_report_fits_a_phone(tmp_path: Path) -> None:
    """At 375 px Chromium lays the report out without sideways scrolling."""
    from judges import PageJob, browser

    w = world(tmp_path)
    report = tmp_path / "report.html"
    result = CliRunner().invoke(
        main, ["--config", str(w.config.path), "stats", "2024-05-gaziantep", "--html", str(report)]
    )
    assert result.exit_code == 0, result.output
    shots = tmp_path / "shots"
    shots.mkdir()
    seen = browser([PageJob("report", report, widths=(375, 1024))], shots)["report"]
    assert seen["375"]["scrollWidth"] == 375, seen["375"]
    assert seen["1024"]["scrollWidth"] == 1024, seen["1024"]
    assert Path(seen["375"]["shot"]).stat().st_size > 5000


def test_html_to_a_missing_folder_is_a_clean_error(tmp_path: Path) -> None:
    """--html into a folder that does not exist exits 1 naming the file, no traceback."""
    w = world(tmp_path)
    target = tmp_path / "no" / "such" / "report.html"
    result = CliRunner().invoke(
        main, ["--config", str(w.config.path), "stats", "2024-05-gaziantep", "--html", str(target)]
    )
    assert result.exit_code == 1
    assert f"cannot write the report to {target}" in result.output
    assert "Traceback" not in result.output
