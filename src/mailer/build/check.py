"""Pre-flight checks of an issue (``mailer check``; the scheduler calls :func:`check_issue`).

Each problem is a :class:`Finding` with a severity: ``error`` blocks a send or a
schedule, ``warning`` is worth a look (``mailer check --strict`` fails on both).
Where a finding comes from a line of the issue (or its translation, or mailer.toml)
its location is ``file:line``; :mod:`mailer.build.findings` finds those lines.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from ..config import Config
from ..rendered import UNSUBSCRIBE_URL, Rendered
from .contrast import contrast_findings
from .findings import (
    Finding,
    SourceFile,
    excerpt,
    is_placeholder_url,
    locate,
    placeholder_findings,
)

__all__ = ["Finding", "check_issue", "check_rendered"]

GMAIL_CLIP = 102 * 1024
SIZE_WARNING = 80 * 1024
SUBJECT_MAX = 70
VAGUE = frozenset({"click here", "here", "this link", "link", "click", "this", "more", "go"})
_LEFTOVER = re.compile(r"\b(TODO|TK|TBD|FIXME|XXX)\b")
_TOKEN = re.compile(r"^%%[a-z_:.0-9]+%%$")


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


def check_rendered(
    rendered: Rendered, config: Config, where: str, sources: list[SourceFile] | None = None
) -> list[Finding]:
    """The checks of one built language (as built for sending: tokens unfilled).

    *sources* are the files the language was written from (the issue, its translation);
    link findings name the line where the link is written there."""
    out: list[Finding] = []

    def at(href: str, text: str = "") -> str:
        return locate(sources or [], href, text) or where

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
        if img.get("alt") is None:  # alt="" is a decorative image (`alt: ""` in the issue)
            out.append(Finding("error", "alt", f"image {src} has no alt text{lang}", where))
        if not img.get("width"):
            out.append(Finding("warning", "width", f"image {src} has no width{lang}", where))
    for href, text in scan.links:
        if _TOKEN.match(href) or href.startswith(("https://", "mailto:")):
            pass
        elif href.startswith("http://"):
            out.append(Finding("warning", "https", f"link is not https: {href}", at(href)))
        else:
            out.append(
                Finding(
                    "error", "link", f"link is not absolute https or mailto: {href!r}", at(href)
                )
            )
        written = locate(sources or [], href)
        if written and is_placeholder_url(href):
            out.append(
                Finding(
                    "warning",
                    "placeholder",
                    f"link to a placeholder address left from `mailer init`: {href.split('?')[0]}",
                    written,
                )
            )
        if text.lower().strip(" .:!→") in VAGUE:
            out.append(
                Finding(
                    "warning",
                    "vague-link",
                    f"vague link text {text!r} ({href}); say where it goes",
                    at(href, text),
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
    from .issue_yaml import read_text
    from .pipeline import build_with_assets, issue_languages
    from .translations import missing_translations, translation_path

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
    raw = read_text(path)  # size-limited; an unreadable file is an IssueError
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.lstrip().startswith("#") and (m := _LEFTOVER.search(line)):
            findings.append(
                Finding("error", "leftover", f"leftover {m[1]}: {excerpt(line, m)}", f"{where}:{n}")
            )
    findings.extend(placeholder_findings(config))
    findings.extend(contrast_findings(config))
    issue_source = SourceFile(where, raw.splitlines())
    for lang in issue_languages(path, config):
        rendered, _assets = build_with_assets(path, config, lang=lang, for_send=False)
        sources = [issue_source]
        translation = translation_path(path, lang)
        if lang != settings.default_language and translation.is_file():
            sources.insert(0, SourceFile.read(translation))
        findings.extend(check_rendered(rendered, config, where, sources))
        for asset in rendered.assets:
            if not (path.parent / asset).is_file():
                findings.append(Finding("error", "image", f"image file not found: {asset}", where))
        findings.extend(heavy_images(path.parent, rendered))
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


def heavy_images(folder: Path, rendered: Rendered) -> list[Finding]:
    """A warning for each local image of *rendered* (its files relative to *folder*) still
    over 200 KB once made for email (resized to twice its display width, recompressed)."""
    import tempfile

    from .photos import HEAVY_BYTES, display_widths, email_copy, output_name

    widths = display_widths(rendered.html)
    out = []
    with tempfile.TemporaryDirectory(prefix="mailer-check-") as tmp:
        for n, asset in enumerate(rendered.assets):
            source = folder / asset
            if not source.is_file():
                continue
            dest = Path(tmp) / f"{n}{source.suffix}"
            email_copy(source, dest, widths.get(output_name(asset)))
            size = dest.stat().st_size
            if size > HEAVY_BYTES:
                out.append(
                    Finding(
                        "warning",
                        "image-size",
                        f"the image {asset} is {size / 1024:.0f} KB even made for email "
                        "(over 200 KB): crop it, or choose a photo with less fine detail",
                        str(source),
                    )
                )
    return out
