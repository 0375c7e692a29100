"""The public archive and campaign images of ``mailer serve``.

* ``GET /archive`` (and ``/archive/``): sent issues of the ``[archive] lists``, per language,
  newest first; ``GET /archive/feed.xml``: their Atom feed.
* ``GET /archive/<slug>/`` and ``/archive/<slug>/<lang>/``: one issue as sent, impersonal
  (:func:`mailer.archive.neutralise`: merge fields at their fallback, no token, no pixel).
* ``GET /assets/<campaign id>/<name>`` (or ``/assets/<name>``): a campaign's image as it was
  at sending (:mod:`mailer.archive.assets`), with its image content type; anything else 404.

Pages are read per request (an archive is small); nothing here writes.
"""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from .. import db
from ..archive import ArchivedIssue, archived_issues, asset_file, atom_feed, index_page
from ..archive.assets import content_type
from ..archive.static import default_of
from ..config import Config

PUBLIC = {"cache-control": "public, max-age=300"}
PREFIX = "/archive/"


def routes(config: Config, engine: Engine, public_base: str) -> list[BaseRoute]:
    """The archive and assets routes for *config*; *public_base* is ``tracking.base_url``."""
    default = config.settings.default_language

    def load() -> list[ArchivedIssue]:
        with db.read(engine) as conn:
            return archived_issues(conn, config, prefix=PREFIX)

    def not_found() -> Response:
        return PlainTextResponse("Not found", status_code=404)

    async def index(request: Request) -> Response:
        issues = await run_in_threadpool(load)
        page = index_page(issues, config, prefix=PREFIX, feed=PREFIX + "feed.xml")
        return HTMLResponse(page, headers=PUBLIC)

    async def feed(request: Request) -> Response:
        issues = await run_in_threadpool(load)
        root = (public_base.rstrip("/") or str(request.base_url).rstrip("/")) + PREFIX
        body = atom_feed(issues, config, url=root)
        return Response(body, media_type="application/atom+xml; charset=utf-8", headers=PUBLIC)

    async def issue(request: Request) -> Response:
        slug = request.path_params["slug"]
        lang = request.path_params.get("lang")
        issues = [i for i in await run_in_threadpool(load) if i.slug == slug]
        if lang is None:
            found = default_of(issues, default).get(slug)
        else:
            found = next((i for i in issues if i.language == lang), None)
        if found is None:
            return not_found()
        return HTMLResponse(found.html, headers=PUBLIC)

    async def asset(request: Request) -> Response:
        found = asset_file(config, request.path_params["path"])
        kind = content_type(found) if found else None
        if found is None or kind is None:
            return not_found()
        return FileResponse(
            found, media_type=kind, headers={"cache-control": "public, max-age=86400"}
        )

    return [
        Route("/archive", index),
        Route("/archive/", index),
        Route("/archive/feed.xml", feed),
        Route("/archive/{slug}", issue),
        Route("/archive/{slug}/", issue),
        Route("/archive/{slug}/{lang}", issue),
        Route("/archive/{slug}/{lang}/", issue),
        Route("/assets/{path:path}", asset),
    ]
