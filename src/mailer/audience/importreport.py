"""What an import did, per file: the tool recognised, rows by status, skipped and rejected rows.

One :class:`ImportReport` per file read (a Mailchimp ZIP gives one per CSV inside). Rows are
named by their line in the file (the physical line where the record starts).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Rejected:
    """A row that was not imported: its line in the file and why."""

    line: int
    reason: str
    email: str = ""


@dataclass
class Skipped:
    """A valid row left as it was: an unsubscribed/bounced/complained address or a duplicate."""

    line: int
    email: str
    reason: str


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    file: str
    list_name: str
    dry_run: bool = False
    tool: str = "csv"
    tool_label: str = "CSV"
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    #: rows by the status the file gives them (after mapping the tool's statuses to mailer's)
    statuses: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_rows: list[Skipped] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    #: things read differently from what the file says (``language 'English' read as en``)
    notes: Counter[str] = field(default_factory=Counter)
    consents: int = 0

    @property
    def imported(self) -> int:
        return self.added + self.updated + self.unchanged

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "list": self.list_name,
            "dry_run": self.dry_run,
            "tool": self.tool,
            "recognised_as": self.tool_label,
            "rows": self.rows,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "statuses": dict(sorted(self.statuses.items())),
            "consents": self.consents,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_rows": [vars(s) for s in self.skipped_rows],
            "rejected": [vars(r) for r in self.rejected],
            "notes": dict(sorted(self.notes.items())),
        }
