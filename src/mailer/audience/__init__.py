"""The audience stage: subscribers, lists and memberships, CSV import and export.

``subscribers.py`` adds subscribers and sets their statuses (``normalise.py`` reads addresses,
languages and statuses, ``lists.py`` finds and counts lists, ``export.py`` writes the CSV
export); ``sources.py`` recognises the exports of other tools (Mailchimp, listmonk, Substack,
Buttondown, Ghost); ``cells.py`` reads single cells (control characters, dates, tags, language
names); ``csvlines.py`` reads a CSV file's bytes as numbered lines and ``csvread.py`` turns their
records into rows; ``csvimport.py`` imports a CSV or a ZIP of them in one transaction
(``importwriter.py`` writes the batches, ``importlookups.py`` finds who is known, left or erased,
``importconsents.py`` records consents, ``importreport.py`` is the per-file report). Who a
campaign goes to is the delivery stage's question (``mailer.delivery.recipients``).
"""

from __future__ import annotations

from .csvimport import ImportFailed, ImportReport, import_csv, import_file
from .subscribers import add, export_csv, lists_with_counts, set_status, unsubscribe

__all__ = [
    "ImportFailed",
    "ImportReport",
    "add",
    "export_csv",
    "import_csv",
    "import_file",
    "lists_with_counts",
    "set_status",
    "unsubscribe",
]
