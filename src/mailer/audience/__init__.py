"""The audience stage: subscribers, lists and memberships, CSV import and export.

``subscribers.py`` owns addresses (normalising, adding, statuses, export); ``csvread.py``
reads CSV lines into rows with their line numbers; ``csvimport.py`` imports them in one
transaction and reports every rejected or skipped line. Who a campaign goes to is the
delivery stage's question (``mailer.delivery.recipients``).
"""

from __future__ import annotations

from .csvimport import ImportFailed, ImportReport, import_csv
from .subscribers import add, export_csv, lists_with_counts, set_status, unsubscribe

__all__ = [
    "ImportFailed",
    "ImportReport",
    "add",
    "export_csv",
    "import_csv",
    "lists_with_counts",
    "set_status",
    "unsubscribe",
]
