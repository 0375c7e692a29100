"""The outbox backend: one ``.eml`` file per recipient, ``outbox/<campaign>/<n>-<email>.eml``.

``n`` is the subscriber id. Messages of no campaign (campaign id 0) are written anew each
time, never "already sent": a send-test's (to nobody: subscriber 0) go to
``outbox/test/<time>-<n>-<email>.eml``, a notice's (the sign-up confirmation or the welcome
email of ``mailer.notices``, to one real subscriber) to
``outbox/notices/<time>-<slug>-<n>-<email>.eml``.

Each file is written atomically (a temporary file in the same folder, fsync, then
rename), so a file under its final name is a complete message: after a crash the
ledger asks :meth:`OutboxBackend.probe` whether the in-flight message exists, and
a message whose file already exists is never written twice.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from ..process import pid_alive
from .base import Batch, Recipient, Report, build_bytes

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


class OutboxBackend:
    """Writes messages as files instead of sending them (the default, and `make demo`)."""

    name = "outbox"
    per_message = True

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._stamp = time.strftime("%Y%m%dT%H%M%S") + f".{time.time_ns() % 10**9:09d}"

    def path_for(self, batch: Batch, recipient: Recipient) -> Path:
        """Where the message for *recipient* of *batch*'s campaign goes."""
        safe = _UNSAFE.sub("_", recipient.email)
        if not batch.campaign_id and recipient.subscriber_id:  # a notice to one reader
            slug = _UNSAFE.sub("_", batch.slug)
            name = f"{self._stamp}-{slug}-{recipient.subscriber_id:07d}-{safe}.eml"
            return self.directory / "notices" / name
        if not batch.campaign_id:  # a test send: a new file each time, never "already sent"
            name = f"{self._stamp}-{recipient.subscriber_id:03d}-{safe}.eml"
            return self.directory / "test" / name
        return self.directory / str(batch.campaign_id) / f"{recipient.subscriber_id:07d}-{safe}.eml"

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for tmp in self.directory.glob("*/.*.tmp"):  # half-written by a process that died
            pid = tmp.name.rsplit(".", 2)[-2]
            if pid.isdigit() and not pid_alive(int(pid)):
                tmp.unlink(missing_ok=True)

    def close(self) -> None:
        """Nothing to release."""

    def send(self, batch: Batch, report: Report) -> None:
        for r in batch.recipients:
            final = self.path_for(batch, r)
            if final.exists():  # written before a crash: it is delivered
                report(r, "accepted", final.name, None)
                continue
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
            try:
                data = build_bytes(batch, r)
            except (ValueError, TypeError, UnicodeError) as exc:  # this recipient's data
                report(r, "failed", None, f"the message could not be built: {exc}")
                continue
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
            report(r, "accepted", final.name, None)

    def probe(self, batch: Batch, recipient: Recipient) -> bool | None:
        return self.path_for(batch, recipient).exists()
