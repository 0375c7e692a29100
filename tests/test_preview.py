"""`mailer preview`: a real server on 127.0.0.1 that rebuilds when files change."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx

from mailer.build.preview import PreviewServer
from support import free_port

SAMPLE = Path("issues/2018-03-iom-turkey.yaml")


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers["Content-Type"], response.read()


def wait_for_version(server: PreviewServer, above: int, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, _, body = get(server.url + "version")
        version = int(json.loads(body)["version"])
        if version > above:
            return version
        time.sleep(0.1)
    raise AssertionError(f"the preview did not notice the change within {timeout} s")


def test_preview_serves_page_email_assets_and_reloads_on_change(project: Path) -> None:
    """The page has the desktop/mobile toggle and language switch; an edit shows up after reload."""
    server = PreviewServer(SAMPLE, None, free_port()).start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        status, ctype, page = get(server.url)
        assert status == 200 and ctype.startswith("text/html")
        assert b"Mobile 375 px" in page and b"Desktop 600 px" in page
        assert b'<select id="lang">' in page and b'value="tr"' in page
        _, _, email = get(server.url + "email?lang=en")
        assert b"Why Gaziantep Still Matters" in email
        status, ctype, image = get(server.url + "assets/gaziantep.jpg")
        assert status == 200 and ctype == "image/jpeg"
        assert image == Path("issues/assets/gaziantep.jpg").read_bytes()
        version = json.loads(get(server.url + "version")[2])["version"]
        time.sleep(0.5)  # let the watcher start
        SAMPLE.write_text(
            SAMPLE.read_text(encoding="utf-8").replace(
                "Why Gaziantep Still Matters", "Why Gaziantep Matters More Than Ever"
            ),
            encoding="utf-8",
        )
        wait_for_version(server, version)
        _, _, email = get(server.url + "email?lang=en")
        assert b"Why Gaziantep Matters More Than Ever" in email
    finally:
        server.stop()


def test_preview_shows_an_error_page_and_recovers(project: Path) -> None:
    """A broken issue shows its error in the page; fixing the file brings the issue back."""
    good = SAMPLE.read_text(encoding="utf-8")
    server = PreviewServer(SAMPLE, None, free_port()).start()
    try:
        time.sleep(0.5)
        version = json.loads(get(server.url + "version")[2])["version"]
        SAMPLE.write_text(good.replace("type: highlights", "type: highlight"), encoding="utf-8")
        version = wait_for_version(server, version)
        _, _, email = get(server.url + "email")
        assert b"The issue does not build" in email and b"did you mean" in email
        SAMPLE.write_text(good, encoding="utf-8")
        wait_for_version(server, version)
        _, _, email = get(server.url + "email")
        assert b"IOM Turkey Highlights" in email
    finally:
        server.stop()


def test_preview_reloads_when_the_config_changes(project: Path) -> None:
    """Editing mailer.toml (here: the newsletter's name) shows up in the preview."""
    server = PreviewServer(SAMPLE, None, free_port()).start()
    try:
        assert Path("mailer.toml").resolve() in server.preview.watch_paths()
        version = json.loads(get(server.url + "version")[2])["version"]
        time.sleep(0.5)
        toml = Path("mailer.toml")
        toml.write_text(
            toml.read_text(encoding="utf-8").replace(
                'name = "IOM Turkey Newsletter"', 'name = "IOM Türkiye Bulletin"'
            ),
            encoding="utf-8",
        )
        wait_for_version(server, version)
        _, _, email = get(server.url + "email?lang=en")
        assert "IOM Türkiye Bulletin".encode() in email
    finally:
        server.stop()


def test_preview_fills_merge_fields_and_unsubscribe_opens_an_explanation(project: Path) -> None:
    """The preview shows the [preview] sample's name, no %%…%% token, and its Unsubscribe
    link opens a local page saying where readers unsubscribe."""
    SAMPLE.write_text(
        SAMPLE.read_text(encoding="utf-8").replace(
            "IOM Deputy Director General",
            'Dear {{ subscriber.first_name | default("friend") }}, IOM Deputy Director General',
            1,
        ),
        encoding="utf-8",
    )
    server = PreviewServer(SAMPLE, None, free_port()).start()
    try:
        for lang in ("en", "tr"):
            _, _, email = get(server.url + f"email?lang={lang}")
            page = email.decode()
            assert "%%" not in page, lang
            assert 'href="/unsubscribe-preview"' in page and 'href="/email?lang=' in page
        assert "Dear Ayşe, IOM" in get(server.url + "email?lang=en")[2].decode()
        status, ctype, body = get(server.url + "unsubscribe-preview")
        assert status == 200 and ctype.startswith("text/html")
        text = body.decode()
        assert "This is where readers unsubscribe" in text
        assert "unsubscribe@turkey.iom.int" in text  # no base_url: readers email this address
    finally:
        server.stop()


def read_event(lines: Iterator[str], deadline: float) -> dict[str, str]:
    """The next server-sent event (its fields) from *lines*, before *deadline*."""
    fields: dict[str, str] = {}
    for line in lines:
        if time.monotonic() > deadline:
            break
        if not line:
            if fields:
                return fields
            continue
        if line.startswith(":"):
            continue  # a keep-alive comment
        name, _, value = line.partition(":")
        fields[name] = value.removeprefix(" ")
    raise AssertionError("no event arrived in time")


def test_preview_pushes_a_change_as_a_server_sent_event(project: Path) -> None:
    """/events sends the current version at once, then a new version as soon as the issue file
    is saved, after which /email serves the edit; a page (re)connecting later gets the new
    version first, so a dropped connection never misses a change."""
    server = PreviewServer(SAMPLE, None, free_port()).start()
    try:
        _, _, page = get(server.url)
        assert b'new EventSource("/events")' in page and b"/version" not in page
        with httpx.Client(timeout=httpx.Timeout(15.0)) as client:
            with client.stream("GET", server.url + "events") as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
                lines = stream.iter_lines()
                first = read_event(lines, time.monotonic() + 15)
                assert first["event"] == "version" and first["retry"] == "500"
                before = json.loads(first["data"])["version"]
                time.sleep(0.5)  # let the watcher start
                SAMPLE.write_text(
                    SAMPLE.read_text(encoding="utf-8").replace(
                        "Why Gaziantep Still Matters", "Why Gaziantep Is Pushed"
                    ),
                    encoding="utf-8",
                )
                pushed = read_event(lines, time.monotonic() + 15)
                assert pushed["event"] == "version"
                after = json.loads(pushed["data"])["version"]
                assert after > before
                assert b"Why Gaziantep Is Pushed" in get(server.url + "email?lang=en")[2]
            with client.stream("GET", server.url + "events") as again:
                event = read_event(again.iter_lines(), time.monotonic() + 15)
                assert json.loads(event["data"])["version"] >= after
    finally:
        server.stop()


def test_preview_rebuilds_a_shown_language_as_soon_as_a_file_changes(project: Path) -> None:
    """After a save, the watcher rebuilds the language a page shows without waiting for the
    page to ask, and a new translation file shows up in the language list."""
    server = PreviewServer(SAMPLE, None, free_port()).start()
    preview = server.preview
    try:
        get(server.url + "email?lang=tr")
        assert "xx" not in preview.languages()
        time.sleep(0.5)  # let the watcher start
        version = preview.version
        SAMPLE.with_name("2018-03-iom-turkey.xx.yaml").write_text(
            "subject: XX subject\n", encoding="utf-8"
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            cached = preview.built("tr")
            if preview.version > version and cached and cached[0] == preview.version:
                break
            time.sleep(0.02)
        else:
            raise AssertionError("the shown language was not rebuilt after the change")
        assert "İzmir" in cached[1] or "Gaziantep" in cached[1]
        assert "xx" in preview.languages()
    finally:
        server.stop()


def test_preview_images_have_versioned_addresses_the_browser_keeps(project: Path) -> None:
    """The email asks for each image at ``assets/NAME?v=STAMP``, served cacheable for good
    (so a reload asks only for the HTML), and replacing an image gives it a new address
    serving the new bytes; the bare address still revalidates."""
    server = PreviewServer(SAMPLE, None, free_port()).start()
    try:
        _, _, email = get(server.url + "email?lang=en")
        found = re.search(rb'src="(assets/gaziantep\.jpg\?v=[0-9a-f]+-[0-9a-f]+)"', email)
        assert found, "the image's address is not versioned"
        assert b'src="assets/gaziantep.jpg"' not in email
        first = found[1].decode()
        with urllib.request.urlopen(server.url + first, timeout=30) as response:
            assert "immutable" in response.headers["Cache-Control"]
            assert response.read() == Path("issues/assets/gaziantep.jpg").read_bytes()
        with urllib.request.urlopen(server.url + "assets/gaziantep.jpg", timeout=30) as response:
            assert response.headers["Cache-Control"] == "no-cache"
        version = json.loads(get(server.url + "version")[2])["version"]
        time.sleep(0.5)  # let the watcher start
        new_bytes = Path("issues/assets/delbaz.jpg").read_bytes()
        Path("issues/assets/gaziantep.jpg").write_bytes(new_bytes)
        wait_for_version(server, version)
        _, _, email = get(server.url + "email?lang=en")
        found = re.search(rb'src="(assets/gaziantep\.jpg\?v=[0-9a-f]+-[0-9a-f]+)"', email)
        assert found and found[1].decode() != first
        _, _, image = get(server.url + found[1].decode())
        assert image == new_bytes
    finally:
        server.stop()
