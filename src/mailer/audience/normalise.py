"""A subscriber's values from what people write: the address, the language, the status.

Addresses are validated with email-validator (no DNS lookups) and normalised:
the domain lower-cased (IDNA, Unicode form), the local part kept as written.
``email_key`` is the unique key: by default the whole address lower-cased, so
``Ayse@Example.org`` and ``ayse@example.org`` are one subscriber; with
``case_sensitive_local=True`` only the domain is folded (RFC 5321 allows
case-sensitive local parts, almost no mail server uses them). Languages become BCP 47
tags in canonical case; a status cell becomes a :class:`~mailer.db.SubscriberStatus`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from ..db import SubscriberStatus
from ..errors import SubscriberError

# -- addresses -------------------------------------------------------------
# The common case (one "@", an ASCII dot-atom local part) is checked here and only the
# domain goes through email-validator, once per domain (cached); anything else takes the
# full email-validator path. Both give the same answer (tests/test_subscribers_normalise.py).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_RE = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
#: the common local part (an ASCII dot-atom), for callers that check it inline (RowParser.quick)
LOCAL_RE = _LOCAL_RE


@lru_cache(maxsize=65536)
def _domain(domain: str) -> str:
    """The normalised domain, or EmailNotValidError (cached per domain)."""
    return str(validate_email("a@" + domain, check_deliverability=False).domain)


def _validate(raw: str) -> str:
    if raw.count("@") == 1 and len(raw) <= 254:
        local, _, domain = raw.partition("@")
        if len(local) <= 64 and _LOCAL_RE.fullmatch(local):
            return f"{local}@{_domain(domain)}"
    return str(validate_email(raw, check_deliverability=False).normalized)


def quick_email(value: str, case_sensitive_local: bool = False) -> tuple[str, str] | None:
    """``(email, email_key)`` for a stripped *value* in the common form (one ``@``, an ASCII
    dot-atom local part, a valid domain), as :func:`normalise_email` gives it; None for
    anything else (then :func:`normalise_email` decides, and says why)."""
    local, at, domain = value.partition("@")
    if not at or len(value) > 254 or len(local) > 64 or "@" in domain:
        return None
    if _LOCAL_RE.fullmatch(local) is None:
        return None
    try:
        email = f"{local}@{_domain(domain)}"
    except EmailNotValidError:
        return None
    if case_sensitive_local:
        return email, f"{local}@{email[len(local) + 1 :].lower()}"
    return email, email.lower()


def normalise_email(raw: str, *, case_sensitive_local: bool = False) -> tuple[str, str]:
    """``(email, email_key)`` for *raw*; SubscriberError saying why when it is not valid."""
    value = raw.strip()
    if not value:
        raise SubscriberError("no email address")
    if value.lower().startswith("mailto:"):
        value = value[7:]
    try:
        email = _validate(value)
    except EmailNotValidError as exc:
        raise SubscriberError(f"invalid email address: {exc}") from None
    if case_sensitive_local:
        local, _, domain = email.rpartition("@")
        return email, f"{local}@{domain.lower()}"
    return email, email.lower()


# -- languages -------------------------------------------------------------
_LANG_RE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")


@lru_cache(maxsize=1024)
def normalise_language(raw: str) -> str | None:
    """A BCP 47 tag in canonical case (``TR`` → ``tr``, ``pt_BR`` → ``pt-BR``), or None if empty."""
    value = raw.strip()
    if not value:
        return None
    if not _LANG_RE.fullmatch(value):
        raise SubscriberError(
            f"language {value!r} is not a BCP 47 tag",
            hint="write a code such as en, tr, ar, pt-BR.",
        )
    from babel import localedata

    parts = re.split(r"[-_]", value)
    primary = parts[0].lower()
    if not localedata.exists(primary):
        raise SubscriberError(
            f"language {value!r}: unknown language code {primary!r}",
            hint="write a code such as en, tr, ar, pt-BR.",
        )
    out = [primary]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())  # script: Latn, Arab
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            out.append(part.upper())  # region: BR, TR, 419
        else:
            out.append(part.lower())
    return "-".join(out)


def normalise_status(raw: str) -> SubscriberStatus | None:
    """A subscriber status from a cell (None if empty); SubscriberError if unknown."""
    value = raw.strip().lower()
    if not value:
        return None
    try:
        return SubscriberStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in SubscriberStatus)
        raise SubscriberError(
            f"unknown status {raw.strip()!r}", hint=f"use one of {known}"
        ) from None
