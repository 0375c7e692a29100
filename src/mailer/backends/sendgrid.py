"""The SendGrid backend: ``POST /v3/mail/send`` with the official client and plain dicts.

One request per batch (≤ 1000 personalizations, each with ``to``, ``substitutions``,
``custom_args`` {campaign_id, subscriber_id} and the one-click ``headers``), the issue
slug as the category, content text/plain then text/html.

The client has no timeout and never retries, so this module does both:

* every request has ``sending.timeout``;
* 429, 5xx and connection failures before the request left are retried up to
  ``sending.max_retries`` times, waiting what ``Retry-After`` / ``X-RateLimit-Reset``
  say, else exponential back-off with jitter, capped at ``sending.max_backoff``;
  when retries run out the batch is a :class:`TransientFailure` (safe to resend);
* a timeout *after* the request left → :class:`UnknownOutcome` (held ``unknown``);
  a connection closed with no answer is treated as a connection error (retried);
* 400/413 → :class:`ProviderRejected` with SendGrid's reasons (Prism's in its
  ``sl-violations`` header); 401/403 → a DeliveryError about the key.

Batches in flight (``[sending] concurrency``): the ledger sends on :meth:`SendGridBackend.fork`
s, one client per thread (the client keeps per-request headers on itself). The body is
serialised here, not by the client: the parts every request of one language shares are
encoded once and each batch's personalizations are encoded with orjson and spliced in
(:meth:`SendGridBackend.prepare` does it ahead for a batch waiting for a lane); the
request is made as the client's ``mail.send.post`` makes it, without its DEBUG lines
(see :meth:`SendGridBackend._request`).

The key comes from ``SENDGRID_API_KEY`` only. The client logs the Authorization header
at DEBUG, so its logger is held at WARNING whenever this backend is made.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import random
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.error import HTTPError, URLError

import orjson

from ..config import Config
from ..errors import DeliveryError, ProviderRejected
from .base import Batch, Recipient, Report, TransientFailure, UnknownOutcome

log = logging.getLogger(__name__)
API_KEY_ENV = "SENDGRID_API_KEY"
JSON_UTF8 = "application/json; charset=utf-8"


def _silence_client_logs() -> None:
    logger = logging.getLogger("python_http_client")
    if logger.getEffectiveLevel() < logging.WARNING:
        logger.setLevel(logging.WARNING)


def retry_delay(headers: Any, attempt: int, max_backoff: float, now: float | None = None) -> float:
    """Seconds to wait before retry *attempt* (1-based): what the server asked, else
    jittered exponential back-off; never more than *max_backoff*."""
    now = time.time() if now is None else now
    asked: float | None = None
    if headers is not None:
        retry_after = headers.get("Retry-After")
        reset = headers.get("X-RateLimit-Reset")
        if retry_after:
            try:
                asked = float(retry_after)
            except ValueError:
                try:
                    asked = parsedate_to_datetime(retry_after).timestamp() - now
                except (TypeError, ValueError):
                    asked = None
        elif reset:
            try:
                asked = float(reset) - now
            except ValueError:
                asked = None
    if asked is not None:
        return max(0.0, min(asked, max_backoff))
    base = min(max_backoff, 0.25 * 2 ** (attempt - 1))
    return float(base * random.uniform(0.5, 1.0))


def _reasons(exc: Any) -> list[str]:
    """SendGrid's error messages from a 4xx (body ``errors``, or Prism's header)."""
    reasons: list[str] = []
    headers = getattr(exc, "headers", None)
    violations = headers.get("sl-violations") if headers is not None else None
    if violations:
        try:
            for v in json.loads(violations):
                where = ".".join(str(p) for p in v.get("path", [])) or v.get("location", "")
                reasons.append(f"{where}: {v.get('message', v)}" if where else str(v))
        except (ValueError, TypeError, AttributeError):
            reasons.append(str(violations))
    body = getattr(exc, "body", b"") or b""
    try:
        data = json.loads(body)
        for err in data.get("errors", []) if isinstance(data, dict) else []:
            field = err.get("field")
            reasons.append(f"{field}: {err.get('message')}" if field else str(err.get("message")))
    except (ValueError, TypeError, AttributeError):
        if body:
            reasons.append(body[:500].decode("utf-8", "replace"))
    return reasons


def _plain(value: object) -> object:
    """orjson's fallback: a mapping that is not a dict (headers, values) as a dict."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


