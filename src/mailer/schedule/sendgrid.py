"""SendGrid-native scheduling: ``mailer schedule … --backend sendgrid --provider-schedule``.

Instead of waiting for ``run-due``, the campaign is handed to SendGrid at once with
``send_at`` (a Unix time, at most :data:`MAX_AHEAD` ahead, SendGrid's limit) under a
batch id created with ``POST /v3/mail/batch``. SendGrid holds the messages until then;
``mailer schedule cancel ID`` cancels them with ``POST /v3/user/scheduled_sends``
(``status: cancel``) while the time has not come.

The campaign row keeps ``scheduled_at`` and the batch id (``provider_batch_id``); it is
``sent`` once SendGrid accepted every request (delivery happens at ``send_at``), so
``run-due`` never touches it. A send interrupted half-way is resumed by
``mailer send`` *without* ``send_at`` (it would go out at once): cancel it instead.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.error import URLError

from sqlalchemy import Engine

from .. import db
from ..backends.base import Batch
from ..backends.sendgrid import API_KEY_ENV, SendGridBackend
from ..config import Config
from ..errors import DeliveryError, ScheduleError

log = logging.getLogger(__name__)

#: SendGrid refuses a send_at further ahead than this
MAX_AHEAD = timedelta(hours=72)


class ScheduledSendGrid(SendGridBackend):
    """The SendGrid backend with ``send_at`` and ``batch_id`` in every request."""

    send_at: int = 0
    batch_id: str = ""

    def fork(self) -> ScheduledSendGrid:
        """A lane of its own (``[sending] concurrency``) with the same send_at and batch id."""
        other = super().fork()
        assert isinstance(other, ScheduledSendGrid)
        other.send_at, other.batch_id = self.send_at, self.batch_id
        return other

    def payload(self, batch: Batch) -> dict[str, Any]:  # type: ignore[override]
        body = SendGridBackend.payload(batch)
        body["send_at"] = self.send_at
        body["batch_id"] = self.batch_id
        return body


def _client(config: Config) -> Any:
    from sendgrid import SendGridAPIClient

    client = SendGridAPIClient(
        config.require_secret(API_KEY_ENV, "to schedule with SendGrid"), host=config.sendgrid_host
    )
    client.client.timeout = config.settings.sending.timeout
    return client


def _call(what: str, request: Any) -> Any:
    from python_http_client.exceptions import HTTPError

    try:
        return request()
    except HTTPError as exc:
        body = getattr(exc, "body", b"") or b""
        text = body.decode("utf-8", "replace")[:300] if isinstance(body, bytes) else str(body)
        raise DeliveryError(
            f"SendGrid refused to {what} ({exc.status_code}): {text}",
            hint=f"check {API_KEY_ENV} (it needs the Mail Send and scheduled-sends permissions).",
        ) from None
    except (URLError, TimeoutError, ConnectionError) as exc:
        raise DeliveryError(f"cannot reach SendGrid to {what}: {exc}") from None


def create_batch(config: Config) -> str:
    """A new SendGrid batch id (``POST /v3/mail/batch``)."""
    client = _client(config)
    response = _call("create a batch id", lambda: client.client.mail.batch.post())
    try:
        return str(json.loads(response.body)["batch_id"])
    except (ValueError, KeyError, TypeError):
        raise DeliveryError("SendGrid answered a batch request without a batch_id") from None


def cancel_batch(config: Config, batch_id: str) -> None:
    """Cancel everything scheduled under *batch_id* (``POST /v3/user/scheduled_sends``)."""
    client = _client(config)
    body = {"batch_id": batch_id, "status": "cancel"}
    _call(
        "cancel the scheduled send",
        lambda: client.client.user.scheduled_sends.post(request_body=body),
    )


def check_window(when_utc: datetime, now: datetime) -> None:
    """SendGrid takes a send_at at most 72 hours ahead."""
    if when_utc - now > MAX_AHEAD:
        raise ScheduleError(
            f"--provider-schedule can only schedule up to 72 hours ahead "
            f"({when_utc:%Y-%m-%d %H:%M} UTC is {(when_utc - now).total_seconds() / 3600:.0f} h "
            "away)",
            hint="drop --provider-schedule and let `mailer run-due` send it.",
        )


def send_with_send_at(engine: Engine, config: Config, campaign_id: int, when_utc: datetime) -> Any:
    """Create a batch id, record it, and hand the whole campaign to SendGrid with send_at."""
    from ..delivery.send import run_campaign

    batch_id = create_batch(config)
    with db.transaction(engine) as conn:
        conn.execute(
            db.campaigns.update()
            .where(db.campaigns.c.id == campaign_id)
            .values(provider_batch_id=batch_id)
        )
    backend = ScheduledSendGrid.from_config(config)
    assert isinstance(backend, ScheduledSendGrid)
    backend.send_at = int(when_utc.replace(tzinfo=UTC).timestamp())
    backend.batch_id = batch_id
    log.info(
        "campaign %s: handing to SendGrid, send_at=%s batch=%s",
        campaign_id,
        backend.send_at,
        batch_id,
    )
    return run_campaign(engine, config, campaign_id, backend=backend)
