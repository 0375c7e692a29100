"""What the build pipeline hands to the sender and the tracker.

A :class:`Rendered` is one issue in one language, rendered once. Per-recipient
values are substitution tokens (``%%name%%``) that survive MJML and inlining;
the sender fills them in (SMTP/outbox locally, SendGrid via ``substitutions``).
:func:`field_value` is the one reading of a subscriber's value for a :class:`MergeField`,
shared by campaigns (``delivery.personalize``) and notices (``notices.send``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: tokens every Rendered may contain; filled per recipient by the sender
UNSUBSCRIBE_URL = "%%unsubscribe_url%%"
VIEW_URL = "%%view_url%%"


class Link(NamedTuple):
    """One outgoing link of a rendered issue (immutable; a named tuple, not a frozen
    dataclass: a render makes some 40, and a frozen dataclass's ``__init__`` costs about
    four times a tuple's).

    ``url`` is exactly the href written in the HTML (UTM parameters included),
    unique within a Rendered; ``block`` the id of the block it sits in; ``kind``
    one of ``read_more``, ``share:<network>``, ``follow:<network>``, ``other``.
    """

    url: str
    block: str
    kind: str = "other"


@dataclass(frozen=True)
class MergeField:
    """A per-recipient value: ``token`` (e.g. ``%%first_name%%``) stands for subscriber
    field ``field`` (``name``, ``first_name``, ``email`` or an attribute), or
    ``fallback`` when the subscriber has none."""

    token: str
    field: str
    fallback: str = ""


def first_name(name: str) -> str:
    """The first word of a full name ("" for none)."""
    parts = name.split()
    return parts[0] if parts else ""


def field_value(
    field: str, email: str, name: str, attributes: Mapping[str, Any] | str | None
) -> str:
    """The subscriber's value for merge field *field* ("" when they have none).

    *attributes* may be the raw JSON text from the database: it is parsed only when
    it can hold *field*."""
    if field == "email":
        return email
    attrs: Mapping[str, Any] | None
    if isinstance(attributes, str):
        attrs = json.loads(attributes) if f'"{field}"' in attributes else None
    else:
        attrs = attributes
    if field == "name":
        return name or ""
    if field == "first_name":
        attr = (attrs or {}).get("first_name")
        return str(attr) if attr else first_name(name or "")
    value = (attrs or {}).get(field)
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Rendered:
    """One issue rendered once in one language."""

    slug: str
    language: str
    direction: str  # "ltr" | "rtl"
    subject: str
    preheader: str
    mjml: str
    html: str
    text: str
    links: tuple[Link, ...] = ()
    merge_fields: tuple[MergeField, ...] = ()
    assets: tuple[str, ...] = field(default=())  # local asset paths used (relative to the issue)
