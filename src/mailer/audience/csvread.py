"""Reading subscriber CSV files: lines with positions, the delimiter, header roles, rows.

Bytes are decoded line by line (so a bad byte is named by line and offset, and memory
stays flat), a UTF-8 BOM is dropped, the delimiter is counted on the header line, and
the csv module joins quoted fields across lines. :class:`RowParser` maps headers in any
case and common spellings to email, name (or first + last name), language and status;
other columns are attributes. See :mod:`mailer.csvimport` for what is done with the rows.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..db import SubscriberStatus
from ..errors import SubscriberError
from .subscribers import NAME_MAX, normalise_email, normalise_language, normalise_status

EMAIL_HEADERS = ("email", "e-mail", "email address", "mail", "e-posta", "emailaddress")
NAME_HEADERS = ("name", "full name", "display name", "ad soyad")
FIRST_HEADERS = ("first_name", "first name", "firstname", "given name", "ad")
LAST_HEADERS = ("last_name", "last name", "lastname", "surname", "family name", "soyad")
LANGUAGE_HEADERS = ("language", "lang", "locale", "dil")
#: written by `mailer subscribers export`; read back (status) or ignored, never attributes
STATUS_HEADERS = ("status",)
IGNORED_HEADERS = ("lists", "source", "created_at", "updated_at")


def _norm_header(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.strip().lower())


_ROLE = {
    _norm_header(h): role
    for role, names in (
        ("email", EMAIL_HEADERS),
        ("name", NAME_HEADERS),
        ("first_name", FIRST_HEADERS),
        ("last_name", LAST_HEADERS),
        ("language", LANGUAGE_HEADERS),
        ("status", STATUS_HEADERS),
        ("ignore", IGNORED_HEADERS),
    )
    for h in names
}
ACCEPTED_HEADERS = "email (or e-mail, Email Address), name (or first_name + last_name), language"


@dataclass
class Row:
    line: int
    email: str
    key: str
    name: str
    language: str | None
    attributes: dict[str, Any]
    status: SubscriberStatus | None

    def merge(self, other: Row) -> None:
        self.name = other.name or self.name
        self.language = other.language or self.language
        self.attributes.update(other.attributes)
        if other.status is not None and other.status != SubscriberStatus.SUBSCRIBED:
            self.status = other.status


# -- reading ---------------------------------------------------------------
class Lines:
    """Decoded lines of a binary file, tracking line number and bytes read."""

    def __init__(self, fh: BinaryIO, path: Path) -> None:
        self.fh, self.path = fh, path
        self.line = 0
        self.bytes = 0

    def _raw_lines(self) -> Iterator[bytes]:
        """Lines as bytes, ending in LF; old Mac files (CR only) have their CRs read as LF."""
        head = self.fh.peek(65536)[:65536] if hasattr(self.fh, "peek") else b""
        if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            raise SubscriberError(
                "this is a spreadsheet workbook (.xlsx, .xls or .ods), not a CSV file",
                location=str(self.path),
                hint="open it and Save As → 'CSV UTF-8 (comma delimited)', then import that file.",
            )
        if b"\r" not in head or b"\n" in head:
            yield from self.fh
            return
        rest = b""
        while chunk := self.fh.read(65536):
            parts = (rest + chunk).split(b"\r")
            rest = parts.pop()
            for part in parts:
                yield part + b"\n"  # same length: byte offsets stay exact
        if rest:
            yield rest

    def __iter__(self) -> Iterator[str]:
        for raw in self._raw_lines():
            self.line += 1
            start = 0
            if self.line == 1:
                if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    raise SubscriberError(
                        "the file is UTF-16, not UTF-8",
                        location=f"{self.path}:1",
                        hint="save it as 'CSV UTF-8 (comma delimited)'.",
                    )
                if raw.startswith(codecs.BOM_UTF8):
                    start = 3
            try:
                text = raw[start:].decode("utf-8")
            except UnicodeDecodeError as exc:
                pos = self.bytes + start + exc.start
                raise SubscriberError(
                    f"not UTF-8: byte 0x{raw[start + exc.start]:02x} at byte offset {pos} "
                    f"(column {exc.start + 1})",
                    location=f"{self.path}:{self.line}",
                    hint="save the file as 'CSV UTF-8' (in a spreadsheet: Save As → CSV UTF-8).",
                ) from None
            self.bytes += len(raw)
            yield text


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

    def __init__(self, header: list[str], path: Path, case_sensitive_local: bool) -> None:
        self.roles: dict[str, int] = {}
        self.attrs: list[tuple[int, str]] = []
        for i, title in enumerate(header):
            norm = _norm_header(title)
            role = _ROLE.get(norm)
            if role is None:
                if norm:
                    key = re.sub(r"\W+", "_", title.strip().lower()).strip("_") or norm
                    self.attrs.append((i, key))
            elif role == "first_name" or role == "last_name":
                self.roles.setdefault(role, i)
                self.attrs.append((i, role))
            elif role != "ignore":
                self.roles.setdefault(role, i)
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

    def parse(self, cells: list[str], line: int) -> Row:
        width = self.width
        if len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        elif len(cells) > width and any(c.strip() for c in cells[width:]):
            raise SubscriberError(
                f"{len(cells)} fields but the header has {width} "
                "(a quote missing, or a separator too many?)"
            )
        roles = self.roles
        email, key = normalise_email(
            unquote(cells[roles["email"]].strip()), case_sensitive_local=self.case_sensitive_local
        )
        i = roles.get("name")
        name = unquote(cells[i].strip()) if i is not None else ""
        if not name and ("first_name" in roles or "last_name" in roles):
            parts = (cells[roles[r]].strip() for r in ("first_name", "last_name") if r in roles)
            name = " ".join(unquote(p) for p in parts if p)
        if "\n" in name or "\r" in name:
            raise SubscriberError("the name runs over several lines: is a quote not closed?")
        if len(name) > NAME_MAX:
            raise SubscriberError(f"name longer than {NAME_MAX} characters")
        i = roles.get("language")
        language = normalise_language(cells[i]) if i is not None and cells[i] else None
        i = roles.get("status")
        status = normalise_status(cells[i]) if i is not None and cells[i] else None
        attrs: dict[str, Any] = {}
        for i, k in self.attrs:
            value = cells[i].strip()
            if value:
                attrs[k] = unquote(value)
        return Row(line, email, key, name, language, attrs, status)
