"""The server's pages and the stats report as a reader sees them: axe-core in Chromium
finds no violation, and nothing overflows a 375 px phone."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.stats import Stats, StoryStats
from mailer.stats.report import render_html
from mailer.web import pages

ORG = "IOM Turkey: International Organization for Migration & UN Migration"


@pytest.mark.slow
def test_pages_pass_axe_and_fit_a_phone(tmp_path: Path) -> None:
    """Unsubscribe form, answers, how-to-leave page and stats report: no axe violation."""
    from judges import PageJob, browser

    stats = Stats(
        slug="2018-03-iom-turkey",
        campaigns=[1],
        sent=3,
        clicks=4,
        stories=[StoryStats("gaziantep", 3, 2, {"facebook": 1}), StoryStats("delbaz", 1, 1)],
        follows={"linkedin": 2},
    )
    docs = {
        "form": pages.unsubscribe_form(ORG, "IOM Turkey Newsletter"),
        "done": pages.unsubscribed(ORG),
        "invalid": pages.invalid_link(ORG, "leave@example.org"),
        "leave": pages.how_to_leave(ORG, "leave@example.org"),
        "report": render_html(stats),
    }
    jobs = []
    for name, html in docs.items():
        path = tmp_path / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        jobs.append(PageJob(name, path, (375, 1000), axe=True))
    result = browser(jobs, tmp_path)
    for name in docs:
        for width in ("375", "1000"):
            got = result[name][width]
            assert got["axe"]["violations"] == [], (name, width, got["axe"]["violations"])
            if name != "report":  # the report's wide table may scroll on a phone
                assert got["scrollWidth"] <= int(width), (name, width)
