"""An in-memory backend for tests (yours and ours): records every message it accepts.

    from mailer.backends import MemoryBackend
    backend = MemoryBackend()
    send_issue(engine, config, "issues/x.yaml", "partners", backend=backend)
    assert [m.to for m in backend.sent] == ["ada@example.org"]

It can be told to fail the next batches: ``backend.fail_next("transient")``
(not accepted, safe to retry), ``"unknown"`` (request left, no answer),
``"reject"`` (the provider refuses the request, like a SendGrid 400).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from ..errors import ProviderRejected
from .base import Batch, Recipient, Report, TransientFailure, UnknownOutcome, personal_parts

Failure = Literal["transient", "unknown", "reject"]


@dataclass(frozen=True)
class SentMessage:
    """One message as the recipient would get it (tokens substituted)."""

    campaign_id: int
    subscriber_id: int
    to: str
    name: str
    language: str
    subject: str
    text: str
    html: str
    headers: dict[str, str]


@dataclass
class MemoryBackend:
    """Accepts everything (unless told to fail) and keeps it in ``sent``."""

    per_message: bool = False
    name: str = "memory"
    sent: list[SentMessage] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    _failures: deque[Failure] = field(default_factory=deque)
    opened: int = 0

    def fail_next(self, kind: Failure = "transient", times: int = 1) -> None:
        """Make the next *times* batches fail as *kind*."""
        self._failures.extend([kind] * times)

    def clear_failures(self) -> None:
        """Forget failures asked for with :meth:`fail_next` that have not happened yet."""
        self._failures.clear()

    def open(self) -> None:
        self.opened += 1

    def close(self) -> None:
        """Nothing to release."""

    def send(self, batch: Batch, report: Report) -> None:
        if self._failures:
            kind = self._failures.popleft()
            if kind == "transient":
                raise TransientFailure("memory backend: told to fail (transient)")
            if kind == "unknown":
                raise UnknownOutcome("memory backend: told to fail (no answer)")
            raise ProviderRejected(
                "memory backend rejected the request: rejected on purpose",
                reasons=["rejected on purpose"],
            )
        self.batches.append(batch.batch_id)
        for r in batch.recipients:
            self.sent.append(self._message(batch, r))
            report(r, "accepted", f"memory-{batch.batch_id}-{r.subscriber_id}", None)

    def probe(self, batch: Batch, recipient: Recipient) -> bool | None:
        return any(
            m.campaign_id == batch.campaign_id and m.subscriber_id == recipient.subscriber_id
            for m in self.sent
        )

    @staticmethod
    def _message(batch: Batch, r: Recipient) -> SentMessage:
        subject, text, html = personal_parts(batch, r)
        return SentMessage(
            campaign_id=batch.campaign_id,
            subscriber_id=r.subscriber_id,
            to=r.email,
            name=r.name,
            language=batch.content.language,
            subject=subject,
            text=text,
            html=html,
            headers=dict(r.headers),
        )