class SendGridBackend:
    """Posts one batch per request to SendGrid (or ``MAILER_SENDGRID_HOST``)."""

    name = "sendgrid"
    per_message = False

    def __init__(
        self,
        api_key: str,
        host: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 6,
        max_backoff: float = 60.0,
    ) -> None:
        from sendgrid import SendGridAPIClient

        _silence_client_logs()
        self._client = SendGridAPIClient(api_key, host=host)
        self._client.client.timeout = timeout
        # the body is serialised here (see payload_json) and posted as it is
        self._client.client.request_headers["Content-Type"] = JSON_UTF8
        self._key = api_key
        self.host = host
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_backoff = max_backoff
        #: requests made (retries included) by this backend and its forks: tests and bench
        self._count = [0]
        self._count_lock = threading.Lock()
        #: the shared parts of the body per content (id of the Content object → head, tail)
        self._frames: dict[int, tuple[object, bytes, bytes]] = {}
        #: bodies encoded ahead (:meth:`prepare`), shared with the forks: batch id →
        #: (the batch, its body); the lane that sends the batch takes its body out
        self._bodies: dict[int, tuple[Batch, bytes]] = {}
        #: ``POST /v3/mail/send`` as the client builds it, and this lane's opener
        self._url = f"{host}/v3/mail/send"
        self._opener = urllib.request.build_opener()

    @property
    def requests(self) -> int:
        return self._count[0]

    def fork(self) -> SendGridBackend:
        """Same settings, its own client: one more request in flight (one per thread).
        A subclass keeps its class (and copies its own settings in its ``fork``)."""
        other = type(self)(
            self._key,
            self.host,
            timeout=self.timeout,
            max_retries=self.max_retries,
            max_backoff=self.max_backoff,
        )
        other._count, other._count_lock = self._count, self._count_lock
        other._bodies = self._bodies
        return other

    def __repr__(self) -> str:  # no key in reprs
        return f"SendGridBackend({self.host})"

    @classmethod
    def from_config(cls, config: Config) -> SendGridBackend:
        s = config.settings.sending
        return cls(
            config.require_secret(API_KEY_ENV, "to send with SendGrid"),
            config.sendgrid_host,
            timeout=s.timeout,
            max_retries=s.max_retries,
            max_backoff=s.max_backoff,
        )

    def open(self) -> None:
        """Nothing to open: each request is its own connection."""

    def close(self) -> None:
        """Forget the bodies encoded ahead for batches that never left."""
        self._bodies.clear()

    def prepare(self, batch: Batch) -> None:
        """Encode *batch*'s body ahead (:meth:`payload_json`), while it waits for a lane:
        the ledger calls this on the thread that prepares batches when that thread would
        otherwise wait, so the lane that sends it posts at once. Optional for a backend."""
        if batch.recipients:
            self._bodies[batch.batch_id] = (batch, self.payload_json(batch))

    def probe(self, batch: Batch, recipient: Recipient) -> bool | None:
        return None

    # -- payload -----------------------------------------------------------
    @staticmethod
    def payload(batch: Batch) -> dict[str, Any]:
        """The request body for *batch*: plain dicts, as SendGrid's v3 API takes them."""
        c = batch.content
        cid = str(batch.campaign_id)
        personalizations = [SendGridBackend.personalization(cid, r) for r in batch.recipients]
        sender: dict[str, str] = {"email": batch.sender.email}
        if batch.sender.name:
            sender["name"] = batch.sender.name
        body: dict[str, Any] = {
            "personalizations": personalizations,
            "from": sender,
            "subject": c.subject,
            "content": [
                {"type": "text/plain", "value": c.text},
                {"type": "text/html", "value": c.html},
            ],
            "categories": [batch.slug[:255]],
        }
        if batch.sender.reply_to:
            body["reply_to"] = {"email": batch.sender.reply_to}
        return body

    @staticmethod
    def personalization(campaign_id: str, r: Recipient) -> dict[str, Any]:
        to: dict[str, str] = {"email": r.email}
        if r.name:
            to["name"] = r.name
        p: dict[str, Any] = {
            "to": [to],
            "custom_args": {"campaign_id": campaign_id, "subscriber_id": str(r.subscriber_id)},
        }
        if r.values:
            p["substitutions"] = r.values
        if r.headers:
            p["headers"] = r.headers
        return p

    def payload_json(self, batch: Batch) -> bytes:
        """:meth:`payload` as UTF-8 JSON: the parts shared by every batch of this content
        are encoded once, the personalizations of *batch* spliced in (orjson: ~0.3 ms for
        1,000 of them where ``json.dumps`` takes ~9 ms)."""
        frame = self._frames.get(id(batch.content))
        if frame is None or frame[0] is not batch.content:
            shell = self.payload(replace(batch, recipients=[]))
            del shell["personalizations"]
            rest = json.dumps(shell, ensure_ascii=False, separators=(",", ":"))
            frame = (batch.content, b'{"personalizations":', b"," + rest[1:].encode("utf-8"))
            self._frames[id(batch.content)] = frame
        cid = str(batch.campaign_id)
        people = [self.personalization(cid, r) for r in batch.recipients]
        return frame[1] + orjson.dumps(people, default=_plain) + frame[2]

    # -- sending -----------------------------------------------------------
    def _request(self, body: bytes) -> Any:
        """One ``POST`` of *body*, as the client's ``mail.send.post`` makes it (same URL,
        headers, timeout, errors as ``python_http_client`` exceptions) minus its DEBUG
        log lines, which format the whole body even when DEBUG is off (~5 ms of a
        1,000-recipient request, all of it holding the GIL)."""
        from python_http_client.client import Response
        from python_http_client.exceptions import handle_error

        request = urllib.request.Request(
            self._url, data=body, headers=self._client.client.request_headers, method="POST"
        )
        try:
            return Response(self._opener.open(request, timeout=self.timeout))
        except HTTPError as err:
            raise handle_error(err) from None

    def _post(self, body: bytes) -> Any:
        from python_http_client.exceptions import HTTPError as ClientHTTPError

        attempt = 0
        while True:
            attempt += 1
            with self._count_lock:
                self._count[0] += 1
            headers = None
            try:
                return self._request(body)
            except ClientHTTPError as exc:
                code = int(exc.status_code)
                if code in (400, 413):
                    reasons = _reasons(exc)
                    raise ProviderRejected(
                        f"SendGrid rejected the request ({code}): " + "; ".join(reasons),
                        reasons=reasons,
                        hint="fix the issue or the subscriber named above, then run "
                        "`mailer send` again to resume.",
                    ) from None
                if code in (401, 403):
                    raise DeliveryError(
                        f"SendGrid refused the API key ({code})",
                        hint=f"check {API_KEY_ENV} (it needs the Mail Send permission).",
                    ) from None
                if code != 429 and code < 500:
                    raise ProviderRejected(
                        f"SendGrid answered {code}: " + "; ".join(_reasons(exc)),
                        reasons=_reasons(exc),
                    ) from None
                headers = exc.headers
                what = f"SendGrid answered {code}"
            except URLError as exc:  # connect or send failed: the request did not leave
                what = f"cannot reach {self.host}: {exc.reason}"
            except TimeoutError:
                raise UnknownOutcome(
                    f"no answer from {self.host} within {self.timeout:g}s after the request left",
                    hint="the batch is held as unknown; see `mailer campaigns`.",
                ) from None
            except (http.client.RemoteDisconnected, ConnectionError) as exc:
                what = f"{self.host} closed the connection without answering ({exc})"
            except (http.client.HTTPException, OSError) as exc:  # a garbled or cut answer
                raise UnknownOutcome(
                    f"the answer from {self.host} was cut or unreadable ({exc!r}) after the "
                    "request left",
                    hint="the batch is held as unknown; see `mailer campaigns`.",
                ) from None
            if attempt > self.max_retries:
                raise TransientFailure(f"{what}; gave up after {attempt} attempts")
            delay = retry_delay(headers, attempt, self.max_backoff)
            log.warning("%s; retrying in %.2fs (attempt %d)", what, delay, attempt + 1)
            time.sleep(delay)

    def send(self, batch: Batch, report: Report) -> None:
        if not batch.recipients:
            return
        ahead = self._bodies.pop(batch.batch_id, None)
        body = ahead[1] if ahead is not None and ahead[0] is batch else self.payload_json(batch)
        response = self._post(body)
        message_id = None
        with contextlib.suppress(AttributeError):
            message_id = response.headers.get("X-Message-Id")
        for r in batch.recipients:
            report(r, "accepted", message_id, None)
