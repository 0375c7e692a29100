"""The stats stage (``mailer stats``): figures per issue from the events (``collect.py``,
with the shared counts and the comparison with earlier issues in ``history.py``, story
titles in ``titles.py``, privacy-proxy opens in ``proxies.py``), the plain data and its
JSON keys (``model.py``), the tables for people (``tables.py``) and the HTML report with
its chart (``report.py``).
"""

from __future__ import annotations

from .collect import issue_stats
from .model import ComparisonRow, NetworkStats, Stats, StoryStats

__all__ = ["ComparisonRow", "NetworkStats", "Stats", "StoryStats", "issue_stats"]
