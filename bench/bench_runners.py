"""More runners, one campaign: 4 `mailer run-due` started together vs 1, on PostgreSQL.

* a throwaway PostgreSQL cluster started by the bench (``tests/support.PostgresServer``);
* one due SendGrid campaign of ``BENCH_RUNNERS_N`` recipients (default 40,000, inserted in
  bulk), ``[sending] concurrency = 1`` and batches of 1,000;
* a local server that answers 202 after ``BENCH_SEND_LATENCY`` seconds (default 0.15) and
  logs every address it accepted (``tests/faultserver.FaultServer``);
* each run on its own fresh database: the wall time from starting the runners to the last
  one's exit (``BENCH_RUNNERS_STAGGER``: seconds between the 4 runners' starts, default 0),
  the send time (the campaign's ``started_at`` to ``finished_at``), when the last runner
  prepared its first batch (process start-up: imports, configuration, claim) and how long
  after the campaign was sent the last process exited; then the CPU of one ``run-due``
  that finds nothing due (start-up and exit alone, the least of 3).

The seeded tables are analysed while ``deliveries`` is empty, so the planner believes it
empty while it fills during the send (what a real database shows for a new campaign).

Every run checks that every recipient was accepted exactly once (ledger and server log).
Figures are printed, not asserted. Run: ``python -m bench runners``.

Beside the runners' own CPU, each run prints the CPU of the PostgreSQL cluster (its
postmaster, the backends it reaped and those still alive, from ``/proc``) and of this
process (the local server parsing every request's body) while the runners ran, against
the wall time times the cores: with four runners on two cores the machine is near its
limit, and a batch waits for a core rather than for a lock.

mailer's own modules are byte-compiled first (``python -m compileall src``, as ``make
install`` does): with ``PYTHONDONTWRITEBYTECODE=1`` a module changed since its last
compilation would otherwise be compiled again by every runner at every start.
"""

from __future__ import annotations

import compileall
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # PostgresServer, FaultServer: the tests' own

SECRET = "bench-secret-key-0123456789abcdef"
MAILER = str(Path(sys.executable).parent / "mailer")
TOML = """\
name = "Runners bench"
backend = "sendgrid"
[sender]
from_name = "IOM Turkey"
from_email = "newsletter@example.org"
unsubscribe_mailto = "u@example.org"
[tracking]
base_url = "https://news.example.org"
[sending]
batch_size = 1000
concurrency = 1
timeout = 30
[schedule]
max_delay = "6h"
"""
HTML = (
    "<html><body>"
    + "<p>Story text that is long enough to look like a newsletter paragraph.</p>" * 150
    + '<p>Hello %%first_name%%</p><a href="%%unsubscribe_url%%">Unsubscribe</a></body></html>'
)
TEXT = "Hello %%first_name%%\n" + "Story text.\n" * 150 + "Unsubscribe: %%unsubscribe_url%%\n"


def _seed(url: str, root: Path, n: int) -> int:
    """*n* subscribed members of `all` (one bulk insert each) and a campaign due now."""
    from datetime import timedelta

    from sqlalchemy import literal, select, text

    from mailer import db
    from mailer.config import load_config
    from mailer.delivery.send import create_campaign, store_contents
    from mailer.rendered import MergeField, Rendered

    os.environ["MAILER_SECRET_KEY"] = SECRET
    config = load_config(root / "mailer.toml")
    engine = db.connect(url)
    emails = [f"user{i:07d}@example.com" for i in range(n)]
    with db.transaction(engine) as conn:
        list_id = db.get_or_create_list(conn, "all")
        conn.execute(
            db.subscribers.insert(),
            [
                {"email": e, "email_key": e, "name": f"Reader{i}", "attributes": {}}
                for i, e in enumerate(emails)
            ],
        )
        subs = db.subscribers
        conn.execute(
            db.memberships.insert().from_select(
                ["list_id", "subscriber_id", "created_at"],
                select(literal(list_id), subs.c.id, subs.c.created_at),
            )
        )
    cid = create_campaign(
        engine,
        config,
        "issues/bench.yaml",
        "all",
        backend="sendgrid",
        status="scheduled",
        scheduled_at=db.utcnow() - timedelta(seconds=1),
        slug="bench",
    )
    rendered = Rendered(
        "bench",
        "en",
        "ltr",
        "News",
        "",
        "",
        HTML,
        TEXT,
        merge_fields=(MergeField("%%first_name%%", "first_name", "friend"),),
    )
    store_contents(engine, config, cid, [rendered])
    with engine.connect() as conn:  # the planner's view of the fresh tables
        conn.execute(text("ANALYZE"))
        conn.commit()
    engine.dispose()
    return cid


