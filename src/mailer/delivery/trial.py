"""Test sends (``mailer send-test``): the issue to a few addresses, recorded nowhere.

A test send makes no campaign, no batch and no delivery row: it builds the issue,
personalizes it for each test address and hands one batch to the backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..backends import Backend, get_backend
from ..backends.base import Batch, Content, Outcome, Recipient, Sender
from ..config import Config
from ..errors import SubscriberError
from .personalize import Personalizer


@dataclass(frozen=True)
class TrialDelivery:
    """What happened to one address of a test send."""

    email: str
    outcome: str
    error: str | None = None


def send_test(
    config: Config,
    issue_path: str | Path,
    to: Sequence[str],
    *,
    backend: str | Backend | None = None,
    lang: str | None = None,
) -> list[TrialDelivery]:
    """Send the issue to *to* with the subject prefixed "[TEST]". Nothing is recorded:
    no campaign, no ledger, no tracking links (links go straight to their targets)."""
    from ..audience.subscribers import normalise_email
    from ..build.pipeline import build_issue

    # a typo in --to is an error before anything is built or sent
    addresses = []
    for address in to:
        try:
            addresses.append(normalise_email(address)[0])
        except SubscriberError as exc:
            raise SubscriberError(
                f"test address {address.strip()!r}: {exc.message}",
                hint="give --to as comma-separated addresses: --to a@example.org,b@example.org",
            ) from None
    r = build_issue(Path(issue_path), config, lang=lang, for_send=True)
    view = config.settings.website or f"mailto:{config.settings.sender.from_email}"
    html = r.html.replace("%%view_url%%", view)
    text = r.text.replace("%%view_url%%", view)
    content = Content.of(r.language, f"[TEST] {r.subject}", html, text)
    p = Personalizer(config, 0, content, r.merge_fields, test=True)
    s = config.settings
    recipients = [p.recipient(i + 1, email, "") for i, email in enumerate(addresses)]
    batch = Batch(
        0,
        0,
        r.slug,
        Sender(s.sender.from_name, s.sender.from_email, s.sender.reply_to),
        content,
        recipients,
    )
    be = (
        backend
        if not isinstance(backend, str | None)
        else get_backend(backend or s.backend, config)
    )
    results: dict[str, TrialDelivery] = {}

    def report(rc: Recipient, outcome: Outcome, pid: str | None, err: str | None) -> None:
        results[rc.email] = TrialDelivery(rc.email, outcome, err)

    be.open()
    try:
        be.send(batch, report)
    finally:
        be.close()
    return [results.get(rc.email, TrialDelivery(rc.email, "unknown")) for rc in recipients]
