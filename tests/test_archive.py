"""The public archive, its Atom feed, `mailer archive build` and campaign images, after a real
`mailer send` of the sample (outbox backend), served by `mailer serve` on uvicorn."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from judges import (
    READERS,
    PageJob,
    browser,
    copy_project,
    describe_vnu,
    run_mailer,
    vnu,
    vnu_split,
)
from mailer import db
from mailer.config import load_config
from mailer.web.server import create_app
from test_photos import camera_photo
from tracking_helpers import live_server

BASE = "https://news.example.org"
ISSUE = "issues/2018-03-iom-turkey.yaml"
HERO = "issues/assets/gaziantep.jpg"
LANGS = ("en", "tr", "ar")
_MERGE = re.compile(r"%%[a-z_:.0-9]+%%")


@dataclass
class Sent:
    project: Path
    env: dict[str, str]
    url: str
    client: httpx.Client


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sent]:
    """The sample sent to one reader per language with images served by `mailer serve`,
    the list public in [archive], and the server running."""
    work = tmp_path_factory.mktemp("archive")
    project = copy_project(work / "project", base_url=BASE, assets_url=f"{BASE}/assets/")
    with (project / "mailer.toml").open("a", encoding="utf-8") as f:
        f.write('\n[archive]\nlists = ["partners"]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILER_", "SENDGRID_"))}
    env |= {
        "MAILER_DATABASE_URL": f"sqlite:///{work / 'mailer.db'}",
        "MAILER_OUTBOX_DIR": str(work / "outbox"),
        "MAILER_SECRET_KEY": "archive-signing-key-0123456789abcdef",
        "NO_COLOR": "1",
    }
    camera_photo(project / HERO)  # a camera's 3000x2000 JPEG with GPS, shown 600 px wide
    for lang in LANGS:
        address, name = READERS[lang]
        run_mailer(project, "subscribers", "add", address, "--list", "partners", "--name", name,
                   "--language", lang, env=env)  # fmt: skip
    run_mailer(project, "send", ISSUE, "--list", "partners", "--backend", "outbox", "--yes",
               env=env)  # fmt: skip
    old = {k: os.environ.get(k) for k in ("MAILER_DATABASE_URL", "MAILER_SECRET_KEY")}
    os.environ["MAILER_DATABASE_URL"] = env["MAILER_DATABASE_URL"]
    os.environ["MAILER_SECRET_KEY"] = env["MAILER_SECRET_KEY"]
    try:
        app = create_app(load_config(project / "mailer.toml"))
        with live_server(app) as url, httpx.Client(base_url=url, timeout=20) as client:
            yield Sent(project, env, url, client)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        db.dispose_all()


def assert_impersonal(page: str) -> None:
    assert not _MERGE.search(page), _MERGE.search(page)
    for address, name in READERS.values():
        assert address not in page and name not in page
    assert "/o/" not in page and "/c/" not in page and "/u/" not in page


def test_archive_lists_the_issue_per_language_and_pages_are_impersonal(sent: Sent) -> None:
    """/archive lists the sent issue in each language; each page is the issue without a merge
    token, a tracking token, the pixel or any reader's name or address."""
    index = sent.client.get("/archive")
    assert index.status_code == 200
    for lang in LANGS:
        href = f"/archive/2018-03-iom-turkey/{lang}/"
        assert f'href="{href}"' in index.text
        page = sent.client.get(href)
        assert page.status_code == 200 and "<html" in page.text
        assert_impersonal(page.text)
    default = sent.client.get("/archive/2018-03-iom-turkey/")
    assert default.status_code == 200 and 'lang="en"' in default.text
    assert sent.client.get("/archive/no-such-issue/").status_code == 404


