"""The letter, gallery and event blocks, story kickers and quote headlines, captions on
card images, and the event's .ics, as the second sample (issues/2027-q1-harvest-bridge.yaml)
builds them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailer.build import write_build
from mailer.build.issue import load_issue
from mailer.config import load_config
from mailer.errors import IssueError

SAMPLE = "issues/2027-q1-harvest-bridge.yaml"
ICS = "assets/2027-q1-harvest-bridge-open-day.ics"


@pytest.fixture
def built(project: Path) -> Path:
    """The second sample built by write_build into project/out (English)."""
    write_build(SAMPLE, load_config("mailer.toml"), project / "out")
    return project / "out"


def unfold(raw: bytes) -> list[str]:
    """The content lines of an iCalendar file (RFC 5545 §3.1), after checking the octets."""
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    physical = raw.split(b"\r\n")[:-1]
    assert all(len(line) <= 75 for line in physical), [p for p in physical if len(p) > 75]
    return raw.decode("utf-8").replace("\r\n ", "").split("\r\n")[:-1]


def test_event_ics_has_the_fields_and_the_start_in_the_events_zone(built: Path) -> None:
    """The .ics beside the build is one VEVENT whose DTSTART is 10:00 in Europe/London,
    with UID, DTSTAMP, SUMMARY, and LOCATION/DESCRIPTION escaped."""
    lines = unfold((built / ICS).read_bytes())
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    fields = dict(line.split(":", 1) for line in lines)
    assert lines.count("BEGIN:VEVENT") == 1
    assert fields["UID"] == "2027-q1-harvest-bridge-open-day@turkey.iom.int"
    assert fields["DTSTAMP"].endswith("Z") and len(fields["DTSTAMP"]) == 16
    start = datetime.strptime(fields["DTSTART"], "%Y%m%dT%H%M%S%z")
    end = datetime.strptime(fields["DTEND"], "%Y%m%dT%H%M%S%z")
    london = ZoneInfo("Europe/London")
    assert start.astimezone(london).replace(tzinfo=None) == datetime(2027, 4, 24, 10, 0)
    assert end.astimezone(london).replace(tzinfo=None) == datetime(2027, 4, 24, 14, 0)
    assert fields["SUMMARY"] == "Spring open day at the warehouse"
    assert fields["LOCATION"] == (
        "Harvest Bridge warehouse\\, Unit 4\\, Riverside Trading Estate\\, Leeds"
    )
    assert fields["DESCRIPTION"].startswith("Meet the volunteers\\, see how")


def test_event_escapes_and_folds_multibyte_text() -> None:
    """Texts with ; , \\ and newlines are escaped, and folding never splits a UTF-8 character."""
    from mailer.build.ics import escape_text, fold

    assert escape_text("a;b,c\\d\ne") == "a\\;b\\,c\\\\d\\ne"
    folded = fold("SUMMARY:" + "ş" * 80).encode("utf-8")
    parts = folded.split(b"\r\n")
    assert all(len(p) <= 75 for p in parts) and len(parts) == 3
    assert b"".join(p.removeprefix(b" ") for p in parts).decode("utf-8").endswith("ş" * 80)


def test_event_html_and_text_say_when_where_and_link_the_calendar(built: Path) -> None:
    """The event's date and time are written out in English with the zone, the place and
    body follow, and "Add to calendar" links the .ics where assets_url serves it, in the HTML
    as in the text part (the link `mailer check` and a send see)."""
    html = (built / "index.html").read_text(encoding="utf-8")
    text = (built / "index.txt").read_text(encoding="utf-8")
    when = "Sat, April 24, 2027, 10:00\u202fAM – 2:00\u202fPM (United Kingdom Time)"
    assert when in html and when in text
    assert (
        'href="https://turkey.iom.int/sites/newsletter/assets/2027-q1-harvest-bridge-open-day.ics"'
        in html
    )
    assert (
        "Add to calendar: https://turkey.iom.int/sites/newsletter/assets/"
        "2027-q1-harvest-bridge-open-day.ics\nBook a place: https://example.org/harvest-bridge/"
        "open-day?utm_source=newsletter" in text
    )


def test_letter_salutation_body_and_signature(built: Path) -> None:
    """The letter shows the salutation with the merge field filled, the body, and the
    signature's name and role beside a 56 px portrait; the text part ends with the name."""
    html = (built / "index.html").read_text(encoding="utf-8")
    text = (built / "index.txt").read_text(encoding="utf-8")
    assert "Dear Ayşe," in html and "<strong>412 tonnes</strong>" in html
    assert 'src="assets/fb-director.jpg"' in html and 'width="56"' in html
    assert "<strong>Amina Okafor</strong>" in html and "Director, Harvest Bridge" in html
    assert "Dear Ayşe,\n\nThis winter our volunteers sorted 412 tonnes" in text
    assert "Thank you.\n\nAmina Okafor\nDirector, Harvest Bridge" in text