def _pg_cpu(pg: object) -> float | None:
    """CPU seconds (user + system) of the cluster so far: the postmaster, the children it
    reaped (every backend that exited) and those alive; None where ``/proc`` is not."""
    try:
        pid = int((Path(pg.data) / "postmaster.pid").read_text().split()[0])  # type: ignore[attr-defined]
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            if int(entry.name) == pid:  # its own and its reaped children's
                total += sum(int(v) for v in fields[11:15])
            elif int(fields[1]) == pid:
                total += int(fields[11]) + int(fields[12])
        return total / tick
    except (OSError, ValueError, IndexError):
        return None


def _run(
    pg: object, root: Path, runners: int, n: int, latency: float, stagger: float = 0.0
) -> dict[str, float]:
    """One campaign of *n* sent by *runners* `mailer run-due` started together (or
    *stagger* seconds apart; the wall time still counts from the first start)."""
    from sqlalchemy import func, select

    from faultserver import FaultServer
    from mailer import db

    url = pg.create_database()
    cid = _seed(url, root, n)
    with FaultServer(delay=latency) as server:
        env = {
            **os.environ,
            "MAILER_DATABASE_URL": url,
            "SENDGRID_API_KEY": "SG.bench-runners-key",
            "MAILER_SENDGRID_HOST": server.url,
            "MAILER_SECRET_KEY": SECRET,
            "NO_COLOR": "1",
        }
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        pg_before, own_before = _pg_cpu(pg), time.process_time()
        started, started_at = time.perf_counter(), db.utcnow()
        procs = []
        for i in range(runners):
            if i and stagger:
                time.sleep(stagger)
            procs.append(
                subprocess.Popen(
                    [MAILER, "run-due"],
                    cwd=root,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
        errors = [p.communicate(timeout=600)[1] for p in procs]
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = time.process_time() - own_before
        time.sleep(0.2)  # the runners' backends end with their connections
        pg_after = _pg_cpu(pg)
        log = Counter(server.accepted)
        idle = min(_idle_cpu(env, root) for _ in range(3))
    bad = [
        (p.returncode, e.decode()[-500:])
        for p, e in zip(procs, errors, strict=True)
        if p.returncode
    ]
    assert not bad, bad
    engine = db.connect(url)
    c, d = db.campaigns, db.deliveries
    with db.read(engine) as conn:
        row = conn.execute(select(c).where(c.c.id == cid)).mappings().one()
        accepted = conn.execute(  # each delivery's status as mailer reads it (db.held)
            select(func.count(d.c.id.distinct()))
            .select_from(db.held.with_batch())
            .where(d.c.campaign_id == cid, db.held.status_of() == "accepted")
        ).scalar_one()
        b = db.batches
        firsts = [
            (first - started_at).total_seconds()
            for (first,) in conn.execute(
                select(func.min(b.c.created_at)).where(b.c.campaign_id == cid).group_by(b.c.owner)
            )
        ]
        owners = len(firsts)
    engine.dispose()
    assert row["status"] == "sent", row["status"]
    assert accepted == n, (accepted, n)
    assert len(log) == n and max(log.values()) == 1, "every recipient accepted exactly once"
    return {
        "wall": wall,
        "send": (row["finished_at"] - row["started_at"]).total_seconds(),
        "runners_with_batches": float(owners),
        # start-up: from starting the processes to each runner's first batch (imports,
        # configuration, claim), and from the campaign sent to the last process's exit
        "first_batch": max(firsts),
        "first_first_batch": min(firsts),
        "tail": wall - (row["finished_at"] - started_at).total_seconds(),
        # the runners' own CPU (user + system): what the load of the machine does not move
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        # one runner's start-up and exit alone (`run-due` with nothing due): the CPU each
        # more runner needs before it sends anything
        "idle_cpu": idle,
        # what else ran meanwhile: the cluster, and this process's local server
        "pg_cpu": -1.0 if pg_before is None or pg_after is None else pg_after - pg_before,
        "server_cpu": own,
    }


def _idle_cpu(env: dict[str, str], root: Path) -> float:
    """The CPU (user + system) of one `mailer run-due` that finds nothing due."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([MAILER, "run-due"], cwd=root, env=env, capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    from support import PostgresServer

    compileall.compile_dir(ROOT / "src" / "mailer", quiet=1)  # as `make install` does
    n = int(os.environ.get("BENCH_RUNNERS_N", "40000"))
    latency = float(os.environ.get("BENCH_SEND_LATENCY", "0.15"))
    stagger = float(os.environ.get("BENCH_RUNNERS_STAGGER", "0"))
    pg = PostgresServer()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-runners-") as tmp:
            root = Path(tmp)
            (root / "mailer.toml").write_text(TOML, encoding="utf-8")
            one = _run(pg, root, 1, n, latency)
            four = _run(pg, root, 4, n, latency, stagger)
    finally:
        pg.stop()
    for label, r in (("1 runner ", one), ("4 runners", four)):
        print(
            f"{label}: {n:,} recipients, server answering after {latency * 1000:.0f} ms, "
            f"concurrency 1: {r['wall']:.2f} s wall ({n / r['wall']:,.0f}/s), "
            f"{r['send']:.2f} s from start to sent; batches sent by "
            f"{r['runners_with_batches']:.0f} runner(s), their first batches after "
            f"{r['first_first_batch']:.2f}-{r['first_batch']:.2f} s, exit {r['tail']:.2f} s "
            f"after sent; runners' CPU {r['cpu']:.2f} s; every recipient "
            "accepted exactly once"
        )
    cores = os.cpu_count() or 1
    for label, r in (("1 runner ", one), ("4 runners", four)):
        pg_cpu = f"{r['pg_cpu']:.2f} s" if r["pg_cpu"] >= 0 else "unknown"
        used = r["cpu"] + max(r["pg_cpu"], 0.0) + r["server_cpu"]
        print(
            f"{label}: CPU while they ran: runners {r['cpu']:.2f} s + PostgreSQL {pg_cpu} + "
            f"local server {r['server_cpu']:.2f} s = {used:.2f} s of {cores} core(s) x "
            f"{r['wall']:.2f} s wall ({used / (cores * r['wall']):.0%})"
        )
    if stagger:
        print(f"(the 4 runners were started {stagger:.2f} s apart)")
    print(
        f"4 runners vs 1: {one['wall'] / four['wall']:.2f}x faster (wall), "
        f"{one['send'] / four['send']:.2f}x (start to sent); "
        f"+{four['cpu'] - one['cpu']:.2f} s CPU for the 3 more runners"
    )
    print(
        f"start-up and exit of one runner with nothing due: {one['idle_cpu']:.2f} s CPU; "
        f"4 starting together on {cores} core(s) need at least "
        f"{4 * one['idle_cpu'] / min(cores, 4):.2f} s before all of them send"
    )


if __name__ == "__main__":
    main()
