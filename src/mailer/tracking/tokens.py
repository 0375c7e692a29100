"""Signed, short tokens for tracking and unsubscribe URLs (stdlib HMAC-SHA256).

Two kinds, so per-recipient work stays one HMAC per recipient:

* a **link token** names a campaign and one of its registered links; made once per
  campaign and link, written into the HTML at campaign start;
* a **recipient token** names a campaign and a subscriber; made once per recipient
  and substituted as ``%%r%%``.

Click URLs are ``<base>/c/<link token>/<recipient token>`` (or without the
recipient part when tracking is anonymous); opens ``<base>/o/<recipient token>``;
unsubscribe ``<base>/u/<recipient token>``. Every part is signed with
``MAILER_SECRET_KEY``: a tampered or truncated token fails verification, and a
recipient token from another campaign is refused.

Two more, not tied to a campaign:

* a **confirmation token** (``/confirm/<token>``) names a subscriber and a list and
  carries its expiry (Unix seconds): the double opt-in link of a sign-up;
* a **preference token** (``/p/<token>``) names a subscriber: the preference page linked
  from transactional emails (confirmation, welcome).

Each kind signs with its own prefix, so a token of one purpose never passes as another.

Format: ``<campaign base36>.<id base36>.<signature>``, the signature being the
first 12 (recipient) or 10 (link) characters of the URL-safe base64 HMAC over a
kind prefix and the ids.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from dataclasses import dataclass

from ..errors import ConfigError, TrackingError

SECRET_ENV = "MAILER_SECRET_KEY"
#: the subscriber id in the recipient token of a test message (``mailer send-test``):
#: nobody's (subscriber ids start at 1), so its /u/ page unsubscribes nobody and says so
TEST_SUBSCRIBER = 0
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


#: the 1,296 two-digit base-36 numbers, "00" to "zz": :func:`_b36` takes two digits a step
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
#: base64's two characters that the URL-safe alphabet replaces
_URLSAFE = bytes.maketrans(b"+/", b"-_")


#: 0 to 1,295 in base 36 without leading zeros
_SHORT = [p.lstrip("0") or "0" for p in _PAIRS]


def _b36(n: int) -> str:
    if n < 0:
        raise ValueError("ids are non-negative")
    if n < 1296:
        return _SHORT[n]
    high, low = divmod(n, 1296)
    if high < 1296:  # ids below 1,679,616: two lookups
        return _SHORT[high] + _PAIRS[low]
    out = [_PAIRS[low]]
    while high:
        high, low = divmod(high, 1296)
        out.append(_PAIRS[low])
    return "".join(reversed(out)).lstrip("0")


def _b64(digest: bytes, length: int) -> str:
    """The first *length* characters of the URL-safe base64 of *digest*: only the bytes
    they encode are encoded (base64 turns each 3 bytes into 4 characters on their own)."""
    part = digest[: 3 * -(-length // 4)]
    return binascii.b2a_base64(part, newline=False).translate(_URLSAFE)[:length].decode("ascii")


def _sig(key: bytes, kind: bytes, payload: str, length: int) -> str:
    digest = hmac.digest(key, kind + payload.encode("ascii"), "sha256")  # the C one-shot
    return _b64(digest, length)


class RecipientTokens:
    """``Signer.recipient(campaign_id, ·)`` for one campaign, made for a send's thousands
    (same tokens, a third of the work). HMAC-SHA256 as RFC 2104 (and the stdlib's
    ``hmac``) computes it: SHA-256 over the key XOR ipad, then the message, inside SHA-256
    over the key XOR opad. Both pads, and the message's campaign part, are hashed once
    here; each token copies the two states and hashes only the subscriber part."""

    def __init__(self, key: bytes, campaign_id: int) -> None:
        self.prefix = f"{_b36(campaign_id)}."
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._inner.update(b"r:" + self.prefix.encode("ascii"))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def __call__(self, subscriber_id: int) -> str:
        tail = _b36(subscriber_id)
        inner = self._inner.copy()
        inner.update(tail.encode("ascii"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        digest = outer.digest()[:9]  # 9 bytes: the 12 characters of the signature
        sig = binascii.b2a_base64(digest, newline=False).translate(_URLSAFE).decode("ascii")
        return f"{self.prefix}{tail}.{sig}"


#: SHA-256's block size, and HMAC's inner and outer pads (each key byte XOR 0x36, 0x5C)
_BLOCK = 64
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def load_key(value: str | None) -> bytes:
    """The signing key from ``MAILER_SECRET_KEY``'s value (at least 16 characters)."""
    if not value or len(value) < 16:
        raise ConfigError(
            f"{SECRET_ENV} must be set to a random string of at least 16 characters "
            "to sign tracking and unsubscribe links.",
            hint=f'export {SECRET_ENV}="$(python3 -c '
            '"import secrets; print(secrets.token_urlsafe(32))")"',
        )
    return value.encode("utf-8")


