"""Each campaign's images as they were at sending, for ``mailer serve``'s ``/assets/``.

When ``assets_url`` points at ``mailer serve`` (``<tracking.base_url>/assets/``), the send
path (``delivery.send.store_contents``) calls :func:`keep_assets`: the campaign's local image
files are written to ``campaign-assets/<campaign id>/`` beside ``mailer.toml`` made for email
as ``mailer build`` makes them (:func:`mailer.build.photos.email_copy`: resized to twice the
width the HTML shows them at, recompressed, EXIF and GPS stripped; the originals only read), in
a folder, not the database (images can be large and a web server or backup copies a folder as
it is), and
the campaign's HTML points at ``/assets/<campaign id>/<name>``, so a later edit of
``issues/assets/`` never changes a past issue. :func:`asset_file` finds the copy to serve
(never a path outside the folder); an address without a campaign id (a send before this
copy existed) gets the newest copy of that name.
"""

from __future__ import annotations

import dataclasses
import logging
import mimetypes
import re
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .. import db
from ..build.photos import display_widths, email_copy
from ..config import Config
from ..rendered import Rendered

log = logging.getLogger(__name__)

FOLDER = "campaign-assets"
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._ -]{0,200}$")


def store_dir(config: Config) -> Path:
    """Where campaign images are kept: ``campaign-assets/`` beside mailer.toml."""
    return config.root / FOLDER


def served_here(config: Config) -> str | None:
    """The ``assets_url`` (ending in /) when it points at this ``mailer serve``, else None."""
    s = config.settings
    base, assets = s.tracking.base_url, s.assets_url
    if not base or not assets:
        return None
    url = assets.rstrip("/") + "/"
    return url if url == base.rstrip("/") + "/assets/" else None


def _name(relative: str) -> str:
    return relative.split("assets/", 1)[1] if "assets/" in relative else Path(relative).name


def keep_assets(
    conn: Connection, config: Config, campaign_id: int, rendered: Sequence[Rendered]
) -> list[Rendered]:
    """Keep the campaign's local images made for email and point its HTML at them (see the
    module doc); *rendered* unchanged when ``assets_url`` is not this server."""
    url = served_here(config)
    if url is None or not any(r.assets for r in rendered):
        return list(rendered)
    c = db.campaigns
    issue_path = conn.execute(select(c.c.issue_path).where(c.c.id == campaign_id)).scalar()
    folder = Path(str(issue_path)).parent
    target = store_dir(config) / str(campaign_id)
    out = []
    widths: dict[str, int] = {}  # src -> the widest any language shows it at
    for r in rendered:
        for src, width in display_widths(r.html).items():
            widths[src] = max(widths.get(src, 0), width)
    made: set[str] = set()
    for r in rendered:
        html, text = r.html, r.text
        for relative in r.assets:
            name = _name(relative)
            source = folder / relative
            dest = target / name
            if source.is_file() and dest.resolve().is_relative_to(target.resolve()):
                if name not in made:  # the same file in every language: made once
                    email_copy(source, dest, widths.get(url + name))
                    made.add(name)
                html = html.replace(url + name, f"{url}{campaign_id}/{name}")
                text = text.replace(url + name, f"{url}{campaign_id}/{name}")
            else:
                log.warning("image %s of campaign %s not found to keep", source, campaign_id)
        out.append(dataclasses.replace(r, html=html, text=text))
    return out


def content_type(path: Path) -> str | None:
    """The image type of *path* by its name, or None when it is not an image."""
    kind = mimetypes.guess_type(path.name)[0]
    return kind if kind and kind.startswith("image/") else None


def asset_file(config: Config, path: str) -> Path | None:
    """The kept file for ``/assets/<path>`` (``<campaign id>/<name>`` or ``<name>``), or None
    for anything else: a ``..``, an absolute path, a missing file or a file not an image."""
    parts = path.split("/")
    if not parts or any(not _SEGMENT.match(p) for p in parts):
        return None
    root = store_dir(config).resolve()
    candidates: list[Path] = []
    if len(parts) > 1 and parts[0].isdigit():
        candidates.append(root / path)
    elif root.is_dir():
        ids = sorted((int(d.name) for d in root.iterdir() if d.name.isdigit()), reverse=True)
        candidates.extend(root / str(i) / path for i in ids)
    for found in candidates:
        real = found.resolve()
        if real.is_relative_to(root) and real.is_file() and content_type(real):
            return real
    return None
