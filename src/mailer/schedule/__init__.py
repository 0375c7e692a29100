"""The schedule stage: ``mailer schedule`` (``schedules.py``; times in ``when.py``, the
list in ``listing.py``), the runner that sends what is due (``worker.py``: ``run-due`` and
``worker``) and SendGrid's own ``send_at`` (``sendgrid.py``). It hands due campaigns to the
delivery stage.

Names are imported on first use: ``mailer run-due`` loads only the worker and what it
runs, not the validation and storing of new schedules (which import the build stage).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .listing import ScheduleRow as ScheduleRow
    from .listing import list_schedules as list_schedules
    from .schedules import Scheduled as Scheduled
    from .schedules import cancel_schedule as cancel_schedule
    from .schedules import errors_abort as errors_abort
    from .schedules import schedule_issue as schedule_issue
    from .when import parse_duration as parse_duration
    from .when import parse_when as parse_when
    from .when import to_local as to_local

#: public name -> the module of this package that defines it
_HOMES = {
    "ScheduleRow": ".listing",
    "list_schedules": ".listing",
    "Scheduled": ".schedules",
    "cancel_schedule": ".schedules",
    "errors_abort": ".schedules",
    "schedule_issue": ".schedules",
    "parse_duration": ".when",
    "parse_when": ".when",
    "to_local": ".when",
}

__all__ = sorted(_HOMES)

__getattr__ = lazy_exports(__name__, _HOMES)
