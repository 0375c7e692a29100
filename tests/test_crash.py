"""Kill -9 a sending process at random moments, resume each time: nobody gets it twice.

The receiving server (aiosmtpd, or the fault server standing in for SendGrid) runs in
this process and keeps its own log of every address it accepted; the sender is a
subprocess killed with SIGKILL mid-send, then started again, several times.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from faultserver import FaultServer
from mailer import db
from mailer.config import load_config
from mailer.delivery.send import store_contents
from support import delivery_statuses, free_port
from test_send import rendered, seed

N = 5000
KILLS = 4
DRIVER = """
import sys
from mailer import db
from mailer.config import load_config
from mailer.delivery.send import run_campaign
config = load_config(sys.argv[1])
result = run_campaign(db.connect(config.database_url), config, int(sys.argv[2]))
print(result.status, result.accepted, result.unknown)
"""

TOML = """
name = "Crash test"
database_url = "sqlite:///{db}"
backend = "{backend}"
[sender]
from_name = "IOM Turkey"
from_email = "newsletter@example.org"
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
timeout = 10
[sending]
batch_size = {batch}
timeout = 5
max_backoff = 0.05
concurrency = {concurrency}
"""


def _run(cmd: list[str], env: dict[str, str], log_size: Callable[[], int], at: int | None) -> int:
    """Run the sender; with *at*, SIGKILL it once the server has logged *at* messages."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    if at is None:
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        return 0
    while proc.poll() is None and time.monotonic() < deadline:
        if log_size() >= at:
            time.sleep(random.uniform(0, 0.02))
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    proc.wait(timeout=10)
    proc.communicate()
    return int(proc.returncode or 0)


@pytest.mark.slow
@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("backend", ["smtp", "sendgrid"])
def test_kill_9_and_resume_sends_each_address_once(
    backend: str, concurrency: int, tmp_path: Path
) -> None:
    """Killed at random moments (with *concurrency* batches in flight) and resumed, every
    address reaches the server at most once, and every address is accepted or held unknown."""
    from aiosmtpd.controller import Controller

    seed_value = int(os.environ.get("MAILER_CRASH_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed_value)
    print(f"crash test seed {seed_value} (MAILER_CRASH_SEED to replay)")

    class Handler:
        def __init__(self) -> None:
            self.log: list[str] = []

        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            self.log.extend(envelope.rcpt_tos)  # type: ignore[attr-defined]
            return "250 2.0.0 queued"

    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    fault = FaultServer(delay=0.01)
    controller.start()
    fault.__enter__()
    try:
        config_path = tmp_path / "mailer.toml"
        config_path.write_text(
            TOML.format(
                db=tmp_path / "mailer.db",
                backend=backend,
                port=controller.port,
                batch=100 if backend == "sendgrid" else 200,
                concurrency=concurrency,
            )
        )
        config = load_config(config_path)
        engine = db.connect(config.database_url)
        seed(engine, N)
        from mailer.delivery.send import create_campaign

        cid = create_campaign(engine, config, "issues/2018-03-iom-turkey.yaml", "partners")
        store_contents(engine, config, cid, [rendered("en")])
        db.dispose_all()

        env = dict(os.environ)
        env.update(SENDGRID_API_KEY="SG.crash-test-key", MAILER_SENDGRID_HOST=fault.url)
        env.pop("MAILER_DATABASE_URL", None)
        cmd = [sys.executable, "-c", DRIVER, str(config_path), str(cid)]
        log = handler.log if backend == "smtp" else fault.accepted
        started = time.monotonic()
        targets = sorted(rnd.sample(range(N // 20, N - N // 20), KILLS))
        killed = 0
        for at in targets:
            if _run(cmd, env, lambda: len(log), at) == -signal.SIGKILL:
                killed += 1
        _run(cmd, env, lambda: len(log), None)
        elapsed = time.monotonic() - started
    finally:
        fault.__exit__()
        controller.stop()

    assert killed >= KILLS - 1, "the sender should have been killed mid-send"
    counts = Counter(log)
    assert max(counts.values()) == 1, [a for a, n in counts.items() if n > 1][:5]
    engine = db.connect(config.database_url)
    status = delivery_statuses(engine)
    everyone = {f"user{i:05d}@example.com" for i in range(N)}
    assert set(status) == everyone
    accepted = {e for e, st in status.items() if st == "accepted"}
    unknown = {e for e, st in status.items() if st == "unknown"}
    assert accepted | unknown == everyone
    assert accepted <= set(log), "accepted means the server has it"
    assert set(log) <= accepted | unknown
    # each kill leaves at most one batch (SendGrid) or one message (SMTP) per lane unknown
    assert len(unknown) <= KILLS * concurrency * (100 if backend == "sendgrid" else 1)
    assert elapsed < 120
    print(
        f"{backend} x{concurrency}: killed {killed}x, {len(accepted)} accepted, "
        f"{len(unknown)} unknown, {elapsed:.1f}s"
    )
