"""Send one message to one reader through the configured backend (no campaign, no ledger).

:func:`send_confirmation` writes the double opt-in email in the reader's language;
:func:`send_welcome` builds the ``[subscribe] welcome`` issue in the reader's language and
fills its merge fields and footer links for that reader, as a send does. Both raise
:class:`~mailer.errors.DeliveryError` when the backend did not accept the message.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..backends import Batch, Content, Recipient, Sender, get_backend
from ..backends.base import TOKEN_RE, substitute
from ..build.message import list_unsubscribe_headers
from ..build.pipeline import build_issue, issue_languages
from ..config import Config
from ..errors import DeliveryError
from ..rendered import UNSUBSCRIBE_URL, VIEW_URL, MergeField, field_value
from .texts import confirmation_texts

log = logging.getLogger(__name__)


class Notifier:
    """Sends single messages with the backend named in mailer.toml (``backend``)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        s = config.settings.sender
        self.sender = Sender(s.from_name, s.from_email, s.reply_to)
        self.mailto = s.unsubscribe_mailto or s.from_email

    def send(
        self,
        *,
        slug: str,
        subscriber_id: int,
        email: str,
        name: str,
        content: Content,
        values: Mapping[str, str] | None = None,
        text_values: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send *content* to one reader; DeliveryError unless the backend accepted it."""
        recipient = Recipient(
            subscriber_id,
            email,
            name,
            values or {},
            text_values or values or {},
            headers if headers is not None else list_unsubscribe_headers(None, self.mailto),
        )
        batch = Batch(0, 0, slug, self.sender, content, [recipient])
        outcomes: list[tuple[str, str | None]] = []
        backend = get_backend(self.config.settings.backend, self.config)
        backend.open()
        try:
            backend.send(batch, lambda _r, outcome, _id, error: outcomes.append((outcome, error)))
        finally:
            backend.close()
        if not outcomes or outcomes[0][0] != "accepted":
            why = outcomes[0][1] if outcomes else "no answer"
            raise DeliveryError(f"the {slug} message was not accepted: {why}")
        log.info("%s message sent to subscriber %s", slug, subscriber_id)


def send_confirmation(
    config: Config,
    *,
    subscriber_id: int,
    email: str,
    name: str,
    language: str | None,
    list_name: str,
    url: str,
) -> None:
    """The double opt-in email: one link to *url* (the confirmation page, which confirms
    only when its button is pressed), in the reader's language."""
    t = confirmation_texts(language)
    settings = config.settings
    newsletter = settings.name
    hours = settings.subscribe.confirm_hours
    lines = [
        t.greeting.format(name=name or email),
        t.body.format(newsletter=newsletter, list=list_name),
        t.expires.format(hours=hours),
        t.ignore,
    ]
    text = "\n\n".join([lines[0], lines[1], url, lines[2], lines[3]]) + "\n"
    e = html.escape
    color = settings.brand.primary_color
    page = (
        f'<!doctype html><html lang="{t.language}" dir="{t.direction}"><head>'
        f'<meta charset="utf-8"><title>{e(t.subject.format(newsletter=newsletter))}</title>'
        f'</head><body style="font-family:Arial,sans-serif;line-height:1.5">'
        f"<p>{e(lines[0])}</p><p>{e(lines[1])}</p>"
        f'<p><a href="{e(url)}" style="display:inline-block;padding:12px 20px;'
        f'background:{e(color)};color:#ffffff;text-decoration:none;border-radius:6px">'
        f"{e(t.button)}</a></p><p>{e(url)}</p><p>{e(lines[2])}</p><p>{e(lines[3])}</p>"
        "</body></html>"
    )
    content = Content.of(t.language, t.subject.format(newsletter=newsletter), page, text)
    Notifier(config).send(
        slug="confirm", subscriber_id=subscriber_id, email=email, name=name, content=content
    )


def send_welcome(
    config: Config,
    issue: str,
    *,
    subscriber_id: int,
    email: str,
    name: str,
    language: str | None,
    attributes: Mapping[str, Any],
    preferences_url: str,
) -> None:
    """Build the welcome *issue* (a path, relative to mailer.toml's folder) in the
    reader's language and send it to them with their values filled in."""
    path = config.resolve(issue)
    lang = config.settings.default_language
    wanted = (language or "").split("-")[0].lower()
    if wanted and wanted in issue_languages(Path(path), config):
        lang = wanted
    rendered = build_issue(path, config, lang=lang, for_send=True)
    text_values: dict[str, str] = {UNSUBSCRIBE_URL: preferences_url}
    text_values[VIEW_URL] = config.settings.website or preferences_url
    fields: list[MergeField] = list(rendered.merge_fields)
    for f in fields:
        text_values[f.token] = field_value(f.field, email, name, attributes) or f.fallback
    values = {
        k: html.escape(v, quote=True) if k not in (UNSUBSCRIBE_URL, VIEW_URL) else v
        for k, v in text_values.items()
    }

    def fill(part: str, vals: Mapping[str, str]) -> str:
        return TOKEN_RE.sub("", substitute(part, vals))  # no campaign: no tracking tokens

    content = Content.of(
        rendered.language,
        fill(rendered.subject, text_values),
        fill(rendered.html, values),
        fill(rendered.text, text_values),
    )
    mailto = config.settings.sender.unsubscribe_mailto or config.settings.sender.from_email
    headers = list_unsubscribe_headers(None, mailto)
    headers["List-Unsubscribe"] = f"<{preferences_url}>, " + headers["List-Unsubscribe"]
    Notifier(config).send(
        slug="welcome",
        subscriber_id=subscriber_id,
        email=email,
        name=name,
        content=content,
        headers=headers,
    )
