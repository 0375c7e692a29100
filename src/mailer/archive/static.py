"""``mailer archive build -o DIR``: the archive as static files for any web host.

Writes ``index.html``, ``feed.xml`` and ``<slug>/<lang>/index.html`` per archived issue (plus
``<slug>/index.html``, the issue in the default language or its first), the same pages
``mailer serve`` answers under ``/archive/``. Links between them are relative; the feed needs
the absolute address the folder will be published at (``url``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine

from .. import db
from ..config import Config
from ..errors import ConfigError, MailerError
from .contents import ArchivedIssue, archived_issues
from .pages import atom_feed, index_page

log = logging.getLogger(__name__)


def archive_url(config: Config, url: str | None) -> str:
    """The archive's public address, ending in /: *url*, else ``<tracking.base_url>/archive/``."""
    if url:
        if not url.startswith(("https://", "http://")):
            raise ConfigError(
                f"--url {url!r} is not an absolute http(s) address",
                hint="give the address the folder will be published at, e.g. "
                "https://example.org/newsletter/",
            )
        return url.rstrip("/") + "/"
    base = config.settings.tracking.base_url
    if not base:
        raise ConfigError(
            "the Atom feed needs the archive's public address: mailer.toml sets no "
            "[tracking] base_url",
            hint="pass --url https://example.org/newsletter/ (where DIR will be published).",
        )
    return base.rstrip("/") + "/archive/"


def default_of(issues: list[ArchivedIssue], default_language: str) -> dict[str, ArchivedIssue]:
    """Per slug, the issue ``/archive/<slug>/`` shows: the default language, else the first."""
    chosen: dict[str, ArchivedIssue] = {}
    for i in issues:
        if i.slug not in chosen or i.language == default_language:
            chosen[i.slug] = i
    return chosen


def build_archive(engine: Engine, config: Config, out: Path, *, url: str | None = None) -> int:
    """Write the archive to *out*; returns the number of issue pages written."""
    public = archive_url(config, url)
    with db.read(engine) as conn:
        issues = archived_issues(conn, config, prefix="../../")
    try:
        _write(out, issues, config, public)
    except OSError as exc:
        raise MailerError(
            f"cannot write the archive to {out}: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else ""),
            hint="give -o a folder you may write to (it is created if missing).",
        ) from None
    log.info("archive: %d issue pages written to %s", len(issues), out)
    return len(issues)


def _write(out: Path, issues: list[ArchivedIssue], config: Config, public: str) -> None:
    """Write the archive's files under *out* (OSError when it cannot)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.html").write_text(
        index_page(issues, config, prefix="", feed="feed.xml"), encoding="utf-8"
    )
    (out / "feed.xml").write_text(atom_feed(issues, config, url=public), encoding="utf-8")
    for issue in issues:
        page = out / issue.slug / issue.language / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(issue.html, encoding="utf-8")
    for slug, issue in default_of(issues, config.settings.default_language).items():
        # one level up: its links to itself must climb one level less
        (out / slug / "index.html").write_text(
            issue.html.replace(f"../../{slug}/", f"../{slug}/"), encoding="utf-8"
        )
