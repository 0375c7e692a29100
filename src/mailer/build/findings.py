"""What ``mailer check`` reports and where: :class:`Finding`, and the lines it points at.

A finding that comes from a line someone wrote carries ``file:line``: :func:`locate`
finds the line of a link in the issue or its translation (the href as written,
before UTM parameters were added), :func:`excerpt` shows a leftover TODO as a short
readable quote, and :func:`placeholder_findings` names what ``mailer init``'s
scaffold left in mailer.toml (``example.org`` addresses, "Example Organisation",
the placeholder postal address) at its line. The checks themselves are
:mod:`mailer.build.check`'s.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..config import Config

#: the scaffold's placeholders (src/mailer/skeleton/mailer.toml)
PLACEHOLDER_NAME = "Example Organisation"
PLACEHOLDER_ADDRESS_WORDS = ("Example Street", "Example City")
PLACEHOLDER_DOMAINS = ("example.org", "example.com", "example.net")
_DOMAIN_RE = re.compile(r"(?:@|//)(?:[\w-]+\.)*(example\.(?:org|com|net))\b", re.I)


@dataclass(frozen=True)
class Finding:
    """One problem found by :func:`mailer.build.check.check_issue`."""

    severity: str  # "error" | "warning"
    code: str
    message: str
    location: str = ""

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.message} [{self.code}]"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class SourceFile:
    """A file a language of the issue was written from: its name (as shown) and lines."""

    name: str
    lines: list[str]

    @classmethod
    def read(cls, path: Path) -> SourceFile:
        try:
            return cls(str(path), path.read_text(encoding="utf-8").splitlines())
        except (OSError, UnicodeDecodeError):
            return cls(str(path), [])


def _without_utm(url: str) -> str:
    parts = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.startswith("utm_")
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def locate(sources: list[SourceFile], href: str, text: str = "") -> str | None:
    """``file:line`` of the first source line that writes the link *href* (with its
    text *text*, when given, for a Markdown link), or None when no line does (links
    the theme makes, such as share buttons)."""
    bare = _without_utm(href)
    needles = [href, bare, bare.rstrip("/")] if href else []
    if text:
        needles = [f"[{text}]({n}" for n in needles] + needles
    for needle in dict.fromkeys(n for n in needles if n):
        pattern = re.compile(re.escape(needle) + r"(?=$|[\s'\")\]>,])")
        for source in sources:
            for number, line in enumerate(source.lines, 1):
                if needle in line and pattern.search(line):
                    return f"{source.name}:{number}"
    return None


def excerpt(line: str, match: re.Match[str], before: int = 25, after: int = 45) -> str:
    """A short one-line quote of *line* around *match* (a TODO), without the YAML key."""
    start, end = match.start(), match.end()
    head = re.sub(r"^\s*(?:-\s+)?(?:[\w-]+:\s+)?[|>]?[-+]?\s*['\"]?", "", line[:start])
    tail = line[end:].rstrip().rstrip("'\"")
    if len(head) > before:
        head = "…" + head[-before:].split(" ", 1)[-1]
    if len(tail) > after:
        tail = tail[:after].rsplit(" ", 1)[0] + "…"
    return "“" + " ".join(f"{head}{match[0]}{tail}".split()) + "”"


def is_placeholder_url(url: str) -> bool:
    """Whether *url* (https or mailto) points at an example.org/.com/.net address."""
    return bool(_DOMAIN_RE.search(url.replace("mailto:", "mailto://", 1)))


def config_line(lines: list[str], key: str, value: str) -> int | None:
    """The number of the line of mailer.toml (*lines*) that sets *key* (its last part) to
    *value*, else the first line that mentions *value*, else None."""
    leaf = re.escape(key.rsplit(".", 1)[-1])
    for number, line in enumerate(lines, 1):
        if re.match(rf"\s*[\"']?{leaf}[\"']?\s*=", line) and value in line:
            return number
    for number, line in enumerate(lines, 1):
        if value in line and not line.lstrip().startswith("#"):
            return number
    return None


def _settings_values(config: Config) -> list[tuple[str, str]]:
    s = config.settings
    values: list[tuple[str, Any]] = [
        ("organisation", s.organisation),
        ("postal_address", s.postal_address),
        ("website", s.website),
        ("assets_url", s.assets_url),
        ("sender.from_name", s.sender.from_name),
        ("sender.from_email", s.sender.from_email),
        ("sender.reply_to", s.sender.reply_to),
        ("sender.unsubscribe_mailto", s.sender.unsubscribe_mailto),
        ("tracking.base_url", s.tracking.base_url),
        *((f"social.{name}", url) for name, url in s.social.items()),
    ]
    return [(k, v) for k, v in values if isinstance(v, str) and v]


def placeholder_findings(config: Config) -> list[Finding]:
    """A warning for each value of mailer.toml still as ``mailer init`` wrote it (a made-up
    organisation, postal address or example.org address), at its line. A config that is
    not a file (the defaults) reports nothing: there is nothing an editor wrote."""
    if config.path is None:
        return []
    try:
        lines = config.path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    out: list[Finding] = []
    for key, value in _settings_values(config):
        if key == "postal_address" and any(w in value for w in PLACEHOLDER_ADDRESS_WORDS):
            why = "the placeholder postal address"
        elif PLACEHOLDER_NAME.lower() in value.lower():
            why = "the placeholder name"
        elif m := _DOMAIN_RE.search(value):
            why = f"a placeholder {m[1]} address"
        else:
            continue
        line = config_line(lines, key, value)
        where = f"{config.path}:{line}" if line else str(config.path)
        out.append(
            Finding(
                "warning",
                "placeholder",
                f"{key} = {value!r} is {why} `mailer init` wrote: write your own before sending",
                where,
            )
        )
    return out
