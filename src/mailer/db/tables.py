"""The schema: the status enums, ``utcnow``, ``metadata`` and every table (SQLAlchemy Core).

The definitions always describe the LATEST schema; :mod:`.migrations` upgrades an older
database to match them.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)


class SubscriberStatus(enum.StrEnum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    #: never confirmed (double opt-in not done): kept, never sent to until confirmed
    PENDING = "pending"


class MembershipStatus(enum.StrEnum):
    """One subscriber on one list (the subscriber's own status still rules overall)."""

    SUBSCRIBED = "subscribed"
    #: signed up through the form, not confirmed yet: never sent to
    PENDING = "pending"
    #: left this list (one-click or the preference page): never sent to, never re-imported
    LEFT = "left"


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"


class CampaignKind(enum.StrEnum):
    #: a send to a list: the only kind `mailer campaigns`, schedules, stats and resumes see
    SEND = "send"
    #: `mailer send-test` with tracking on: holds the test's links (so /c/ redirects) and
    #: its contents (/v/); never has batches or deliveries
    TEST = "test"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    FAILED = "failed"
    UNKNOWN = "unknown"


class EventType(enum.StrEnum):
    CLICK = "click"
    OPEN = "open"
    UNSUBSCRIBE = "unsubscribe"
    BOUNCE = "bounce"
    DROPPED = "dropped"
    SPAMREPORT = "spamreport"
    DELIVERED = "delivered"
    #: SendGrid took the message (resolves a delivery held ``unknown``)
    PROCESSED = "processed"
    #: a soft bounce read from the bounce mailbox (counted; several suppress)
    DEFERRED = "deferred"


def utcnow() -> datetime:
    """Timezone-aware UTC now (stored as naive UTC on both databases)."""
    return datetime.now(UTC).replace(tzinfo=None)


metadata = MetaData()

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False),
    # normalised key for uniqueness: domain lower-cased and, by default, the whole address
    Column("email_key", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("language", String(35), nullable=True),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("status", String(20), nullable=False, default=SubscriberStatus.SUBSCRIBED.value),
    Column("source", String(200), nullable=True),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("updated_at", DateTime, nullable=False, default=utcnow),
    Column("status_changed_at", DateTime, nullable=True),
    # why the status is what it is, as the reader or the old tool said (an unsubscribe reason)
    Column("status_reason", Text, nullable=True),
)

lists = Table(
    "lists",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", DateTime, nullable=False, default=utcnow),
)

