"""Creating a campaign and storing what it sends.

A campaign is one send of one issue to one list: :func:`create_campaign` records it (nothing
rendered or sent yet). At its start the issue is rendered once per language
(``build_issue(..., for_send=True)`` then ``tracking.prepare``) and stored in
``campaign_contents`` (:func:`store_contents`); a resumed campaign reuses what was stored
(:func:`ensure_contents`). Running a campaign is :mod:`mailer.delivery.running`'s job.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from .. import db
from ..backends import NAMES
from ..config import Config
from ..errors import ConfigError
from ..rendered import Rendered
from .preflight import find_list_id
from .recipients import LanguageGroup, load_contents


# -- issue and list lookups ---------------------------------------------------
def issue_languages(issue_path: str | Path, config: Config) -> list[str]:
    """The issue's languages, default first."""
    from ..build.pipeline import issue_languages as languages

    return list(languages(Path(issue_path), config))


def issue_slug(issue_path: str | Path) -> str:
    """The issue file's slug (``build.issue``, imported here: a runner resuming a campaign
    needs no YAML or build code)."""
    from ..build.issue import issue_slug as slug_of

    return slug_of(issue_path)


# -- creating a campaign and its contents --------------------------------------
def create_campaign(
    engine: Engine,
    config: Config,
    issue_path: str | Path,
    list_name: str,
    *,
    backend: str | None = None,
    status: str = "draft",
    scheduled_at: Any = None,
    schedule_tz: str | None = None,
    slug: str | None = None,
) -> int:
    """Record a campaign (one issue to one list); nothing is rendered or sent yet.

    *slug* defaults to the issue file's slug."""
    path = Path(issue_path)
    name = backend or config.settings.backend
    if name not in NAMES:
        raise ConfigError(f"unknown backend '{name}'", hint=f"use one of: {', '.join(NAMES)}.")
    with db.transaction(engine) as conn:
        list_id = find_list_id(conn, list_name)
        result = conn.execute(
            db.campaigns.insert().values(
                issue_slug=slug or issue_slug(path),
                issue_path=str(path.resolve()),
                list_id=list_id,
                status=status,
                backend=name,
                scheduled_at=scheduled_at,
                schedule_tz=schedule_tz,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def insert_contents(conn: Connection, campaign_id: int, prepared: Rendered) -> None:
    """Store one language's tracked rendering (``tracking.prepare``'s result) as it will send."""
    conn.execute(
        db.campaign_contents.insert().values(
            campaign_id=campaign_id,
            language=prepared.language,
            subject=prepared.subject,
            html=prepared.html,
            text=prepared.text,
            merge_fields=[
                {"token": f.token, "field": f.field, "fallback": f.fallback}
                for f in prepared.merge_fields
            ],
        )
    )


def store_contents(
    engine: Engine, config: Config, campaign_id: int, rendered: Sequence[Rendered]
) -> bool:
    """Register links (``tracking.prepare``) and store what each language will send.

    Does nothing (returns False) when the campaign's contents are already stored."""
    from ..tracking import rewrite as tracking

    c, cc = db.campaigns, db.campaign_contents
    with db.transaction(engine) as conn:
        conn.execute(select(c.c.id).where(c.c.id == campaign_id).with_for_update()).first()
        if conn.execute(select(cc.c.language).where(cc.c.campaign_id == campaign_id)).first():
            return False
        from ..archive import keep_assets  # images as sent, when mailer serve serves them

        for r in keep_assets(conn, config, campaign_id, rendered):
            insert_contents(conn, campaign_id, tracking.prepare(conn, campaign_id, r, config))
        if rendered:
            conn.execute(
                c.update().where(c.c.id == campaign_id).values(subject=rendered[0].subject)
            )
    return True


def ensure_contents(
    engine: Engine, config: Config, campaign_id: int, issue_path: str
) -> dict[str, LanguageGroup]:
    """The campaign's stored contents; when none are stored yet, the issue is built once per
    language and stored first (:func:`store_contents`)."""
    found = load_contents(engine, campaign_id)
    if found:
        return found
    from ..build.pipeline import build_issue

    langs = issue_languages(issue_path, config)
    rendered = [build_issue(Path(issue_path), config, lang=lang, for_send=True) for lang in langs]
    store_contents(engine, config, campaign_id, rendered)
    return load_contents(engine, campaign_id)