def test_feed_is_valid_atom_linking_the_archived_pages(sent: Sent) -> None:
    """/archive/feed.xml parses with feedparser without bozo; each entry links to an archived
    page that answers and has a summary."""
    import feedparser

    r = sent.client.get("/archive/feed.xml")
    assert r.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(r.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert feed.feed.id and feed.feed.updated and feed.feed.title
    assert len(feed.entries) == len(LANGS)
    for entry in feed.entries:
        assert entry.link.startswith(f"{BASE}/archive/2018-03-iom-turkey/")
        assert entry.summary and entry.updated
        path = entry.link.removeprefix(BASE)
        page = sent.client.get(path)
        assert page.status_code == 200
        assert_impersonal(page.text)


def test_archive_pages_pass_axe_and_nu(sent: Sent, tmp_path: Path) -> None:
    """The archive index and an archived issue pass axe (no serious or critical finding) and
    the Nu validator (email HTML's documented exceptions only)."""
    index = tmp_path / "index.html"
    index.write_text(sent.client.get("/archive").text, encoding="utf-8")
    issue = tmp_path / "issue.html"
    issue.write_text(sent.client.get("/archive/2018-03-iom-turkey/en/").text, encoding="utf-8")
    report = vnu([index, issue])
    for path in (index, issue):
        kept, _ = vnu_split(report[path])
        assert kept == [], describe_vnu(kept)
    shots = tmp_path / "shots"
    shots.mkdir()
    result = browser(
        [PageJob("index", index, (375,), axe=True), PageJob("issue", issue, (600,), axe=True)],
        shots,
    )
    for name, width in (("index", "375"), ("issue", "600")):
        violations = result[name][width]["axe"]["violations"]
        bad = [v for v in violations if v.get("impact") in ("serious", "critical")]
        assert bad == [], bad


def test_images_are_kept_and_served_as_sent(sent: Sent) -> None:
    """The sent HTML points at /assets/<campaign>/<name>; the server answers the kept copy
    with an image type even after the issue's file changes, and refuses `..` paths."""
    page = sent.client.get("/archive/2018-03-iom-turkey/en/").text
    m = re.search(re.escape(BASE) + r"/assets/(\d+)/gaziantep\.jpg", page)
    assert m, "the archived page does not use the kept image"
    kept = (sent.project / "campaign-assets" / m.group(1) / "gaziantep.jpg").read_bytes()
    (sent.project / HERO).write_bytes(b"changed later")
    r = sent.client.get(f"/assets/{m.group(1)}/gaziantep.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content == kept
    assert sent.client.get("/assets/gaziantep.jpg").content == kept
    for bad in ("../mailer.toml", f"{m.group(1)}/../../mailer.toml", "%2e%2e/mailer.toml"):
        assert sent.client.get(f"/assets/{bad}").status_code == 404, bad
    assert sent.client.get("/assets/..%2fmailer.toml").status_code == 404


def test_kept_images_are_made_for_email(sent: Sent) -> None:
    """The send path keeps a camera photo (3000x2000, GPS in its EXIF) shown 600 px wide as a
    1200 px JPEG with no EXIF, and the footer's 48 px icons at twice their 20 px (40 px)."""
    from PIL import Image

    kept = sorted((sent.project / "campaign-assets").glob("*/gaziantep.jpg"))
    assert kept, "no kept copy of the hero photo"
    with Image.open(kept[-1]) as hero:
        assert hero.format == "JPEG" and hero.size == (1200, 800)
        assert not hero.getexif() and "exif" not in hero.info
    assert b"Field Camera" not in kept[-1].read_bytes()
    with Image.open(sent.project / "templates" / "icons" / "icon-facebook.png") as source:
        assert source.width == 48
    icons = sorted((sent.project / "campaign-assets").glob("*/icon-facebook.png"))
    assert icons, "the footer's follow icons were not kept with the campaign"
    with Image.open(icons[-1]) as icon:
        assert icon.size == (40, 40) and icon.format == "PNG"


def test_archive_build_writes_the_same_pages_and_feed(sent: Sent, tmp_path: Path) -> None:
    """`mailer archive build -o DIR` writes index.html, feed.xml and each issue page per
    language, impersonal, with the feed linking to the published address."""
    import feedparser

    out = tmp_path / "site"
    mailer = str(Path(sys.executable).with_name("mailer"))
    proc = subprocess.run(
        [mailer, "archive", "build", "-o", str(out), "--url", "https://example.org/news/"],
        cwd=sent.project, env=sent.env, capture_output=True, timeout=120, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "3 issue pages" in proc.stdout
    index = (out / "index.html").read_text(encoding="utf-8")
    for lang in LANGS:
        assert f'href="2018-03-iom-turkey/{lang}/"' in index
        assert_impersonal((out / "2018-03-iom-turkey" / lang / "index.html").read_text("utf-8"))
    assert (out / "2018-03-iom-turkey" / "index.html").is_file()
    feed = feedparser.parse((out / "feed.xml").read_bytes())
    assert not feed.bozo
    assert {e.link for e in feed.entries} == {
        f"https://example.org/news/2018-03-iom-turkey/{lang}/" for lang in LANGS
    }


def test_archive_build_into_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    """`mailer archive build -o DIR` where DIR cannot be made exits 1 naming the folder, with a
    hint and no traceback."""
    project = copy_project(tmp_path / "project", base_url=BASE)
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILER_", "SENDGRID_"))}
    env |= {"MAILER_DATABASE_URL": f"sqlite:///{tmp_path / 'mailer.db'}", "NO_COLOR": "1"}
    out = tmp_path / "a-file" / "site"
    mailer = str(Path(sys.executable).with_name("mailer"))
    proc = subprocess.run(
        [mailer, "archive", "build", "-o", str(out), "--url", "https://example.org/news/"],
        cwd=project, env=env, capture_output=True, timeout=120, text=True,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"cannot write the archive to {out}" in proc.stderr
    assert "hint: give -o a folder you may write to" in proc.stderr
