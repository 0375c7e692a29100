"""What the build pipeline hands to the sender and the tracker.

A :class:`Rendered` is one issue in one language, rendered once. Per-recipient
values are substitution tokens (``%%name%%``) that survive MJML and inlining;
the sender fills them in (SMTP/outbox locally, SendGrid via ``substitutions``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: tokens every Rendered may contain; filled per recipient by the sender
UNSUBSCRIBE_URL = "%%unsubscribe_url%%"
VIEW_URL = "%%view_url%%"


@dataclass(frozen=True)
class Link:
    """One outgoing link of a rendered issue.

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
