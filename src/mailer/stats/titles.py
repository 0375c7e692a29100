"""Story titles for the stats: the link table keeps only a block id per link.

The titles come from the issue file the campaign was sent from (``campaigns.issue_path``,
or the file given to ``mailer stats``), read with :func:`mailer.build.issue.load_issue`.
When the file is gone or no longer valid, a block keeps its id as its title.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import MailerError

log = logging.getLogger(__name__)

#: names for the ids the theme gives to links outside the issue's blocks
FIXED_TITLES = {"footer": "Footer (follow and contact links)", "": "(no story)"}


def _label(obj: Any) -> str:
    for attr in ("title", "text", "label", "outlet"):
        value = getattr(obj, attr, None)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def titles_from_issue(path: Path) -> dict[str, str]:
    """Block and item id → title of the issue file at *path* (``{}`` if unreadable)."""
    from ..build.issue import load_issue

    try:
        issue = load_issue(path)
    except (MailerError, OSError) as exc:
        log.info("no story titles from %s: %s", path, exc)
        return {}
    found: dict[str, str] = {}
    for block in issue.blocks:
        own = _label(block)
        if own:
            found[block.id] = own
        for item in getattr(block, "items", None) or []:
            label = _label(item)
            summary = getattr(item, "summary", "")
            if getattr(item, "outlet", None) and summary:
                label = f"{label}: {summary}"
            if label:
                found[item.id] = label[:120]
    return found


def story_titles(paths: Iterable[str | Path]) -> dict[str, str]:
    """Id → title from the first of *paths* that is an issue file that loads."""
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found = titles_from_issue(path)
            if found:
                return found
    return {}


def title_of(block: str, titles: dict[str, str]) -> str:
    """The title of *block*: from the issue, a fixed name, or the id itself."""
    return titles.get(block) or FIXED_TITLES.get(block) or block
