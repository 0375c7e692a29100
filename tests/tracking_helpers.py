"""Helpers for the tracking, server, webhook and stats tests: a config, a seeded
campaign (list, subscribers, deliveries, links registered by ``tracking.prepare``) and a
real uvicorn server on 127.0.0.1 in a thread."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import func, select

from mailer import db
from mailer.config import Config, load_config
from mailer.rendered import Link, Rendered
from mailer.tracking import rewrite as tracking
from support import free_port, wait_port

SECRET = "test-secret-key-0123456789abcdef"
BASE = "https://news.example.org"

LINKS = (
    Link("https://example.org/story-1?utm_content=hero&utm_source=newsletter", "hero", "read_more"),
    Link(
        "https://www.facebook.com/sharer/sharer.php?u=https%3A%2F%2Fexample.org%2Fstory-1"
        "%3Futm_source%3Dfacebook%26utm_medium%3Dsocial",
        "hero",
        "share:facebook",
    ),
    Link("https://twitter.com/intent/tweet?url=https%3A%2F%2Fexample.org%2Fs1", "hero", "share:x"),
    Link("https://example.org/story-2?utm_content=grid-1", "grid-1", "read_more"),
    Link("https://www.linkedin.com/company/iom", "footer", "follow:linkedin"),
    Link("mailto:?subject=Story&body=https%3A%2F%2Fexample.org%2Fs1", "hero", "share:email"),
    Link("mailto:press@example.org", "footer", "other"),
)


def write_config(root: Path, db_url: str, **tracking_opts: Any) -> Config:
    """A mailer.toml in *root* using *db_url*, with [tracking] options."""
    lines = [
        'name = "Test Newsletter"',
        'organisation = "Example Org & Partners"',
        f'database_url = "{db_url}"',
        'website = "https://example.org"',
        "[sender]",
        'from_email = "news@example.org"',
        'unsubscribe_mailto = "leave@example.org"',
        "[tracking]",
    ]
    for key, value in tracking_opts.items():
        lines.append(f"{key} = {json.dumps(value)}")  # JSON scalars are TOML scalars
    path = root / "mailer.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_config(path)


def rendered(links: tuple[Link, ...] = LINKS, language: str = "en") -> Rendered:
    """A small Rendered whose HTML and text use every link of *links*."""
    import html as h

    body = "".join(f'<p><a href="{h.escape(link.url)}">{link.kind}</a></p>' for link in links)
    text = "\n".join(f"{link.kind}: {link.url}" for link in links)
    return Rendered(
        slug="2018-03-test",
        language=language,
        direction="ltr",
        subject="Test issue",
        preheader="",
        mjml="",
        html=(
            f'<html><body><a href="%%view_url%%">View</a>{body}'
            '<p>Hello %%first_name%%</p><a href="%%unsubscribe_url%%">Unsubscribe</a></body></html>'
        ),
        text=f"View: %%view_url%%\n{text}\nUnsubscribe: %%unsubscribe_url%%\n",
        links=links,
    )


@dataclass
class Seeded:
    config: Config
    engine: Any
    campaign_id: int
    subscribers: list[int]
    links: dict[str, int]  # url -> link id
    html: str
    text: str


def seed(config: Config, *, n_subscribers: int = 3, accepted_ago: float = 3600.0) -> Seeded:
    """A list, subscribers, one campaign with contents, accepted deliveries, links."""
    engine = db.connect(config.database_url)
    with db.transaction(engine) as conn:
        list_id = db.get_or_create_list(conn, "partners")
        subs = []
        for i in range(n_subscribers):
            sid = conn.execute(
                db.subscribers.insert().values(
                    email=f"reader{i}@example.net", email_key=f"reader{i}@example.net", name=f"R{i}"
                )
            ).inserted_primary_key[0]
            conn.execute(db.memberships.insert().values(list_id=list_id, subscriber_id=sid))
            subs.append(int(sid))
        cid = int(
            conn.execute(
                db.campaigns.insert().values(
                    issue_slug="2018-03-test",
                    issue_path="/x/2018-03-test.yaml",
                    list_id=list_id,
                    status="sent",
                    backend="outbox",
                )
            ).inserted_primary_key[0]
        )
        r = rendered()
        prepared = tracking.prepare(conn, cid, r, config)
        conn.execute(
            db.campaign_contents.insert().values(
                campaign_id=cid,
                language="en",
                subject=prepared.subject,
                html=prepared.html,
                text=prepared.text,
                merge_fields=[
                    {"token": "%%first_name%%", "field": "first_name", "fallback": "friend"}
                ],
            )
        )
        accepted = db.utcnow() - timedelta(seconds=accepted_ago)
        for sid in subs:
            conn.execute(
                db.deliveries.insert().values(
                    campaign_id=cid, subscriber_id=sid, status="accepted", accepted_at=accepted
                )
            )
        link_rows = conn.execute(
            select(db.links.c.url, db.links.c.id).where(db.links.c.campaign_id == cid)
        ).all()
    return Seeded(
        config, engine, cid, subs, {u: int(i) for u, i in link_rows}, prepared.html, prepared.text
    )


def count_events(engine: Any, type_: str | None = None) -> int:
    """Rows in events (of *type_*)."""
    q = select(func.count()).select_from(db.events)
    if type_:
        q = q.where(db.events.c.type == type_)
    with db.read(engine) as conn:
        return int(conn.execute(q).scalar() or 0)


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    """Poll *predicate* until true (bounded in time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


@contextmanager
def live_server(app: Any, port: int | None = None) -> Iterator[str]:
    """Run *app* with uvicorn on 127.0.0.1:*port* (by default a free one) in a thread;
    yields the base URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_port(port, timeout=20)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def raw_get(base: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, str | None]:
    """(status, Location) of one GET with http.client: httpx refuses to parse a
    ``mailto:`` Location (share-by-email links redirect there)."""
    import http.client
    from urllib.parse import urlsplit

    netloc = urlsplit(base).netloc
    conn = http.client.HTTPConnection(netloc, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("location")
    finally:
        conn.close()
