"""Fixtures shared by every test module."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import ROOT, PostgresServer


@pytest.fixture(scope="session", autouse=True)
def _own_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The run's builds (and the processes they start) keep compiled templates and Markdown
    in a folder of the session's, not in the user's ``~/.cache/mailer``: thousands of
    temporary projects would otherwise each leave their compiled templates there."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (skips when not installed)."""
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on a real SQLite file and on a real PostgreSQL database."""
    from mailer import db

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'mailer.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database()
    yield url
    db.dispose_all()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repository's sample newsletter project in tmp_path, as the cwd."""
    dest = tmp_path / "project"
    dest.mkdir()
    for name in ("mailer.toml", "subscribers.csv.example"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, dest / name)
    for name in ("templates", "issues"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, dest / name)
    monkeypatch.chdir(dest)
    for var in (
        "MAILER_DATABASE_URL",
        "SENDGRID_API_KEY",
        "MAILER_SENDGRID_HOST",
        "MAILER_SMTP_URL",
        "MAILER_SECRET_KEY",
        "MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    return dest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under MAILER_TEST_REQUIRE_ALL=1 (CI) a skipped test fails: nothing is left unjudged."""
    outcome = yield
    report = outcome.get_result()
    if (
        os.environ.get("MAILER_TEST_REQUIRE_ALL") == "1"
        and report.skipped
        and not hasattr(report, "wasxfail")
    ):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped under MAILER_TEST_REQUIRE_ALL=1: {reason}"
