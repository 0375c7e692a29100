"""Per-recipient substitution values: the only per-recipient work of a send.

The issue is rendered once per language; each recipient then gets values for the
tokens that content contains (see docs/ARCHITECTURE.md → Substitution tokens):

* ``%%r%%``: the signed recipient token (``tokens.Signer.recipient``) when
  ``tracking.base_url`` is set;
* ``%%unsubscribe_url%%``: ``<base>/u/<recipient token>``, or without a base URL
  ``mailto:<sender.unsubscribe_mailto>?subject=unsubscribe``;
* merge fields (``Rendered.merge_fields``): ``name``, ``first_name``, ``email`` or a
  subscriber attribute, else the field's fallback.

HTML gets HTML-escaped values; the subject and text part get them as they are. SendGrid
applies one value to every part, so it is given the HTML-escaped one (a name with
``&`` shows as ``&amp;`` in that provider's text part rather than opening a hole in the HTML).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

from ..backends.base import Content, Recipient
from ..build.message import list_unsubscribe_headers
from ..config import Config
from ..rendered import UNSUBSCRIBE_URL, MergeField, field_value
from ..tracking.tokens import SECRET_ENV, RecipientTokens, Signer, load_key

RECIPIENT_TOKEN = "%%r%%"


_SPECIAL = frozenset("&<>\"'")


class Personalizer:
    """Makes :class:`Recipient` s for one campaign and one language's content."""

    def __init__(
        self,
        config: Config,
        campaign_id: int,
        content: Content,
        merge_fields: Iterable[MergeField] = (),
        *,
        test: bool = False,
    ) -> None:
        settings = config.settings
        self.campaign_id = campaign_id
        self.tokens = content.tokens
        self.base = (settings.tracking.base_url or "").rstrip("/")
        self.mailto = settings.sender.unsubscribe_mailto or settings.sender.from_email
        self.signer: Signer | None = None
        #: the recipient tokens of this campaign (``Signer.recipients``)
        self.token: RecipientTokens | None = None
        if self.base and not test:
            self.signer = Signer(load_key(config.secret(SECRET_ENV)))
            self.token = self.signer.recipients(campaign_id)
        self.fields = [f for f in merge_fields if f.token in self.tokens]
        self.field_tokens = frozenset(f.token for f in self.fields)
        self.mailto_url = f"mailto:{self.mailto}?subject=unsubscribe"
        self.mailto_header = f"<mailto:{self.mailto}?subject=unsubscribe>"
        #: without a signed token there is no https unsubscribe URL: mailto only
        self.static_headers = list_unsubscribe_headers(None, self.mailto)
        self.unsubscribe_base = f"{self.base}/u/"
        #: which per-recipient tokens the content uses (looked up once, not per recipient)
        self.wants_token = RECIPIENT_TOKEN in self.tokens
        self.wants_unsubscribe = UNSUBSCRIBE_URL in self.tokens

    def recipient(
        self,
        subscriber_id: int,
        email: str,
        name: str,
        attributes: Mapping[str, Any] | str | None = None,
    ) -> Recipient:
        """Values and headers for one subscriber (the hot path of a send: keep it lean)."""
        text: dict[str, str] = {}
        if self.token is not None:
            token = self.token(subscriber_id)
            unsubscribe = self.unsubscribe_base + token
            headers: Mapping[str, str] = {
                "List-Unsubscribe": f"<{unsubscribe}>, {self.mailto_header}",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
            if self.wants_token:
                text[RECIPIENT_TOKEN] = token
        else:
            unsubscribe = self.mailto_url
            headers = self.static_headers
            if self.base and self.wants_token:  # a test send: no campaign, no token
                text[RECIPIENT_TOKEN] = "test"
        if self.wants_unsubscribe:
            text[UNSUBSCRIBE_URL] = unsubscribe
        special = False
        for f in self.fields:
            value = field_value(f.field, email, name, attributes) or f.fallback
            text[f.token] = value
            if not special and not _SPECIAL.isdisjoint(value):
                special = True
        values = text  # tokens and URLs need no escaping; merge values only sometimes
        if special:
            values = {
                k: html.escape(v, quote=True) if k in self.field_tokens else v
                for k, v in text.items()
            }
        return Recipient(subscriber_id, email, name or "", values, text, headers)
