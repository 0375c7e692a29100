"""Shared helpers for tests: find the outside tools, start real servers on 127.0.0.1.

A test that needs a tool calls ``require(...)``: it skips with the reason when the tool
is absent, unless ``MAILER_TEST_REQUIRE_ALL=1`` (set by .ci/run), where it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "node" / "node_modules" / ".bin"
NODE_MODULES = ROOT / "node" / "node_modules"


def require(ok: object, reason: str) -> None:
    """Skip (or, under MAILER_TEST_REQUIRE_ALL=1, fail) when *ok* is falsy."""
    if ok:
        return
    if os.environ.get("MAILER_TEST_REQUIRE_ALL") == "1":
        pytest.fail(f"required test tool missing: {reason}")
    pytest.skip(reason)


def node_tool(name: str) -> Path:
    """Path of an npm-installed binary from node/ (skips when not installed)."""
    path = NODE_BIN / name
    require(path.exists(), f"{name} not installed: run `cd node && npm install`")
    return path


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    require(path, "Debian chromium not installed (apt-get install chromium)")
    assert path
    return path


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]


def send_project(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make *folder* the cwd of a send test: the environment variables that would override
    its mailer.toml (database, outbox, SMTP, SendGrid key, secret) removed, and a copy of
    the repository's issues/ in it (the caller writes mailer.toml)."""
    monkeypatch.chdir(folder)
    for var in (
        "MAILER_DATABASE_URL",
        "MAILER_OUTBOX_DIR",
        "SENDGRID_API_KEY",
        "MAILER_SECRET_KEY",
        "MAILER_SMTP_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    shutil.copytree(ROOT / "issues", folder / "issues")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Stop a server the test started: SIGTERM, then SIGKILL if it has not exited within
    *timeout* seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(
    port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def _pg_bindir() -> Path | None:
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / "initdb").exists():
            return base
    return None


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (Debian binaries; run as `postgres` if root)."""

    def __init__(self) -> None:
        bindir = _pg_bindir()
        require(bindir, "PostgreSQL server binaries not installed (apt-get install postgresql)")
        assert bindir
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="mailer-pg-"))
        self.port = free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        data = self.dir / "data"
        subprocess.run(
            [
                *self.prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *self.prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-l",
                str(self.dir / "log"),
                "-o",
                f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off -c max_connections=200",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        self.data = data
        self._n = 0

    def create_database(self, name: str | None = None) -> str:
        """A fresh empty database; returns its SQLAlchemy URL."""
        import psycopg

        self._n += 1
        name = name or f"t{self._n}_{os.getpid()}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run(
            [
                *self.prefix,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


def parse_mailer_argv(argv: list[str]) -> click.Command:
    """Parse *argv* (after the mailer binary) with the real click tree, down through groups;
    return the command it names. Raises click.UsageError on an unknown command or option."""
    from mailer.cli import main

    ctx = main.make_context("mailer", list(argv), resilient_parsing=False)
    cmd: click.Command = main
    while isinstance(cmd, click.Group):
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            break
        name, sub, sub_args = cmd.resolve_command(ctx, rest)
        assert sub is not None, f"no such command {name}"
        ctx = sub.make_context(name or "", list(sub_args), parent=ctx)
        cmd = sub
    return cmd


def finish(proc: subprocess.Popen[bytes], timeout: float = 120) -> tuple[int, str, str]:
    """Wait for a started `mailer` process (killed after *timeout* seconds): its exit code,
    stdout and stderr."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out.decode(), err.decode()


def delivery_statuses(engine: Any, cid: int | None = None) -> dict[str, str]:
    """Each delivery's status as mailer reads it (a batch holding its acceptance applied,
    ``mailer.db.held``), by the subscriber's address; of campaign *cid* when given."""
    from sqlalchemy import select

    from mailer import db

    d, s = db.deliveries, db.subscribers
    query = select(s.c.email, db.held.status_of()).select_from(
        db.held.with_batch(d.join(s, s.c.id == d.c.subscriber_id))
    )
    if cid is not None:
        query = query.where(d.c.campaign_id == cid)
    with db.read(engine) as conn:
        return {str(email): str(status) for email, status in conn.execute(query)}