memberships = Table(
    "memberships",
    metadata,
    Column("list_id", Integer, ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    # per list: subscribed, pending (sign-up not confirmed yet) or left (the reader left
    # this list; an import never re-adds them); only `subscribed` memberships are sent to
    Column(
        "status",
        String(20),
        nullable=False,
        default=MembershipStatus.SUBSCRIBED.value,
        server_default=MembershipStatus.SUBSCRIBED.value,
    ),
    Column("left_at", DateTime, nullable=True),  # UTC, when status became `left`
    Index("ix_memberships_subscriber", "subscriber_id"),
)

#: the record of a reader's consent to one list: when and from where they opted in and
#: confirmed (double opt-in), through which source (an import: the tool; a sign-up form) and
#: the text they agreed to. One row per subscriber, list and source (an import adds none twice).
consents = Table(
    "consents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("list_id", Integer, ForeignKey("lists.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(100), nullable=False),  # mailchimp, listmonk, form:NAME, ...
    Column("form", String(200), nullable=True),  # the file or form it came through
    Column("opted_in_at", DateTime, nullable=True),  # UTC
    Column("optin_ip", String(45), nullable=True),
    Column("confirmed_at", DateTime, nullable=True),  # UTC
    Column("confirm_ip", String(45), nullable=True),
    Column("text", Text, nullable=True),  # what the reader agreed to, when known
    Column("created_at", DateTime, nullable=False, default=utcnow),
    UniqueConstraint("subscriber_id", "list_id", "source", name="uq_consent_subscriber_list"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("issue_slug", String(200), nullable=False),
    Column("issue_path", Text, nullable=False),
    Column("list_id", Integer, ForeignKey("lists.id"), nullable=False),
    Column("status", String(20), nullable=False, default=CampaignStatus.DRAFT.value),
    Column("backend", String(20), nullable=False),
    Column("subject", Text, nullable=False, default=""),
    Column("scheduled_at", DateTime, nullable=True),  # UTC
    Column("schedule_tz", String(64), nullable=True),  # the zone the user gave
    Column("late", Boolean, nullable=False, default=False),
    Column("send_late", Boolean, nullable=False, default=False),
    Column("provider_batch_id", String(100), nullable=True),  # SendGrid batch id (send_at)
    Column("claimed_by", String(100), nullable=True),
    Column("claimed_at", DateTime, nullable=True),
    Column("recipients", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("started_at", DateTime, nullable=True),
    Column("finished_at", DateTime, nullable=True),
    #: why it paused when the sender paused it on its own: `signals` (complaints, bounces)
    Column("paused_by", String(20), nullable=True),
    #: complaint and bounce rates are counted from here (the operator's last resume)
    Column("signals_since", DateTime, nullable=True),
    Column(
        "kind",
        String(10),
        nullable=False,
        default=CampaignKind.SEND.value,
        server_default=CampaignKind.SEND.value,
    ),
    Index("ix_campaigns_issue_list", "issue_slug", "list_id"),
    Index("ix_campaigns_status_due", "status", "scheduled_at"),
)

campaign_contents = Table(
    "campaign_contents",
    metadata,
    Column(
        "campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("language", String(35), primary_key=True),
    Column("subject", Text, nullable=False),
    Column("html", Text, nullable=False),  # as sent, with per-recipient tokens, no personal data
    Column("text", Text, nullable=False),
    # [{"token", "field", "fallback"}] of Rendered.merge_fields, so a resumed send needs no render
    Column("merge_fields", JSON, nullable=False, default=list),
)

batches = Table(
    "batches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(20), nullable=False, default=DeliveryStatus.PENDING.value),
    Column("size", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("provider_id", String(200), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Column("finished_at", DateTime, nullable=True),
    #: the runner (``process.runner_id``) that prepared or sends it, and when it last said so
    Column("owner", String(100), nullable=True),
    Column("heartbeat_at", DateTime, nullable=True),
    #: the language every delivery of the batch is sent in (they are queued one language at
    #: a time); NULL for batches made before schema version 7
    Column("language", String(35), nullable=True),
    #: set when one answer of the provider accepted the batch whole (SendGrid's): how many of
    #: its deliveries it accepted. Those keep ``pending`` and read as accepted through the
    #: batch (:mod:`mailer.db.held`); NULL when each delivery records its own answer
    Column("accepted_count", Integer, nullable=True),
    Index("ix_batches_campaign_status", "campaign_id", "status"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("batch_id", Integer, ForeignKey("batches.id"), nullable=True),
    Column("language", String(35), nullable=True),
    Column("status", String(20), nullable=False, default=DeliveryStatus.PENDING.value),
    Column("provider_message_id", String(200), nullable=True),
    Column("error", Text, nullable=True),
    Column("accepted_at", DateTime, nullable=True),
    Column("updated_at", DateTime, nullable=False, default=utcnow),
    UniqueConstraint("campaign_id", "subscriber_id", name="uq_delivery_campaign_subscriber"),
    Index("ix_deliveries_campaign_status", "campaign_id", "status"),
    Index("ix_deliveries_batch", "batch_id"),
)

links = Table(
    "links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),  # the target, with UTM parameters
    Column("block", String(200), nullable=False, default=""),
    Column("kind", String(50), nullable=False, default="other"),  # read_more|share:x|follow:x|other
    Column("language", String(35), nullable=True),
    Index("ix_links_campaign", "campaign_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("type", String(20), nullable=False),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=True),
    Column("link_id", Integer, ForeignKey("links.id"), nullable=True),
    Column("provider_event_id", String(200), nullable=True, unique=True),
    Column("user_agent", Text, nullable=True),
    Column("is_scanner", Boolean, nullable=False, default=False),
    Column("block", String(200), nullable=True),  # attribution when no link row (webhook clicks)
    Column("kind", String(50), nullable=True),
    Column("data", JSON, nullable=True),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    Index("ix_events_campaign_type", "campaign_id", "type"),
)


#: erased addresses (``mailer subscribers forget``): nothing but a keyed hash of the normalised
#: address (``audience.privacy``), so an import or sign-up can refuse it without knowing it
forgotten = Table(
    "forgotten",
    metadata,
    Column("email_hash", String(64), primary_key=True),  # hex HMAC-SHA256 of email_key
    Column("forgotten_at", DateTime, nullable=False, default=utcnow),
)

#: random values made once per database (the salt of ``forgotten`` hashes when no
#: MAILER_SECRET_KEY is set); never printed
local_secrets = Table(
    "local_secrets",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("value", String(200), nullable=False),
)

#: the pace shared by every runner (``[sending] rate`` and ``hourly_cap``): one row per scope
send_pace = Table(
    "send_pace",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("tat", Float, nullable=False, default=0.0),  # epoch seconds: next free send time
    Column("hour_start", Float, nullable=False, default=0.0),  # epoch seconds
    Column("hour_count", Integer, nullable=False, default=0),
)
