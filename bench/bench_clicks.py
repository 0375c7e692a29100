"""Click redirects per second and latency of `mailer serve` (one uvicorn worker, SQLite).

A campaign with 2,000 subscribers, their accepted deliveries and its links is
prepared in a temporary SQLite database; one uvicorn worker serves it on 127.0.0.1;
bounded loads (REQUESTS GETs of tracked links over 16 and then 32 keep-alive
connections, from a raw asyncio HTTP/1.1 client so the load generator costs less than
the server) measure redirects/s and latency percentiles. The server is then stopped
with SIGTERM and the events table counted: a clean shutdown must lose no click.

    python -m bench clicks
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REQUESTS = 5_000
ROUNDS = (16, 32)  # concurrent connections per round
SUBSCRIBERS = 2_000
SECRET = "bench-secret-key-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare(root: Path) -> tuple[list[str], object]:
    """A config, a database with one tracked campaign; returns the click paths and engine."""
    from mailer import db
    from mailer.config import load_config
    from mailer.rendered import Link, Rendered
    from mailer.tracking import rewrite as tracking
    from mailer.tracking.tokens import Signer

    (root / "mailer.toml").write_text(
        f'database_url = "sqlite:///{root / "bench.db"}"\n'
        '[tracking]\nbase_url = "https://news.example.org"\n',
        encoding="utf-8",
    )
    config = load_config(root / "mailer.toml")
    engine = db.connect(config.database_url)
    links = tuple(
        Link(f"https://example.org/story-{i}?utm_content=s{i}", f"s{i}", "read_more")
        for i in range(20)
    )
    body = "".join(f'<a href="{link.url}">x</a>' for link in links)
    rendered = Rendered("bench", "en", "ltr", "s", "", "", f"<body>{body}</body>", "", links)
    with db.transaction(engine) as conn:
        list_id = db.get_or_create_list(conn, "bench")
        cid = int(
            conn.execute(
                db.campaigns.insert().values(
                    issue_slug="bench", issue_path="/b.yaml", list_id=list_id, backend="outbox"
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
        conn.execute(
            db.subscribers.insert(),
            [{"email": f"r{i}@ex.org", "email_key": f"r{i}@ex.org"} for i in range(SUBSCRIBERS)],
        )
        accepted = db.utcnow() - timedelta(hours=1)  # outside the scanner window
        conn.execute(
            db.deliveries.insert(),
            [
                {
                    "campaign_id": cid,
                    "subscriber_id": i,
                    "status": "accepted",
                    "accepted_at": accepted,
                }
                for i in range(1, SUBSCRIBERS + 1)
            ],
        )
        os.environ["MAILER_SECRET_KEY"] = SECRET
        tracking.prepare(conn, cid, rendered, config)
        link_ids = [
            int(r[0]) for r in conn.execute(db.links.select().with_only_columns(db.links.c.id))
        ]
    sign = Signer(SECRET.encode())
    paths = [
        f"/c/{sign.link(cid, random.choice(link_ids))}/{sign.recipient(cid, sub)}"
        for sub in (random.randint(1, SUBSCRIBERS) for _ in range(REQUESTS))
    ]
    return paths, engine


async def _worker(port: int, paths: list[str], latencies: list[float], bad: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for path in paths:
            start = time.perf_counter()
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not head.startswith(b"HTTP/1.1 302"):
                bad.append(1)
    finally:
        writer.close()


async def _load(port: int, paths: list[str], conns: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    bad: list[int] = []
    chunks = [paths[i::conns] for i in range(conns)]
    start = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(_worker(port, c, latencies, bad) for c in chunks)), timeout=120
    )
    return time.perf_counter() - start, latencies, len(bad)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def main() -> None:
    from sqlalchemy import func, select

    from mailer import db

    with tempfile.TemporaryDirectory(prefix="mailer-bench-clicks-") as tmp:
        root = Path(tmp)
        paths, engine = _prepare(root)
        port = _free_port()
        env = {
            **os.environ,
            "MAILER_CONFIG": str(root / "mailer.toml"),
            "MAILER_SECRET_KEY": SECRET,
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "mailer.web.server:app_from_env",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    time.sleep(0.1)
            asyncio.run(_load(port, paths[:500], 16))  # warm-up: caches, connections
            results = [(n, asyncio.run(_load(port, paths, n))) for n in ROUNDS]
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        with db.read(engine) as conn:  # type: ignore[arg-type]
            written = conn.execute(select(func.count()).select_from(db.events)).scalar()
        db.dispose_all()
    try:
        import httptools  # noqa: F401

        parser = "httptools"
    except ImportError:
        parser = "h11"
    print(f"server: 1 uvicorn worker ({parser}), SQLite; {REQUESTS} GET /c/ per round, 127.0.0.1")
    for conns, (elapsed, latencies, bad) in results:
        print(
            f"{conns:>2} connections: {REQUESTS / elapsed:,.0f} redirects/s ({bad} not 302); "
            f"latency ms p50 {_pct(latencies, 0.50):.1f}  p90 {_pct(latencies, 0.90):.1f}  "
            f"p99 {_pct(latencies, 0.99):.1f}  max {max(latencies) * 1000:.1f}"
        )
    total = REQUESTS * len(ROUNDS) + 500
    print(f"clicks recorded after SIGTERM: {written} of {total} (none lost: {written == total})")


if __name__ == "__main__":
    main()
