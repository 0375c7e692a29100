"""Typed settings: ``mailer.toml`` plus the environment.

Everything but secrets lives in the file; secrets (API keys, signing keys,
SMTP passwords) come only from the environment and are never stored on the
:class:`Config` object, printed or logged.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError
from .validate import Field, Model, ValidationError, field_validator

DEFAULT_CONFIG = "mailer.toml"


class _Section(Model):
    """A section of mailer.toml: unknown keys refused; its checks are made when Settings
    first validates, not per class at import (issue 15)."""


class Sender(_Section):
    from_name: str = "Newsletter"
    from_email: str = "newsletter@example.org"
    reply_to: str | None = None
    #: address for mailto: unsubscribe (List-Unsubscribe); defaults to from_email
    unsubscribe_mailto: str | None = None


class Brand(_Section):
    logo: str | None = None
    logo_alt: str = ""
    logo_width: int = 160
    primary_color: str = "#0033A0"
    accent_color: str = "#0072BC"
    text_color: str = "#222222"
    muted_color: str = "#555555"
    background_color: str = "#F2F4F7"
    content_background: str = "#FFFFFF"
    #: text on the primary colour (masthead title and period); buttons default to it
    on_primary_color: str = "#FFFFFF"
    #: links in the text; empty = accent_color (decorations such as quote bars keep accent_color)
    link_color: str = ""
    #: button background; empty = primary_color
    button_color: str = ""
    #: button text; empty = on_primary_color
    button_text_color: str = ""
    font_family: str = "Helvetica, Arial, 'Noto Sans', 'Noto Sans Arabic', Tahoma, sans-serif"

    @field_validator(
        "primary_color",
        "accent_color",
        "text_color",
        "muted_color",
        "background_color",
        "content_background",
        "on_primary_color",
        "link_color",
        "button_color",
        "button_text_color",
    )
    def _hex_color(cls, value: str) -> str:
        if value and not re.fullmatch(r"#(?:[0-9A-Fa-f]{3}){1,2}", value.strip()):
            raise ValueError(f'{value!r} is not a colour: write #RRGGBB, e.g. "#0033A0"')
        return value.strip()

    @property
    def links(self) -> str:
        """The colour of links: ``link_color``, else ``accent_color``."""
        return self.link_color or self.accent_color

    @property
    def button(self) -> str:
        """The button background: ``button_color``, else ``primary_color``."""
        return self.button_color or self.primary_color

    @property
    def button_text(self) -> str:
        """The button text: ``button_text_color``, else ``on_primary_color``."""
        return self.button_text_color or self.on_primary_color


class Tracking(_Section):
    #: public base URL of `mailer serve`, e.g. https://news.example.org; empty = no click tracking
    base_url: str | None = None
    utm: bool = True
    utm_source: str = "newsletter"
    utm_medium: str = "email"
    opens: bool = False
    anonymous: bool = False
    #: clicks within this many seconds of delivery are treated as scanner clicks
    scanner_window_seconds: float = 5.0


class Smtp(_Section):
    host: str = "127.0.0.1"
    port: int = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    timeout: float = 30.0
    #: messages per second; 0 = unlimited
    rate: float = 0.0


class Sending(_Section):
    batch_size: int = Field(default=1000, ge=1, le=1000)
    timeout: float = 30.0
    max_retries: int = 6
    max_backoff: float = 60.0
    max_consecutive_failures: int = 5
    #: requests in flight per process (SendGrid), connections (SMTP); 1 = one at a time
    concurrency: int = Field(default=4, ge=1, le=16)
    #: messages per second for all runners together (shared through the database); None: no limit
    rate: float | None = Field(default=None, gt=0)
    #: at most this many messages per clock hour, all runners together; None: no cap
    hourly_cap: int | None = Field(default=None, ge=1)
    #: a sending campaign pauses when bounces exceed this share of what was delivered
    max_bounce_rate: float = Field(default=0.05, ge=0, le=1)
    #: ... or spam complaints exceed this share (Gmail and Yahoo block above 0.003)
    max_complaint_rate: float = Field(default=0.001, ge=0, le=1)


class Schedule(_Section):
    timezone: str = "UTC"
    #: a scheduled campaign later than this (e.g. "6h", "90m") is held, not sent silently
    max_delay: str = "6h"


#: a merge field name as templates write it (``subscriber.first_name``)
_FIELD_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


class Preview(_Section):
    """What ``mailer build`` and ``mailer preview`` show where readers see their own values.

    ``sample`` is a made-up subscriber whose fields fill the merge fields
    (``{{ subscriber.first_name }}``); a field it lacks shows the template's fallback.
    ``unsubscribe_url`` and ``view_url`` are where the built files' footer links point
    (default: the ``website``, else the sender's address); a send always puts each
    reader's own links there.
    """

    sample: dict[str, str] = Field(default_factory=dict)
    unsubscribe_url: str | None = None
    view_url: str | None = None

    @field_validator("sample")
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _FIELD_RE.match(name):
                raise ValueError(
                    f"{name!r} is not a subscriber field name: write lower-case letters, digits "
                    'and _, as templates do (e.g. first_name = "Ayşe")'
                )
            if any(ord(c) < 32 for c in text):
                raise ValueError(f"the value of {name!r} has a control character (a line break?)")
        return value

    @field_validator("unsubscribe_url", "view_url")
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "mailto:")):
            raise ValueError(f"expected an https:// or mailto: address, got {value!r}")
        return value


class Subscribe(_Section):
    """The sign-up form of ``mailer serve`` (``/subscribe``) and its double opt-in."""

    #: lists that accept sign-ups from the public form; none by default
    lists: list[str] = Field(default_factory=list)
    #: an issue file sent once to each reader who confirms (e.g. "issues/welcome.yaml")
    welcome: str | None = None
    #: how long a confirmation link works
    confirm_hours: int = Field(default=48, ge=1, le=24 * 30)
    #: sign-ups accepted per client IP per hour, and confirmation emails per address per day
    per_ip_hour: int = Field(default=20, ge=1)
    per_address_day: int = Field(default=3, ge=1)


class Archive(_Section):
    """The public archive of ``mailer serve`` (``/archive``) and ``mailer archive build``."""

    #: lists whose sent issues are public, without personal data; none by default
    lists: list[str] = Field(default_factory=list)


class Bounces(_Section):
    """The bounce mailbox (IMAP) read by ``mailer bounces`` and the worker.

    The password, or the whole URL (``imaps://user:pass@host:993/INBOX``), comes only
    from ``MAILER_BOUNCE_URL``; the URL's parts override these keys."""

    host: str | None = None
    #: default 993 for ``tls``, 143 otherwise
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "tls"
    folder: str = "INBOX"
    username: str | None = None
    #: processed bounces are moved here (created when missing); "" = only marked \\Seen
    processed_folder: str = "Processed"
    #: the mailbox's address: the SMTP envelope sender (Return-Path) of every message
    address: str | None = None
    #: VERP: the envelope sender becomes bounces+c<campaign>-s<subscriber>@domain
    verp: bool = False
    #: soft bounces (from this many campaigns in a row, within soft_days) suppress the address
    soft_limit: int = Field(default=3, ge=1)
    soft_days: int = Field(default=30, ge=1)
    #: how often `mailer worker` reads the mailbox
    poll_minutes: float = Field(default=5.0, gt=0)
    timeout: float = Field(default=30.0, gt=0)


class Settings(_Section):
    """The validated contents of ``mailer.toml``."""

    name: str = "Newsletter"
    organisation: str = ""
    default_language: str = "en"
    languages: list[str] = Field(default_factory=lambda: ["en"])
    postal_address: str = ""
    why: str = "You receive this email because you subscribed to our newsletter."
    website: str | None = None
    database_url: str | None = None
    #: unique addresses with case-sensitive local parts (Ali@x.org and ali@x.org differ); rare
    email_case_sensitive: bool = False
    backend: Literal["outbox", "smtp", "sendgrid", "memory"] = "outbox"
    assets_url: str | None = None
    inliner: Literal["css-inline", "premailer"] = "css-inline"
    templates: str | None = None
    issues_dir: str = "issues"
    outbox_dir: str = "outbox"
    sender: Sender = Field(default_factory=Sender)
    brand: Brand = Field(default_factory=Brand)
    social: dict[str, str] = Field(default_factory=dict)
    tracking: Tracking = Field(default_factory=Tracking)
    smtp: Smtp = Field(default_factory=Smtp)
    sending: Sending = Field(default_factory=Sending)
    schedule: Schedule = Field(default_factory=Schedule)
    preview: Preview = Field(default_factory=Preview)
    subscribe: Subscribe = Field(default_factory=Subscribe)
    archive: Archive = Field(default_factory=Archive)
    bounces: Bounces = Field(default_factory=Bounces)


@dataclass(frozen=True)
class Config:
    """Settings plus where they came from. Secrets are read from the environment on demand."""

    settings: Settings
    path: Path | None
    root: Path

    # -- derived values ---------------------------------------------------
    @property
    def database_url(self) -> str:
        url = os.environ.get("MAILER_DATABASE_URL") or self.settings.database_url
        if not url:
            return f"sqlite:///{self.root / 'mailer.db'}"
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            rel = url.removeprefix("sqlite:///")
            if rel and rel != ":memory:":
                return f"sqlite:///{self.root / rel}"
        return url

    def resolve(self, relative: str | Path) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    @property
    def outbox_dir(self) -> Path:
        """Where the outbox backend writes; ``MAILER_OUTBOX_DIR`` overrides the config."""
        return self.resolve(os.environ.get("MAILER_OUTBOX_DIR") or self.settings.outbox_dir)

    @property
    def templates_dir(self) -> Path | None:
        t = self.settings.templates
        return self.resolve(t) if t else None

    # -- secrets: environment only -----------------------------------------
    @staticmethod
    def secret(name: str) -> str | None:
        value = os.environ.get(name)
        return value or None

    @property
    def sendgrid_host(self) -> str:
        return os.environ.get("MAILER_SENDGRID_HOST") or "https://api.sendgrid.com"

    def require_secret(self, name: str, purpose: str) -> str:
        value = self.secret(name)
        if not value:
            raise ConfigError(
                f"{name} is not set; it is needed {purpose}.",
                hint=f"export {name}=... in the environment (secrets never go in mailer.toml).",
            )
        return value


def _describe(error: dict[str, Any], data: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        parent: Any = data
        for part in error["loc"][:-1]:
            parent = parent.get(part, {}) if isinstance(parent, dict) else {}
        model: Any = Settings
        for part in error["loc"][:-1]:
            field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
            model = field.annotation if field else None
        known = list(model.model_fields) if hasattr(model, "model_fields") else []
        import difflib  # only for a mistake: not a build's start-up

        close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
        tip = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown key '{loc}'{tip}"
    return f"'{loc}': {str(error['msg']).removeprefix('Value error, ')}"


def load_config(path: str | Path | None = None) -> Config:
    """Load ``mailer.toml`` (or *path*). A missing default file gives default settings."""
    explicit = path is not None
    p = Path(path or DEFAULT_CONFIG)
    if not p.exists():
        if explicit:
            raise ConfigError(
                f"config file {p} not found",
                hint="pass --config FILE, or run `mailer init DIR` to create a project.",
            )
        return Config(settings=Settings(), path=None, root=Path.cwd())
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{p}: not valid TOML: {exc}", hint="check quotes and brackets."
        ) from None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        lines = "; ".join(_describe(e, data) for e in exc.errors())
        raise ConfigError(f"{p}: {lines}", hint="see README.md → Configuration.") from None
    return Config(settings=settings, path=p.resolve(), root=p.resolve().parent)
