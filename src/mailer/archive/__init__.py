"""The public archive: sent issues of the lists ``[archive] lists`` names, without personal data.

``contents.py`` reads what was sent (``campaign_contents``) and makes it impersonal
(:func:`neutralise`: no recipient token, no pixel, merge fields at their fallback, tracked links
back to their targets); ``pages.py`` renders the index page and the Atom feed; ``static.py``
writes them as files (``mailer archive build``); ``assets.py`` keeps each campaign's images as
they were at sending. The web stage serves the same pages; the delivery stage calls
:func:`keep_assets` when it stores a campaign. This stage sends nothing and reads no request.
"""

from __future__ import annotations

from .assets import asset_file, keep_assets
from .contents import ArchivedIssue, archived_issues, neutralise
from .pages import atom_feed, index_page
from .static import build_archive

__all__ = [
    "ArchivedIssue",
    "archived_issues",
    "asset_file",
    "atom_feed",
    "build_archive",
    "index_page",
    "keep_assets",
    "neutralise",
]