@dataclass(frozen=True)
class Signer:
    """Makes and checks tokens with one key."""

    key: bytes

    def recipient(self, campaign_id: int, subscriber_id: int) -> str:
        payload = f"{_b36(campaign_id)}.{_b36(subscriber_id)}"
        return f"{payload}.{_sig(self.key, b'r:', payload, 12)}"

    def recipients(self, campaign_id: int) -> RecipientTokens:
        """:meth:`recipient` for one campaign, for many subscribers (the send's hot path)."""
        return RecipientTokens(self.key, campaign_id)

    def link(self, campaign_id: int, link_id: int) -> str:
        payload = f"{_b36(campaign_id)}.{_b36(link_id)}"
        return f"{payload}.{_sig(self.key, b'l:', payload, 10)}"

    def view(self, campaign_id: int) -> str:
        """The token of a campaign's "view in browser" page (``/v/<token>``): campaign
        ids are guessable, so the page of a campaign is reachable only from its issue."""
        payload = _b36(campaign_id)
        return f"{payload}.{_sig(self.key, b'v:', payload, 10)}"

    def verify_view(self, token: str) -> int:
        """The campaign id of a valid view token, else TrackingError."""
        parts = token.split(".")
        if len(parts) != 2 or not all(parts) or not token.isascii():
            raise TrackingError("malformed token")
        if not hmac.compare_digest(parts[1], _sig(self.key, b"v:", parts[0], 10)):
            raise TrackingError("bad token signature")
        try:
            return int(parts[0], 36)
        except ValueError:
            raise TrackingError("malformed token") from None

    def _verify(self, token: str, kind: bytes, length: int) -> tuple[int, int]:
        parts = token.split(".")
        if len(parts) != 3 or not all(parts) or not token.isascii():
            raise TrackingError("malformed token")
        payload = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(parts[2], _sig(self.key, kind, payload, length)):
            raise TrackingError("bad token signature")
        try:
            return int(parts[0], 36), int(parts[1], 36)
        except ValueError:
            raise TrackingError("malformed token") from None

    def verify_recipient(self, token: str) -> tuple[int, int]:
        """(campaign id, subscriber id) of a valid recipient token, else TrackingError."""
        return self._verify(token, b"r:", 12)

    def verify_link(self, token: str) -> tuple[int, int]:
        """(campaign id, link id) of a valid link token, else TrackingError."""
        return self._verify(token, b"l:", 10)

    def _numbers(self, kind: bytes, numbers: tuple[int, ...], length: int) -> str:
        payload = ".".join(_b36(n) for n in numbers)
        return f"{payload}.{_sig(self.key, kind, payload, length)}"

    def _verify_numbers(self, token: str, kind: bytes, count: int, length: int) -> list[int]:
        parts = token.split(".")
        if len(parts) != count + 1 or not all(parts) or not token.isascii():
            raise TrackingError("malformed token")
        payload = ".".join(parts[:-1])
        if not hmac.compare_digest(parts[-1], _sig(self.key, kind, payload, length)):
            raise TrackingError("bad token signature")
        try:
            return [int(p, 36) for p in parts[:-1]]
        except ValueError:
            raise TrackingError("malformed token") from None

    def confirmation(self, subscriber_id: int, list_id: int, expires_at: int) -> str:
        """The double opt-in token of one sign-up, valid until *expires_at* (Unix seconds)."""
        return self._numbers(b"k:", (subscriber_id, list_id, expires_at), 16)

    def verify_confirmation(self, token: str, now: float) -> tuple[int, int]:
        """(subscriber id, list id) of a valid, unexpired confirmation token, else
        TrackingError (``expired`` when only the time is wrong)."""
        subscriber_id, list_id, expires_at = self._verify_numbers(token, b"k:", 3, 16)
        if now > expires_at:
            raise TrackingError("expired")
        return subscriber_id, list_id

    def preferences(self, subscriber_id: int) -> str:
        """The token of a subscriber's preference page (``/p/<token>``)."""
        return self._numbers(b"p:", (subscriber_id,), 16)

    def verify_preferences(self, token: str) -> int:
        """The subscriber id of a valid preference token, else TrackingError."""
        return self._verify_numbers(token, b"p:", 1, 16)[0]
