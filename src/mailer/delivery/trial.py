"""Test sends (``mailer send-test``): the issue to a few addresses, as a reader gets it.

A test send records nothing as a delivery: no batch, no delivery row, nothing that
``mailer campaigns``, schedules, run-due, stats or the comparison of issues count, and
nothing that keeps a later ``mailer send`` of the same issue from going to everyone.

With ``[tracking] base_url`` set, the message is the one a reader gets: a campaign row of
kind ``test`` (``db.CampaignKind.TEST``; every reader of campaigns filters on ``send``)
holds the test's links and contents, so its hrefs go through ``<base>/c/<signed token>``
exactly as a campaign's do (registered by :func:`mailer.tracking.rewrite.prepare`), the
open pixel is there when ``tracking.opens`` is on, "view in browser" opens ``/v/`` and the
one-click ``List-Unsubscribe`` headers carry a working ``<base>/u/`` URL.

The recipient token of a test message is signed for subscriber ``0``
(:data:`mailer.tracking.tokens.TEST_SUBSCRIBER`): no subscriber has that id, so a click
redirects and is recorded for the test campaign with no subscriber (stats never read
test campaigns), and the ``/u/`` page unsubscribes nobody, even when a ``--to`` address
is a subscriber. Merge fields are filled with that subscriber's values when the address
is one (else each field's fallback).

Without a base URL (or with no list in the database yet: no reader could get the issue)
links go straight to their targets and the message has the mailto unsubscribe only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from .. import db
from ..backends import Backend, get_backend
from ..backends.base import Batch, Content, Outcome, Recipient, Sender
from ..config import Config
from ..errors import SubscriberError
from ..rendered import VIEW_URL, Rendered
from ..tracking.tokens import TEST_SUBSCRIBER
from .personalize import Personalizer
from .send import insert_contents

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialDelivery:
    """What happened to one address of a test send."""

    email: str
    outcome: str
    error: str | None = None


def checked_addresses(to: Sequence[str]) -> list[str]:
    """*to* checked and normalised, each once; a typo is an error naming the address."""
    from ..audience.subscribers import normalise_email

    addresses: list[str] = []
    for address in to:
        try:
            email = normalise_email(address)[0]
        except SubscriberError as exc:
            raise SubscriberError(
                f"test address {address.strip()!r}: {exc.message}",
                hint="give --to as comma-separated addresses: --to a@example.org,b@example.org",
            ) from None
        if email.lower() not in {a.lower() for a in addresses}:
            addresses.append(email)
    return addresses


def _readers(engine: Engine, addresses: Sequence[str]) -> tuple[dict[str, Any], int | None]:
    """The subscriber rows of the addresses that are subscribers (by address), and the list
    the test campaign is filed under: one of theirs, else the first list (None: no list)."""
    from ..audience.subscribers import find

    m = db.memberships
    with db.read(engine) as conn:
        rows = {a: find(conn, a) for a in addresses}
        people = {a: r for a, r in rows.items() if r is not None}
        ids = [int(r.id) for r in people.values()]
        list_id = None
        if ids:
            list_id = conn.execute(
                select(func.min(m.c.list_id)).where(m.c.subscriber_id.in_(ids))
            ).scalar()
        if list_id is None:
            list_id = conn.execute(select(func.min(db.lists.c.id))).scalar()
    return people, None if list_id is None else int(list_id)


def _test_campaign(
    engine: Engine, config: Config, r: Rendered, issue_path: Path, list_id: int, backend: str
) -> tuple[int, Rendered]:
    """Store a ``test`` campaign with its links and contents; the tracked rendering."""
    from ..tracking.rewrite import prepare

    c = db.campaigns
    now = db.utcnow()
    with db.transaction(engine) as conn:
        cid = int(
            conn.execute(
                c.insert().values(
                    issue_slug=r.slug,
                    issue_path=str(issue_path.resolve()),
                    list_id=list_id,
                    status=db.CampaignStatus.SENT.value,
                    backend=backend,
                    subject=r.subject,
                    kind=db.CampaignKind.TEST.value,
                    finished_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
        prepared = prepare(conn, cid, r, config)
        insert_contents(conn, cid, prepared)
    return cid, prepared


def send_test(
    config: Config,
    issue_path: str | Path,
    to: Sequence[str],
    *,
    backend: str | Backend | None = None,
    lang: str | None = None,
    engine: Engine | None = None,
) -> list[TrialDelivery]:
    """Send the issue to *to* with the subject prefixed "[TEST]", as a reader gets it
    (see the module docstring). Nothing is recorded as a delivery."""
    from ..build.pipeline import build_issue
    from ..tracking.rewrite import base_url, signer

    addresses = checked_addresses(to)  # a typo is an error before anything is built or sent
    path = Path(issue_path)
    r = build_issue(path, config, lang=lang, for_send=True)
    s = config.settings
    be = (
        backend
        if not isinstance(backend, str | None)
        else get_backend(backend or s.backend, config)
    )
    campaign_id = 0
    people: dict[str, Any] = {}
    if base_url(config):
        signer(config)  # no MAILER_SECRET_KEY: the error comes before anything is written
        engine = engine or db.connect(config.database_url)
        people, list_id = _readers(engine, addresses)
        if list_id is None:
            log.warning(
                "links in this test are not tracked: the database has no list yet, so no "
                "reader would get this issue; import subscribers to test tracked links"
            )
        else:
            used = getattr(be, "name", None) or str(backend or s.backend)
            campaign_id, r = _test_campaign(engine, config, r, path, list_id, used)
    if not campaign_id:
        view = s.website or f"mailto:{s.sender.from_email}"
        html, text = r.html.replace(VIEW_URL, view), r.text.replace(VIEW_URL, view)
    else:
        html, text = r.html, r.text
    content = Content.of(r.language, f"[TEST] {r.subject}", html, text)
    p = Personalizer(config, campaign_id, content, r.merge_fields, test=not campaign_id)
    recipients = []
    for email in addresses:
        who = people.get(email)
        name, attributes = (str(who.name or ""), who.attributes) if who is not None else ("", None)
        recipients.append(p.recipient(TEST_SUBSCRIBER, email, name, attributes))
    sender = Sender(s.sender.from_name, s.sender.from_email, s.sender.reply_to)
    # campaign 0 for the backend: the outbox files tests apart, provider events find no campaign
    batch = Batch(0, 0, r.slug, sender, content, recipients)
    results: dict[str, TrialDelivery] = {}

    def report(rc: Recipient, outcome: Outcome, pid: str | None, err: str | None) -> None:
        results[rc.email] = TrialDelivery(rc.email, outcome, err)

    be.open()
    try:
        be.send(batch, report)
    finally:
        be.close()
    return [results.get(rc.email, TrialDelivery(rc.email, "unknown")) for rc in recipients]