def test_gallery_captions_credits_and_links(built: Path) -> None:
    """Each gallery photo has its caption and credit under it (HTML and text); a photo with
    a url is linked, with UTM."""
    html = (built / "index.html").read_text(encoding="utf-8")
    text = (built / "index.txt").read_text(encoding="utf-8")
    assert html.count('width="276"') >= 4
    assert "Sorting the citrus donated by growers in the valley. Photo: Lea Martin" in html
    assert "* The first van of the day leaves at 7. Photo: Lea Martin\n  https://example.org/" in (
        text
    )
    assert "* Seedlings for the community garden.\n\n" in text
    assert 'href="https://example.org/harvest-bridge/drive?utm_source=newsletter' in html


def test_story_kicker_and_quote_headline(built: Path) -> None:
    """A kicker is written above the title; `headline: quote` puts the title in quotation
    marks as a pull quote (HTML and text)."""
    html = (built / "index.html").read_text(encoding="utf-8")
    text = (built / "index.txt").read_text(encoding="utf-8")
    assert html.index(">Kenya</p>") < html.index("Market surplus becomes school lunches")
    assert "“We cook with what the mountain gives us, and now nothing is thrown away”</h2>" in html
    assert "Kenya\nMarket surplus becomes school lunches in Kisumu\n====" in text
    assert "Peru\n“We cook with what the mountain gives us" in text


def test_card_image_caption_and_credit_are_rendered(project: Path) -> None:
    """A highlights card's image caption and credit appear under the picture, never dropped."""
    path = project / "issues" / "cards.yaml"
    path.write_text(
        'subject: "Cards"\nblocks:\n  - type: highlights\n    items:\n'
        "      - title: One\n        url: https://example.org/1\n"
        "        image: {src: assets/card-sea.jpg, alt: Sea, caption: At dawn, credit: Ana}\n",
        encoding="utf-8",
    )
    write_build(path, load_config("mailer.toml"), project / "cards")
    assert "At dawn Photo: Ana" in (project / "cards" / "index.html").read_text(encoding="utf-8")
    assert "* One\n  At dawn Photo: Ana" in (project / "cards" / "index.txt").read_text("utf-8")


def test_event_refuses_an_unknown_zone_and_an_end_before_the_start(project: Path) -> None:
    """A misspelled time zone and an end before the start are located errors with a fix."""
    path = project / "issues" / "bad-event.yaml"
    body = (
        'subject: "x"\nblocks:\n  - type: event\n    title: Open day\n'
        "    start: 2027-04-24 10:00\n    timezone: Europe/Londn\n"
    )
    path.write_text(body, encoding="utf-8")
    with pytest.raises(IssueError, match="IANA time zone") as caught:
        load_issue(path)
    assert "bad-event.yaml:6:15" in str(caught.value)
    path.write_text(body.replace("Londn", "London") + "    end: 2027-04-24 09:00\n", "utf-8")
    with pytest.raises(IssueError, match=r"ends .* before it starts"):
        load_issue(path)


def test_an_issue_with_an_event_passes_check(project: Path) -> None:
    """`mailer check` of the second sample (an event with its calendar link) finds no error:
    the link it checks is the absolute one a reader gets, not the build's relative file."""
    from mailer.build.check import check_issue

    errors = [f for f in check_issue(SAMPLE, load_config("mailer.toml")) if f.severity == "error"]
    assert errors == [], errors


def test_share_line_in_the_text_part_matches_the_html(project: Path) -> None:
    """A shared story's text part says "Share on: Facebook · X · LinkedIn · WhatsApp · Email"
    as its HTML does, then each network's share link on its own line (in Turkish too)."""
    import re

    from mailer.build import build_issue

    config = load_config("mailer.toml")
    sample = "issues/2018-03-iom-turkey.yaml"
    for lang, line in (
        ("en", "Share on: Facebook · X · LinkedIn · WhatsApp · Email"),
        ("tr", "Paylaş: Facebook · X · LinkedIn · WhatsApp · E-posta"),
    ):
        rendered = build_issue(sample, config, lang=lang)
        html_words = " ".join(re.sub(r"<[^>]+>", "", rendered.html).split())
        assert line.split(": ", 1)[1] in html_words
        assert rendered.text.count(line + "\n") == 2, lang  # the two stories with share: true
        after = rendered.text.split(line + "\n", 1)[1].splitlines()
        assert after[0].startswith("  Facebook: https://www.facebook.com/sharer/sharer.php?u=")
        assert after[4].startswith("  " + line.rsplit(" · ", 1)[1] + ": mailto:?subject=")
