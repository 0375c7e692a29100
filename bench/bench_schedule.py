"""Scheduled sends: what a run-due every minute costs, and how fast campaigns are claimed.

* cold `mailer run-due` with nothing due (the cron-every-minute cost), median of 5 processes,
  wall and CPU (mailer's src byte-compiled first, as ``make install`` does);
* ``run_due`` in-process over 10,000 future campaigns (nothing due): the selection queries;
* ``claim_next`` by 4 threads over 2,000 due campaigns on one SQLite file: claims per second
  (each claim is its own BEGIN IMMEDIATE transaction).

Figures are printed, not asserted. Run: ``python -m bench schedule``.
"""

from __future__ import annotations

import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from mailer import db
from mailer.config import Config, Settings
from mailer.schedule.worker import claim_next, run_due

NOW = datetime(2026, 12, 1, 6, 0)
MAILER = Path(sys.executable).with_name("mailer")


def _fill(engine: object, count: int, start: datetime) -> None:
    with db.transaction(engine) as conn:  # type: ignore[arg-type]
        list_id = db.get_or_create_list(conn, "partners")
        conn.execute(
            db.campaigns.insert(),
            [
                {
                    "issue_slug": "s",
                    "issue_path": "s.yaml",
                    "list_id": list_id,
                    "status": "scheduled",
                    "backend": "memory",
                    "scheduled_at": start + timedelta(seconds=i),
                    "schedule_tz": "UTC",
                }
                for i in range(count)
            ],
        )


def cold_cli(folder: Path) -> None:
    env = {**os.environ, "MAILER_DATABASE_URL": f"sqlite:///{folder / 'cli.db'}"}
    subprocess.run(
        [str(MAILER), "-q", "run-due"], env=env, cwd=folder, check=True
    )  # creates the db
    times, cpus = [], []
    for _ in range(5):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([str(MAILER), "-q", "run-due"], env=env, cwd=folder, check=True)
        times.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    print(
        f"cold `mailer run-due`, nothing due: median {statistics.median(times) * 1000:.0f} ms "
        f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}), CPU median "
        f"{statistics.median(cpus) * 1000:.0f} ms (min {min(cpus) * 1000:.0f})"
    )


def idle_run_due(folder: Path) -> None:
    engine = db.connect(f"sqlite:///{folder / 'idle.db'}")
    _fill(engine, 10_000, NOW + timedelta(hours=1))
    config = Config(settings=Settings(), path=None, root=folder)
    run_due(engine, config, clock=lambda: NOW)
    rounds = 50
    started = time.perf_counter()
    for _ in range(rounds):
        run_due(engine, config, clock=lambda: NOW)
    per = (time.perf_counter() - started) / rounds
    print(f"run_due over 10,000 future campaigns, nothing due: {per * 1000:.2f} ms per call")


def claims(folder: Path, threads: int = 4, count: int = 2000) -> None:
    engine = db.connect(f"sqlite:///{folder / 'claims.db'}")
    _fill(engine, count, NOW - timedelta(hours=1))
    taken: list[int] = []
    lock = threading.Lock()

    def worker(me: str) -> None:
        while True:
            got = claim_next(engine, now=NOW, me=me, max_delay=timedelta(hours=6))
            if got is None:
                return
            with lock:
                taken.append(got.campaign_id)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(f"bench:{n}",)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    dupes = len(taken) - len(set(taken))
    print(
        f"claim_next, {threads} threads, {count} due campaigns on SQLite: "
        f"{len(taken) / elapsed:,.0f} claims/s, {dupes} claimed twice"
    )


def main() -> None:
    # mailer's own modules byte-compiled first, as `make install` does: with
    # PYTHONDONTWRITEBYTECODE=1 a stale module would be compiled again by every cold start
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "src" / "mailer", quiet=1)
    with tempfile.TemporaryDirectory(prefix="bench-schedule-") as tmp:
        folder = Path(tmp)
        cold_cli(folder)
        idle_run_due(folder)
        claims(folder)
    db.dispose_all()


if __name__ == "__main__":
    main()
