"""Reading request bodies with a size cap, for the public endpoints of ``mailer serve``.

``read_capped(request, cap)`` refuses a ``Content-Length`` above *cap* before reading
anything, and otherwise reads the stream chunk by chunk, stopping as soon as it passes
*cap*: memory stays bounded whatever a client announces or sends.
"""

from __future__ import annotations

import os

from starlette.requests import Request

#: environment variable overriding a body cap, in bytes
MAX_BYTES_ENV = "MAILER_WEBHOOK_MAX_BYTES"


class BodyTooLarge(Exception):
    """The request body is (or announces itself) larger than allowed: answer 413."""


def cap_from_env(default: int) -> int:
    """``MAILER_WEBHOOK_MAX_BYTES`` as a positive int, else *default*."""
    raw = os.environ.get(MAX_BYTES_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


async def read_capped(request: Request, cap: int) -> bytes:
    """The whole body of *request*, at most *cap* bytes, else :class:`BodyTooLarge`."""
    declared = request.headers.get("content-length", "").strip()
    if declared and (not declared.isdigit() or int(declared) > cap):
        raise BodyTooLarge(declared)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge(str(size))
        chunks.append(chunk)
    return b"".join(chunks)
