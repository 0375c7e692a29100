"""Per-campaign link tracking (placeholder: the tracking work replaces this module).

Contract used by the sender::

    prepared = prepare(conn, campaign_id, rendered, config)

registers every ``rendered.links`` entry as a ``links`` row (campaign × target ×
block × kind), and returns a Rendered whose HTML/text have: hrefs rewritten to
``<base>/c/<link token>/%%r%%`` when ``tracking.base_url`` is set (``/c/<link
token>`` when anonymous), the open pixel when ``tracking.opens``, and
``%%view_url%%`` replaced by ``<base>/v/<campaign id>``. Per-recipient tokens
(``%%r%%``, ``%%unsubscribe_url%%``) are left for the sender to fill.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from .config import Config
from .rendered import Rendered


def prepare(conn: Connection, campaign_id: int, rendered: Rendered, config: Config) -> Rendered:
    """Register links and rewrite them for tracking (see module docstring)."""
    return rendered
