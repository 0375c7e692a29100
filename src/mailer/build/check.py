"""Pre-flight checks of an issue (``mailer check``; the scheduler calls :func:`check_issue`).

Each problem is a :class:`Finding` with a severity: ``error`` blocks a send or a
schedule, ``warning`` is worth a look (``mailer check --strict`` fails on both).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from ..config import Config
from ..rendered import UNSUBSCRIBE_URL, Rendered

GMAIL_CLIP = 102 * 1024
SIZE_WARNING = 80 * 1024
SUBJECT_MAX = 70
VAGUE = frozenset({"click here", "here", "this link", "link", "click", "this", "more", "go"})
_LEFTOVER = re.compile(r"\b(TODO|TK|TBD|FIXME|XXX)\b")
_TOKEN = re.compile(r"^%%[a-z_:.0-9]+%%$")


@dataclass(frozen=True)
class Finding:
    """One problem found by :func:`check_issue`."""

    severity: str  # "error" | "warning"
    code: str
    message: str
    location: str = ""

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.message} [{self.code}]"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class _Scan(HTMLParser):
    """Collects images and links (with their text) of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[dict[str, str | None]] = []
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a)
        elif tag == "a":
            self._href, self._text = a.get("href") or "", []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._text).split())))
            self._href = None


def check_rendered(rendered: Rendered, config: Config, where: str) -> list[Finding]:
    """The checks of one built language."""
    out: list[Finding] = []
    lang = f" ({rendered.language})"
    size = len(rendered.html.encode("utf-8"))
    if size > GMAIL_CLIP:
        out.append(
            Finding(
                "error",
                "size",
                f"the HTML is {size / 1024:.0f} KB{lang}: Gmail "
                "clips messages over 102 KB; shorten the issue",
                where,
            )
        )
    elif size > SIZE_WARNING:
        out.append(
            Finding(
                "warning",
                "size",
                f"the HTML is {size / 1024:.0f} KB{lang}; tracking "
                "links add weight and Gmail clips at 102 KB",
                where,
            )
        )
    scan = _Scan()
    scan.feed(rendered.html)
    for img in scan.images:
        src = img.get("src") or "?"
        if not (img.get("alt") or "").strip():
            out.append(Finding("error", "alt", f"image {src} has no alt text{lang}", where))
        if not img.get("width"):
            out.append(Finding("warning", "width", f"image {src} has no width{lang}", where))
    for href, text in scan.links:
        if _TOKEN.match(href) or href.startswith(("https://", "mailto:")):
            pass
        elif href.startswith("http://"):
            out.append(Finding("warning", "https", f"link is not https: {href}", where))
        else:
            out.append(
                Finding("error", "link", f"link is not absolute https or mailto: {href!r}", where)
            )
        if text.lower().strip(" .:!→") in VAGUE:
            out.append(
                Finding(
                    "warning",
                    "vague-link",
                    f"vague link text {text!r} ({href}); say where it goes",
                    where,
                )
            )
    if UNSUBSCRIBE_URL not in rendered.html or UNSUBSCRIBE_URL not in rendered.text:
        out.append(
            Finding(
                "error",
                "unsubscribe",
                f"no unsubscribe link{lang}; the footer "
                "template must keep {{ unsubscribe_url }}",
                where,
            )
        )
    if len(rendered.subject) > SUBJECT_MAX:
        out.append(
            Finding(
                "warning",
                "subject",
                f"the subject is {len(rendered.subject)} "
                f"characters{lang}; phones show about {SUBJECT_MAX}",
                where,
            )
        )
    if not rendered.preheader:
        out.append(
            Finding(
                "warning",
                "preheader",
                "no preheader: inboxes will show the first words of the page instead",
                where,
            )
        )
    return out


def check_issue(issue_path: str | Path, config: Config) -> list[Finding]:
    """Build every language of the issue as for sending and return what is wrong.

    An issue file that cannot be loaded raises :class:`~mailer.errors.IssueError`.
    """
    from .pipeline import build_issue, issue_languages
    from .translations import missing_translations

    path = Path(issue_path)
    where = str(path)
    settings = config.settings
    findings: list[Finding] = []
    if not settings.postal_address.strip():
        findings.append(
            Finding(
                "error",
                "address",
                "no postal address: set postal_address in mailer.toml (anti-spam laws require it)",
                str(config.path or ""),
            )
        )
    raw = path.read_text(encoding="utf-8", errors="replace")
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.lstrip().startswith("#") and (m := _LEFTOVER.search(line)):
            findings.append(
                Finding(
                    "error", "leftover", f"leftover {m[1]}: {line.strip()[:60]}", f"{where}:{n}"
                )
            )
    for lang in issue_languages(path, config):
        rendered = build_issue(path, config, lang=lang, for_send=False)
        findings.extend(check_rendered(rendered, config, where))
        for asset in rendered.assets:
            if not (path.parent / asset).is_file():
                findings.append(Finding("error", "image", f"image file not found: {asset}", where))
        if rendered.assets and not settings.assets_url:
            findings.append(
                Finding(
                    "warning",
                    "assets_url",
                    "local images but no assets_url in mailer.toml: set it before sending",
                    where,
                )
            )
    missing = missing_translations(path, settings.default_language, settings.languages)
    for lang, fields in missing.items():
        if fields:
            shown = ", ".join(fields[:5]) + (" …" if len(fields) > 5 else "")
            findings.append(
                Finding(
                    "warning",
                    "translation",
                    f"{lang}: {len(fields)} text(s) not translated: {shown}",
                    where,
                )
            )
    return _unique(findings)


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: dict[Any, Finding] = {}
    for f in findings:
        seen.setdefault((f.severity, f.code, f.message, f.location), f)
    return list(seen.values())
