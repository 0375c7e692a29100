"""Which tool wrote a subscriber file, and what its columns and statuses mean in mailer.

A :class:`Profile` is what the reader of one file needs to know: the tool (``mailchimp``,
``listmonk``, ``substack``, ``buttondown``, ``ghost`` or a plain ``csv``), the role of each
column it names (email, status, unsubscribe time, consent, tags, ...), how its status values map
to :class:`~mailer.db.SubscriberStatus` (``None``: not imported, e.g. Mailchimp's ``archived``)
and, for Mailchimp's unsubscribed and cleaned files, the status the whole file stands for.

:func:`detect` recognises a file by its header (and, for Mailchimp, its name); ``--from``
forces a tool and then its columns must be there. A column that looks like an opt-out but has
no role (``opt_out``, ``do_not_email``, ``blocked``...) refuses the file: mailer never guesses
what such a column means, and never ignores it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath

from ..db import SubscriberStatus as S
from ..errors import SubscriberError

TOOLS = ("mailchimp", "listmonk", "substack", "buttondown", "ghost")


def norm_header(text: str) -> str:
    """A header as compared: lower case, letters and digits only (``UNSUB_TIME``: ``unsubtime``)."""
    return re.sub(r"[\W_]+", "", text.strip().lower())


EMAIL_HEADERS = ("email", "e-mail", "email address", "mail", "e-posta", "emailaddress")
NAME_HEADERS = ("name", "full name", "display name", "ad soyad")
FIRST_HEADERS = ("first_name", "first name", "firstname", "given name", "ad")
LAST_HEADERS = ("last_name", "last name", "lastname", "surname", "family name", "soyad")
LANGUAGE_HEADERS = ("language", "lang", "locale", "dil")
#: written by `mailer subscribers export`; read back (status, tags) or ignored, never attributes
STATUS_HEADERS = ("status",)
TAG_HEADERS = ("tags",)
IGNORED_HEADERS = ("lists", "source", "created_at", "updated_at")
#: the roles of the columns every file may have (a tool's profile adds its own)
GENERIC_ROLES: dict[str, str] = {
    norm_header(h): role
    for role, names in (
        ("email", EMAIL_HEADERS),
        ("name", NAME_HEADERS),
        ("first_name", FIRST_HEADERS),
        ("last_name", LAST_HEADERS),
        ("language", LANGUAGE_HEADERS),
        ("status", STATUS_HEADERS),
        ("tags", TAG_HEADERS),
        ("ignore", IGNORED_HEADERS),
    )
    for h in names
}


@dataclass(frozen=True)
class Profile:
    """How to read one file: its tool, column roles, status values and whole-file status."""

    tool: str
    label: str
    roles: Mapping[str, str] = field(default_factory=dict)
    status_values: Mapping[str, S | None] = field(default_factory=dict)
    file_status: S | None = None


_MAILCHIMP_ROLES = {
    "emailaddress": "email",
    "optintime": "optin_time",
    "optinip": "optin_ip",
    "confirmtime": "confirm_time",
    "confirmip": "confirm_ip",
    "unsubtime": "status_at",
    "cleantime": "status_at",
    "unsubreason": "reason",
    "unsubreasonother": "reason_other",
    "tags": "tags",
    **{
        h: "ignore"
        for h in (
            "memberrating",
            "latitude",
            "longitude",
            "gmtoff",
            "dstoff",
            "lastchanged",
            "leid",
            "euid",
            "unsubcampaigntitle",
            "unsubcampaignid",
            "cleancampaigntitle",
            "cleancampaignid",
        )
    },
}
# a contacts export with a status column says these
_MAILCHIMP_STATUS = {
    "subscribed": S.SUBSCRIBED,
    "unsubscribed": S.UNSUBSCRIBED,
    "cleaned": S.BOUNCED,
    "pending": S.PENDING,
    "transactional": S.PENDING,
    "nonsubscribed": S.PENDING,
    "archived": None,
}
_LISTMONK = Profile(
    "listmonk",
    "listmonk subscribers export",
    {
        "uuid": "ignore",
        "attributes": "attributes_json",
        "status": "status",
        "lists": "tags",
    },
    {"enabled": S.SUBSCRIBED, "disabled": S.UNSUBSCRIBED, "blocklisted": S.UNSUBSCRIBED},
)
_SUBSTACK = Profile(
    "substack",
    "Substack subscribers export",
    {"emaildisabled": "flag_disabled", "subscriptioncreatedat": "ignore"},
)
_BUTTONDOWN = Profile(
    "buttondown",
    "Buttondown subscribers export",
    {
        "subscribertype": "status",
        "type": "status",
        "tags": "tags",
        "metadata": "attributes_json",
        "creationdate": "ignore",
        "id": "ignore",
    },
    {
        # Buttondown's subscriber types: every paid or free state that still gets the newsletter
        **dict.fromkeys(
            ("regular", "premium", "trialed", "unpaid", "gifted", "churning", "past_due", "paused"),
            S.SUBSCRIBED,
        ),
        "unactivated": S.PENDING,
        "unsubscribed": S.UNSUBSCRIBED,
        "removed": S.UNSUBSCRIBED,
        "spammy": S.UNSUBSCRIBED,
        "complained": S.COMPLAINED,
        "undeliverable": S.BOUNCED,
        "bounced": S.BOUNCED,
    },
)
_GHOST = Profile(
    "ghost",
    "Ghost members export",
    {
        "subscribedtoemails": "flag_subscribed",
        "labels": "tags",
        "deletedat": "flag_deleted",
        "id": "ignore",
        "stripecustomerid": "ignore",
    },
)
_PLAIN = Profile("csv", "CSV")

# columns each tool always writes: how a file is recognised
_SIGNS: list[tuple[frozenset[str], Profile]] = [
    (frozenset({"uuid", "email", "attributes", "status"}), _LISTMONK),
    (frozenset({"email", "activesubscription", "emaildisabled"}), _SUBSTACK),
    (frozenset({"email", "subscribertype"}), _BUTTONDOWN),
    (frozenset({"email", "subscribedtoemails"}), _GHOST),
]
_MAILCHIMP_SIGNS = (
    frozenset({"emailaddress", "leid", "euid"}),
    frozenset({"emailaddress", "memberrating", "optintime"}),
)

#: a header that says something about whether to write to the person
_OPT_OUT = re.compile(
    r"unsub|optout|optedout|donot|dnc|suppress|block|blacklist|banned|bounce|complain|spam"
    r"|disabled|unconfirm|cleaned|^cleantime$|^subscribed$|^subscribedtoemails$|^optin$"
    r"|^pending$|^confirmed$|^emailstatus$|^subscriptionstatus$|^deleted"
)


def _mailchimp(headers: set[str], name: str) -> Profile:
    lower = name.lower()
    if "unsubtime" in headers or "unsubscribed" in lower:
        kind, status = "unsubscribed members", S.UNSUBSCRIBED
    elif "cleantime" in headers or "cleaned" in lower:
        kind, status = "cleaned (bounced) members", S.BOUNCED
    else:
        kind, status = "subscribed members", None
    roles = dict(_MAILCHIMP_ROLES)
    if "status" in headers:
        roles["status"] = "status"
    return Profile("mailchimp", f"Mailchimp {kind}", roles, _MAILCHIMP_STATUS, status)


def detect(header: list[str], path: PurePath, forced: str | None = None) -> Profile:
    """The profile of a file with this *header*; SubscriberError when *forced* does not fit."""
    headers = {norm_header(h) for h in header}
    found: Profile | None = None
    if any(sign <= headers for sign in _MAILCHIMP_SIGNS):
        found = _mailchimp(headers, path.name)
    else:
        found = next((p for sign, p in _SIGNS if sign <= headers), None)
    if forced is None or forced == "csv":
        profile = found or _PLAIN
    elif found is not None and found.tool == forced:
        profile = found
    else:
        profile = _forced(forced, headers, path)
    check_opt_out_columns(header, profile, path)
    return profile


def _forced(tool: str, headers: set[str], path: PurePath) -> Profile:
    if tool == "mailchimp":
        signs, profile = [_MAILCHIMP_SIGNS[0]], _mailchimp(headers, path.name)
    else:
        pairs = [(sign, p) for sign, p in _SIGNS if p.tool == tool]
        if not pairs:
            raise SubscriberError(f"unknown tool {tool!r}", hint=f"use one of {', '.join(TOOLS)}")
        signs, profile = [pairs[0][0]], pairs[0][1]
    missing = sorted(signs[0] - headers)
    if missing:
        raise SubscriberError(
            f"--from {tool}: this is not a {profile.label}: the header lacks " + ", ".join(missing),
            location=f"{path}:1",
            hint="import the file as the tool exported it (headers unchanged), "
            "or leave out --from.",
        )
    return profile


def check_opt_out_columns(header: list[str], profile: Profile, path: PurePath) -> None:
    """Refuse a file with opt-out-looking columns that *profile* gives no role."""
    unknown = [
        h
        for h in header
        if (n := norm_header(h))
        and n not in profile.roles
        and GENERIC_ROLES.get(n) is None
        and _OPT_OUT.search(n)
    ]
    if unknown:
        raise SubscriberError(
            "the file has columns that look like opt-outs, which mailer does not understand: "
            + ", ".join(repr(h) for h in unknown),
            location=f"{path}:1",
            hint="mailer never guesses who may be written to: put what they say in a `status` "
            "column (subscribed, unsubscribed, bounced, complained, pending) and remove them, "
            "or import the tool's own export unchanged (--from " + "|".join(TOOLS) + ").",
        )
