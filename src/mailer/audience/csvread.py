"""Reading subscriber CSV records into rows: the delimiter, the header's roles, validation.

The file's bytes become numbered lines in :mod:`mailer.audience.csvlines` (chunks, BOM,
encoding errors, control characters); the csv module joins quoted fields across lines and
this module takes its records. :class:`RowParser` maps headers in any case and common
spellings (and the columns of the tool that wrote the file, see
:mod:`mailer.audience.sources`) to email, name (or first + last name), language, status,
the time and reason of an unsubscribe, consent and tags; other columns are attributes.
See :mod:`mailer.audience.csvimport` for what is done with the rows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..db import SubscriberStatus
from ..errors import SubscriberError
from .cells import control_character, language_from_name, parse_tags, parse_time
from .sources import GENERIC_ROLES, Profile, norm_header
from .subscribers import (
    LOCAL_RE,
    NAME_MAX,
    normalise_email,
    normalise_language,
    normalise_status,
    quick_email,
    stronger,
)

ACCEPTED_HEADERS = "email (or e-mail, Email Address), name (or first_name + last_name), language"

_TRUE = frozenset({"true", "yes", "1", "t", "y"})
_FALSE = frozenset({"false", "no", "0", "f", "n"})


class NotImported(SubscriberError):
    """A valid row the file says not to import (e.g. Mailchimp's ``archived``)."""


@dataclass(slots=True)
class Row:
    line: int
    email: str
    key: str
    name: str
    language: str | None
    attributes: dict[str, Any]
    status: SubscriberStatus | None
    status_at: datetime | None = None
    reason: str | None = None
    tags: list[str] = field(default_factory=list)
    consent: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, quick: Quick) -> Row:
        """The row of a :data:`Quick` tuple (for the rare path: a duplicate, a known address)."""
        line, email, key, name, language, attrs = quick
        return cls(line, email, key, name, language, dict(attrs), None)

    def merge(self, other: Row) -> None:
        self.name = other.name or self.name
        self.language = other.language or self.language
        self.attributes.update(other.attributes)
        self.tags = sorted({*self.tags, *other.tags})
        self.consent = other.consent or self.consent
        if other.status is not None and stronger(other.status, self.status):
            self.status, self.status_at = other.status, other.status_at
            self.reason = other.reason or self.reason


#: the common row, read by :meth:`RowParser.quick` without building a :class:`Row`:
#: (line, email, email_key, name, language, attributes); its status is ``subscribed``
Quick = tuple[int, str, str, str, str | None, dict[str, str]]


def sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def unquote(value: str) -> str:
    """Undo the spreadsheet-safe prefix that `export` adds (``'=x`` → ``=x``)."""
    if value.startswith("'") and value.lstrip("'").startswith(("=", "+", "-", "@", "\t", "\r")):
        return value[1:]
    return value


