"""Reading a subscriber CSV file's bytes as decoded lines, in chunks, with their positions.

:class:`Lines` owns the bytes: refusing a spreadsheet workbook or UTF-16, dropping a UTF-8
BOM, reading old Mac (CR only) line endings, decoding about a megabyte of whole lines at a
time, naming an undecodable byte by its line and offset, and noting which lines hold a
refused control character. Its lines go to the csv module; turning the records into rows
(the header's roles, validation) is :mod:`mailer.audience.csvread`'s job.
"""

from __future__ import annotations

import codecs
import io
import itertools
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from ..errors import SubscriberError

#: a refused control character in decoded lines, line endings (LF, CRLF) aside
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")
_CONTROL_BYTES = bytes([*range(0x09), *range(0x0B, 0x20), 0x7F])  # CR among them

#: the most a chunk of the file decoded at once holds (cut after its last line break)
CHUNK_BYTES = 1 << 20


class Lines:
    """Decoded lines of a binary file, read in chunks of whole lines, with the bytes read.

    A chunk is decoded, and scanned for refused control characters, at once (one regex over
    about a megabyte, not one per line), and its lines are handed to the csv module by C code
    (:func:`itertools.chain` over :class:`io.StringIO`): no Python runs per line. The caller
    numbers records from the csv reader's ``line_num``. :attr:`control_lines` are the lines
    that hold a control character, so a record on one other line needs no check of its
    cells (see :meth:`needs_control_check`). A bad byte is still named by its line and
    offset: the lines before it are read first, as if line by line.
    """

    def __init__(self, fh: IO[bytes], path: Path, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.fh, self.path, self.chunk_bytes = fh, path, chunk_bytes
        self.decoded = 0  # lines decoded so far (ahead of the csv reader)
        self.bytes = 0
        self.control_lines: set[int] = set()

    def needs_control_check(self, first: int, last: int) -> bool:
        """Whether the record on lines *first* to *last* may hold a control character in a
        cell: it spans lines (a line break in a quoted field) or its line holds one."""
        return last != first or first in self.control_lines

    def __iter__(self) -> Iterator[str]:
        return itertools.chain.from_iterable(self._chunks())

    def _raw_chunks(self) -> Iterator[bytes]:
        """Whole lines as bytes, ending in LF (the last perhaps not); old Mac files (CR only)
        have their CRs read as LF (same length: byte offsets stay exact)."""
        fh = self.fh
        head = fh.peek(65536)[:65536] if hasattr(fh, "peek") else b""
        if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            raise SubscriberError(
                "this is a spreadsheet workbook (.xlsx, .xls or .ods), not a CSV file",
                location=str(self.path),
                hint="open it and Save As → 'CSV UTF-8 (comma delimited)', then import that file.",
            )
        cr_only = b"\r" in head and b"\n" not in head
        rest = b""
        while chunk := fh.read(self.chunk_bytes):
            if cr_only:
                chunk = chunk.replace(b"\r", b"\n")
            data = rest + chunk if rest else chunk
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut:
                yield data[:cut] if rest else data
        if rest:
            yield rest

    def _chunks(self) -> Iterator[Iterable[str]]:
        first = True
        for raw in self._raw_chunks():
            start = 0
            if first:
                first = False
                if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    raise SubscriberError(
                        "the file is UTF-16, not UTF-8",
                        location=f"{self.path}:1",
                        hint="save it as 'CSV UTF-8 (comma delimited)'.",
                    )
                if raw.startswith(codecs.BOM_UTF8):
                    start = 3
            try:
                text = (raw[start:] if start else raw).decode("utf-8")
            except UnicodeDecodeError as exc:
                yield from self._bad_byte(raw, start, start + exc.start)  # raises
                return
            yield self._take(text, raw)

    def _take(self, text: str, raw: bytes) -> Iterable[str]:
        """Count and scan *text* (whole lines, decoded from *raw*), then its lines for the csv
        reader. The scan is of the bytes (a control character is one ASCII byte in UTF-8):
        deleting every control byte but TAB and LF must delete just the CR of each CRLF."""
        size = len(raw)
        if size - len(raw.translate(None, _CONTROL_BYTES)) != raw.count(b"\r\n"):
            line, pos = self.decoded + 1, 0
            for m in _CONTROL_IN_TEXT.finditer(text):
                line += text.count("\n", pos, m.start())
                pos = m.start()
                self.control_lines.add(line)
        self.decoded += text.count("\n") + (not text.endswith("\n"))
        self.bytes += size
        return io.StringIO(text)  # iterates over lines split at LF only, kept whole

    def _bad_byte(self, raw: bytes, start: int, bad: int) -> Iterator[Iterable[str]]:
        """The lines before the undecodable byte at *bad*, then SubscriberError naming it."""
        offset = self.bytes + bad  # in the file
        line_start = max(raw.rfind(b"\n", 0, bad) + 1, start)
        if line_start > start:
            good = raw[:line_start]
            yield self._take(good[start:].decode("utf-8"), good)
        raise SubscriberError(
            f"not UTF-8: byte 0x{raw[bad]:02x} at byte offset {offset} "
            f"(column {bad - line_start + 1})",
            location=f"{self.path}:{self.decoded + 1}",
            hint="save the file as 'CSV UTF-8' (in a spreadsheet: Save As → CSV UTF-8).",
        )
