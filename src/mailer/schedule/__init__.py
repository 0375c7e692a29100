"""The schedule stage: ``mailer schedule`` (``schedules.py``), the runner that sends what is
due (``worker.py``: ``run-due`` and ``worker``) and SendGrid's own ``send_at``
(``sendgrid.py``). It hands due campaigns to the delivery stage.
"""

from __future__ import annotations

from .schedules import (
    Scheduled,
    ScheduleRow,
    cancel_schedule,
    errors_abort,
    list_schedules,
    parse_duration,
    parse_when,
    schedule_issue,
    to_local,
)

__all__ = [
    "ScheduleRow",
    "Scheduled",
    "cancel_schedule",
    "errors_abort",
    "list_schedules",
    "parse_duration",
    "parse_when",
    "schedule_issue",
    "to_local",
]
