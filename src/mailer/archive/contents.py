"""What the archive shows: sent issues of the archive's lists, made impersonal.

:func:`archived_issues` reads the stored contents of sent campaigns (``campaign_contents``:
the HTML and text as they went out, with per-recipient tokens, never a reader's data) of the
lists ``[archive] lists`` names, newest first, one entry per issue and language; an issue
sent to two archived lists appears once (its newest send). :func:`neutralise` is the one way
stored HTML becomes public (the ``/v/`` view page uses it too).
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from .. import db
from ..config import Config
from ..rendered import UNSUBSCRIBE_URL
from ..tracking.rewrite import RECIPIENT_TOKEN

_TOKEN_RE = re.compile(r"%%[a-z_:.0-9]+%%")
_PIXEL_RE = re.compile(r"<img\b[^>]*/o/%%r%%[^>]*>", re.IGNORECASE)
#: a tracked link: /c/<campaign b36>.<link b36>.<signature>[/%%r%%]
_CLICK_RE = re.compile(
    r"https?://[^\s\"'<>]*?/c/([0-9a-z]+)\.([0-9a-z]+)\.[A-Za-z0-9_-]+(?:/%%r%%)?"
)
_VIEW_RE = re.compile(r"https?://[^\s\"'<>]*?/v/[0-9a-z]+\.[A-Za-z0-9_-]+(?:\?[^\s\"'<>]*)?")


def neutralise(
    html: str, merge_fields: list[dict[str, str]], *, leave: str = "/leave", escape: bool = True
) -> str:
    """Stored campaign HTML (or text, ``escape=False``) made impersonal: no recipient token,
    no pixel, merge fields at their fallback, the unsubscribe link pointing to *leave*."""
    html = _PIXEL_RE.sub("", html)
    html = html.replace("/" + RECIPIENT_TOKEN, "").replace(RECIPIENT_TOKEN, "")
    html = html.replace(UNSUBSCRIBE_URL, "%%leave%%")
    for field in merge_fields:
        fallback = field.get("fallback", "")
        html = html.replace(field["token"], htmllib.escape(fallback) if escape else fallback)
    return _TOKEN_RE.sub("", html.replace("%%leave%%", leave))


def untrack(text: str, targets: dict[int, str], view: str, *, escape: bool = True) -> str:
    """Tracked links of a campaign (``/c/...``) back to their stored *targets* (by link id),
    its "view in browser" link to *view*: an archived page carries no tracking token."""

    def target(m: re.Match[str]) -> str:
        url = targets.get(int(m.group(2), 36), "#")
        return htmllib.escape(url, quote=True) if escape else url

    return _VIEW_RE.sub(view, _CLICK_RE.sub(target, text))


@dataclass(frozen=True)
class ArchivedIssue:
    """One sent issue in one language, as the public may see it."""

    campaign_id: int
    slug: str
    language: str
    subject: str
    sent_at: datetime
    html: str  # impersonal, links untracked, "view in browser" at the archive page
    text: str

    @property
    def path(self) -> str:
        """Its place under the archive: ``<slug>/<language>/``."""
        return f"{self.slug}/{self.language}/"

    def summary(self, size: int = 280) -> str:
        """The text part's opening words, for the feed."""
        lines = [ln for ln in self.text.splitlines() if ln.strip() and "://" not in ln]
        flat = " ".join(" ".join(lines).split())
        return flat if len(flat) <= size else flat[: size - 1].rsplit(" ", 1)[0] + "…"


def _leave(config: Config) -> str:
    base = config.settings.tracking.base_url
    if base:
        return base.rstrip("/") + "/leave"
    s = config.settings.sender
    return f"mailto:{s.unsubscribe_mailto or s.from_email}?subject=unsubscribe"


def archived_issues(conn: Connection, config: Config, *, prefix: str = "") -> list[ArchivedIssue]:
    """Sent issues of the archive's lists, newest first; links inside point at
    ``<prefix><slug>/<lang>/`` (``/archive/`` on the server, "../../" in static files)."""
    names = config.settings.archive.lists
    if not names:
        return []
    c, li, cc, lk = db.campaigns, db.lists, db.campaign_contents, db.links
    sent_at: Any = func.coalesce(c.c.finished_at, c.c.started_at, c.c.created_at)
    query = (
        select(c.c.id, c.c.issue_slug, sent_at.label("sent_at"))
        .select_from(c.join(li, li.c.id == c.c.list_id))
        .where(li.c.name.in_(names), c.c.status == db.CampaignStatus.SENT.value)
        .order_by(sent_at.desc(), c.c.id.desc())
    )
    if "kind" in c.c:
        query = query.where(c.c.kind == "send")
    newest: dict[str, Any] = {}
    for row in conn.execute(query):
        newest.setdefault(str(row.issue_slug), row)
    leave = _leave(config)
    out: list[ArchivedIssue] = []
    for slug, row in newest.items():
        targets = {
            int(i): str(u)
            for i, u in conn.execute(select(lk.c.id, lk.c.url).where(lk.c.campaign_id == row.id))
        }
        contents = conn.execute(
            select(cc).where(cc.c.campaign_id == row.id).order_by(cc.c.language)
        ).mappings()
        for r in contents:
            merge = list(r["merge_fields"] or [])
            view = f"{prefix}{slug}/{r['language']}/"
            html = untrack(neutralise(r["html"], merge, leave=leave), targets, view)
            text = untrack(
                neutralise(r["text"], merge, leave=leave, escape=False), targets, view, escape=False
            )
            out.append(
                ArchivedIssue(
                    int(row.id),
                    slug,
                    str(r["language"]),
                    str(r["subject"]),
                    row.sent_at,
                    html,
                    text,
                )
            )
    return out
