"""The stats stage (``mailer stats``): figures per issue from the events (``collect.py``) and
the HTML report with its chart (``report.py``).
"""

from __future__ import annotations

from .collect import Stats, StoryStats, issue_stats

__all__ = ["Stats", "StoryStats", "issue_stats"]