class RowParser:
    """Turns CSV records into validated rows, using the roles of the header's columns."""

    def __init__(
        self,
        header: list[str],
        path: Path,
        case_sensitive_local: bool,
        profile: Profile | None = None,
    ) -> None:
        self.profile = profile or Profile("csv", "CSV")
        self.header = [h.strip() for h in header]
        self.roles: dict[str, int] = {}
        self.attrs: list[tuple[int, str]] = []
        self.extra: list[tuple[int, str]] = []  # tool roles beyond the plain ones
        roles = {**GENERIC_ROLES, **self.profile.roles}
        seen_keys: set[str] = set()
        for i, title in enumerate(header):
            norm = norm_header(title)
            role = roles.get(norm)
            if role is None:
                if norm:
                    key = re.sub(r"\W+", "_", title.strip().lower()).strip("_") or norm
                    if key in seen_keys:  # a duplicated column name keeps both values
                        key = f"{key}_{i + 1}"
                    seen_keys.add(key)
                    self.attrs.append((i, key))
            elif role == "first_name" or role == "last_name":
                self.roles.setdefault(role, i)
                self.attrs.append((i, role))
            elif role in _PLAIN_ROLES:
                self.roles.setdefault(role, i)
            elif role != "ignore":
                self.extra.append((i, role))
        if "email" not in self.roles:
            first = header[0].strip() if header else ""
            looks = "@" in first
            raise SubscriberError(
                "no email column"
                + (
                    " (the first line looks like data, not a header)"
                    if looks
                    else f" among the headers {header!r}"
                ),
                location=f"{path}:1",
                hint=f"the first line must name the columns; accepted headers: {ACCEPTED_HEADERS}; "
                "other columns are kept as attributes. Example first line: email,name,language",
            )
        self.width = len(header)
        self.case_sensitive_local = case_sensitive_local
        # the hot path's look-ups, done once
        get = self.roles.get
        self.i_email = self.roles["email"]
        self.i_name, self.i_language, self.i_status = get("name"), get("language"), get("status")
        self.i_tags = get("tags")
        self.name_parts = [self.roles[r] for r in ("first_name", "last_name") if r in self.roles]
        #: :meth:`quick` reads this file's rows (a tool's export goes through :meth:`parse`)
        self.quick_ok = not self.extra and self.profile.file_status is None
        self.languages: dict[str, str | None] = {}
        #: domain -> its normalised form ("" when not valid: such a row goes to :meth:`parse`)
        self.domains: dict[str, str] = {}
        self.local_match = LOCAL_RE.fullmatch

    def quick(self, cells: list[str], line: int) -> Quick | None:
        """The common row as a :data:`Quick` tuple, exactly as :meth:`parse` reads it: a plain
        file (no tool columns), as many cells as headers, no control character (the caller
        checks the line), no status or tags, a name in its column, an address and a language
        code in their common forms. None for any other row: then :meth:`parse` reads it."""
        if not self.quick_ok or len(cells) != self.width:
            return None
        value = cells[self.i_email].strip()
        if not value or value[0] == "'":
            return None
        # quick_email inlined, its domain check cached per file (same answers)
        local, at, domain = value.partition("@")
        if not at or len(value) > 254 or len(local) > 64 or "@" in domain:
            return None
        if self.local_match(local) is None:
            return None
        norm = self.domains.get(domain)
        if norm is None:
            found = quick_email("a@" + domain)
            norm = self.domains[domain] = found[0][2:] if found is not None else ""
        if not norm:
            return None
        email = f"{local}@{norm}"
        key = f"{local}@{norm.lower()}" if self.case_sensitive_local else email.lower()
        i = self.i_status
        if i is not None and cells[i].strip():
            return None
        i = self.i_tags
        if i is not None and cells[i].strip():
            return None
        i = self.i_name
        name = cells[i].strip() if i is not None else ""
        if not name:
            if self.name_parts:
                return None
        elif name[0] == "'":
            name = unquote(name)
        if len(name) > NAME_MAX:
            return None
        language: str | None = None
        i = self.i_language
        if i is not None:
            cell = cells[i]
            if cell:
                language = self.languages.get(cell)
                if language is None:
                    try:
                        language = normalise_language(cell)
                    except SubscriberError:
                        return None
                    self.languages[cell] = language
        attrs: dict[str, str] = {}
        for col, k in self.attrs:
            value = cells[col].strip()
            if value:
                attrs[k] = unquote(value) if value[0] == "'" else value
        return line, email, key, name, language, attrs

    def _column(self, i: int) -> str:
        return self.header[i] if i < len(self.header) else f"#{i + 1}"

    def parse(self, cells: list[str], line: int, check_control: bool = True) -> Row:
        """The row of record *cells* starting at *line*; SubscriberError saying why not.
        *check_control* False: the caller knows no cell holds a control character."""
        width = self.width
        if len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        elif len(cells) > width and any(c.strip() for c in cells[width:]):
            raise SubscriberError(
                f"{len(cells)} fields but the header has {width} "
                "(a quote missing, or a separator too many?)"
            )
        if check_control:
            for col, cell in enumerate(cells):
                what = control_character(cell)
                if what:
                    raise SubscriberError(
                        f"column {self._column(col)!r} holds {what}: remove it "
                        "(is a quote not closed?), then import the file again"
                    )
        email, key = normalise_email(
            unquote(cells[self.i_email].strip()), case_sensitive_local=self.case_sensitive_local
        )
        i = self.i_name
        name = unquote(cells[i].strip()) if i is not None else ""
        if not name and self.name_parts:
            parts = (cells[j].strip() for j in self.name_parts)
            name = " ".join(unquote(p) for p in parts if p)
        if len(name) > NAME_MAX:
            raise SubscriberError(f"name longer than {NAME_MAX} characters")
        notes: list[str] = []
        i = self.i_language
        language = self._language(cells[i], notes) if i is not None and cells[i] else None
        i = self.i_status
        status = self._status(cells[i]) if i is not None and cells[i].strip() else None
        file_status = self.profile.file_status
        if file_status is not None and stronger(file_status, status):
            status = file_status
        attrs: dict[str, Any] = {}
        for col, k in self.attrs:
            value = cells[col].strip()
            if value:
                attrs[k] = unquote(value) if value[0] == "'" else value
        row = Row(line, email, key, name, language, attrs, status, notes=notes)
        i = self.i_tags
        if i is not None:
            row.tags = parse_tags(cells[i])
        if self.extra:
            self._extra(cells, row)
        return row

    def _language(self, value: str, notes: list[str]) -> str | None:
        try:
            return normalise_language(value)
        except SubscriberError:
            code = language_from_name(value)
            if code is None:
                raise SubscriberError(
                    f"language {value.strip()!r} is not a language code",
                    hint="write the code, such as en, tr, ar, pt-BR.",
                ) from None
            notes.append(f"language {value.strip()!r} read as {code}")
            return code

    def _status(self, value: str) -> SubscriberStatus | None:
        values = self.profile.status_values
        if not values:
            return normalise_status(value)
        raw = value.strip().lower()
        if raw not in values:
            known = ", ".join(values)
            raise SubscriberError(
                f"unknown {self.profile.tool} status {value.strip()!r}",
                hint=f"{self.profile.label} statuses: {known}",
            )
        status = values[raw]
        if status is None:
            raise NotImported(f"{raw} in {self.profile.tool}: not imported")
        return status

    def _extra(self, cells: list[str], row: Row) -> None:
        """The tool's own columns: status flags, unsubscribe time and reason, consent, tags."""
        consent: dict[str, Any] = {}
        reasons: list[str] = []
        for i, role in self.extra:
            value = cells[i].strip()
            if role == "flag_subscribed":
                low = value.lower()
                if low in _FALSE:
                    row.status = _strongest(row.status, SubscriberStatus.UNSUBSCRIBED)
                elif low not in _TRUE:
                    raise SubscriberError(
                        f"column {self._column(i)!r} is {value!r}, not true or false"
                    )
            elif not value:
                continue
            elif role == "flag_disabled" and value.lower() in _TRUE:
                row.status = _strongest(row.status, SubscriberStatus.UNSUBSCRIBED)
            elif role == "flag_deleted":
                row.status = _strongest(row.status, SubscriberStatus.UNSUBSCRIBED)
                row.status_at = row.status_at or parse_time(value)
            elif role == "status_at":
                row.status_at = self._time(value, i, row)
            elif role in ("reason", "reason_other"):
                reasons.append(value)
            elif role == "tags":
                row.tags = sorted({*row.tags, *parse_tags(value)})
            elif role == "attributes_json":
                row.attributes.update(self._json(value, i))
            elif role in ("optin_time", "confirm_time"):
                consent[role] = self._time(value, i, row)
            elif role in ("optin_ip", "confirm_ip"):
                consent[role] = value[:45]
        if reasons:
            row.reason = ": ".join(reasons)
        if any(v is not None for v in consent.values()):
            row.consent = consent

    def _time(self, value: str, i: int, row: Row) -> datetime | None:
        when = parse_time(value)
        if when is None:
            row.notes.append(f"column {self._column(i)!r}: {value!r} is not a date, left out")
        return when

    def _json(self, value: str, i: int) -> dict[str, Any]:
        try:
            loaded = json.loads(value)
        except ValueError:
            raise SubscriberError(f"column {self._column(i)!r} is not JSON") from None
        if not isinstance(loaded, dict):
            raise SubscriberError(f"column {self._column(i)!r} is not a JSON object")
        return loaded


_PLAIN_ROLES = frozenset({"email", "name", "language", "status", "tags"})


def _strongest(a: SubscriberStatus | None, b: SubscriberStatus) -> SubscriberStatus:
    return b if stronger(b, a) else a or b
