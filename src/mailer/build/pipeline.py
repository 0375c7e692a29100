"""Build an issue: load → render (Jinja2) → compile (MJML) → inline CSS → text part.

:func:`build_issue` renders once per issue and language and returns a
:class:`~mailer.rendered.Rendered` with its ``%%…%%`` tokens (what a send and
``mailer check`` start from); :func:`for_editor` fills them with sample values for
what the editor looks at; :func:`write_build` writes what ``mailer build`` produces
(index.html, index.txt, index.mjml, message.eml, assets/ with the photos made for email
by :mod:`mailer.build.photos`), never with a raw token.
"""

from __future__ import annotations

import contextlib
import html as html_lib
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config
from ..rendered import UNSUBSCRIBE_URL, VIEW_URL, Rendered

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .issue import Issue

#: the To: of message.eml when ``[preview] sample`` has no email
PLACEHOLDER_TO = "reader@example.org"
#: a substitution token, as the sender matches them (docs/ARCHITECTURE.md → Substitution tokens)
TOKEN_RE = re.compile(r"%%[a-z_:.0-9]+%%")


@dataclass
class Built:
    """Where one language of an issue was written."""

    language: str
    directory: Path
    rendered: Rendered
    files: list[Path] = field(default_factory=list)


def issue_languages(issue_path: str | Path, config: Config) -> list[str]:
    """The languages of an issue: the default first, then one per translation file."""
    from .translations import issue_languages as languages

    return languages(Path(issue_path), config.settings.default_language)


def build_issue(
    issue_path: str | Path, config: Config, *, lang: str | None = None, for_send: bool = False
) -> Rendered:
    """Render the issue at *issue_path* in *lang* (default: the config's default language).

    The result carries the ``%%…%%`` tokens a send fills per reader (docs/ARCHITECTURE.md
    → Substitution tokens); :func:`for_editor` fills them with sample values for what an
    editor looks at (``mailer build``, ``mailer preview``). ``for_send=True`` points
    local images at ``assets_url``; otherwise they stay ``assets/...`` relative to the
    output (as ``mailer build`` writes them).
    """
    rendered, _assets = build_with_assets(Path(issue_path), config, lang=lang, for_send=for_send)
    return rendered


def build_with_assets(
    issue_path: Path, config: Config, *, lang: str | None, for_send: bool
) -> tuple[Rendered, dict[str, Path]]:
    """The issue rendered in *lang*, and its local images (name in the build → file)."""
    from .images import one_build

    _check_language(issue_path, config, lang)
    with one_build():  # each image path resolved once (a build asks ~27 times per language)
        rendered, assets, _issue = _build_one(issue_path, config, lang=lang, for_send=for_send)
    return rendered, assets


def _check_language(issue_path: Path, config: Config, lang: str | None) -> None:
    """IssueError unless the issue has a version in *lang* (None: the default language)."""
    default = config.settings.default_language
    if lang and lang != default and lang not in issue_languages(issue_path, config):
        from ..errors import IssueError
        from .translations import translation_path

        raise IssueError(
            f"there is no '{lang}' version of this issue "
            f"(it has: {', '.join(issue_languages(issue_path, config))})",
            location=str(issue_path),
            hint=f"write the translation in {translation_path(issue_path, lang)}, "
            "or build without --lang.",
        )


def _build_one(
    issue_path: Path, config: Config, *, lang: str | None, for_send: bool
) -> tuple[Rendered, dict[str, Path], Issue]:
    """The issue rendered in *lang* (one :func:`_check_language` accepts), its local images,
    and the loaded issue (which :func:`write_build` hands to the calendar files rather
    than loading it again)."""
    from .i18n import direction, format_period
    from .inline import compile_and_inline
    from .issue import load_issue
    from .render import render_mjml, template_dirs
    from .text import render_text

    default = config.settings.default_language
    issue = load_issue(
        issue_path,
        lang=lang if lang and lang != default else None,
        default_language=default,
        block_dirs=template_dirs(config),
    )
    result = render_mjml(issue, config, for_send=for_send)
    html = compile_and_inline(result.mjml, config.settings.inliner)
    period = (
        format_period(issue.period.start, issue.period.end, issue.language) if issue.period else ""
    )
    text = render_text(issue, config, period=period)
    rendered = Rendered(
        slug=issue.slug,
        language=issue.language,
        direction=direction(issue.language),
        subject=issue.subject,
        preheader=issue.preheader,
        mjml=result.mjml,
        html=html,
        text=text,
        links=result.links,
        merge_fields=result.merge_fields,
        assets=_relative_all(result.assets.values(), issue_path.parent),
    )
    return rendered, result.assets, issue


def _relative_all(paths: Iterable[Path], base: Path) -> tuple[str, ...]:
    """Each of *paths* relative to *base* (``relative_to``, else ``os.path.relpath``),
    sorted; *base* made absolute once, not once per image."""
    start = os.path.abspath(base)
    found = []
    for path in paths:
        if path.is_absolute() == base.is_absolute():
            try:
                found.append(str(path.relative_to(base)))
                continue
            except ValueError:
                pass
        found.append(os.path.relpath(path, start))
    return tuple(sorted(found))


def footer_links(config: Config) -> tuple[str, str]:
    """Where the editor's copy points "Unsubscribe" and "View in browser": ``[preview]``
    ``unsubscribe_url`` / ``view_url``, else the ``website`` (a real page that changes
    nothing), else the sender's address as a mailto."""
    s = config.settings
    mailto = f"mailto:{s.sender.unsubscribe_mailto or s.sender.from_email}?subject=unsubscribe"
    unsubscribe = s.preview.unsubscribe_url or s.website or mailto
    view = s.preview.view_url or s.website or f"mailto:{s.sender.from_email}"
    return unsubscribe, view


def sample_values(
    rendered: Rendered,
    config: Config,
    *,
    unsubscribe_url: str | None = None,
    view_url: str | None = None,
) -> dict[str, str]:
    """Token → the value the editor's copy shows: merge fields from ``[preview] sample``
    (else each field's fallback), the footer links from :func:`footer_links` (or the
    given ones)."""
    sample = config.settings.preview.sample
    unsubscribe, view = footer_links(config)
    values = {UNSUBSCRIBE_URL: unsubscribe_url or unsubscribe, VIEW_URL: view_url or view}
    for merge in rendered.merge_fields:
        value = sample.get(merge.field, "")
        if not value and merge.field == "first_name":
            value = (sample.get("name", "").split() or [""])[0]
        values[merge.token] = value or merge.fallback
    return values


def fill_tokens(text: str, values: dict[str, str], *, html: bool = False) -> str:
    """*text* with every token of *values* replaced in one pass (HTML-escaped with *html*);
    tokens without a value are kept."""

    def value(match: re.Match[str]) -> str:
        found = values.get(match[0])
        if found is None:
            return match[0]
        return html_lib.escape(found, quote=True) if html else found

    return TOKEN_RE.sub(value, text)


def for_editor(
    rendered: Rendered,
    config: Config,
    *,
    unsubscribe_url: str | None = None,
    view_url: str | None = None,
) -> Rendered:
    """*rendered* as the editor sees it (``mailer build``, ``mailer preview``): no ``%%…%%``
    token left in the subject, preheader, HTML, text or MJML. ``merge_fields`` still lists
    what a send fills per reader. Never hand this to the sender."""
    values = sample_values(rendered, config, unsubscribe_url=unsubscribe_url, view_url=view_url)
    return replace(
        rendered,
        subject=fill_tokens(rendered.subject, values),
        preheader=fill_tokens(rendered.preheader, values),
        html=fill_tokens(rendered.html, values, html=True),
        text=fill_tokens(rendered.text, values),
        mjml=fill_tokens(rendered.mjml, values, html=True),
    )


def message_bytes(rendered: Rendered, config: Config) -> bytes:
    """A complete message of *rendered* (the editor's copy, see :func:`for_editor`) to the
    sample reader: what ``message.eml`` holds."""
    from .message import eml_bytes, list_unsubscribe_headers

    sender = config.settings.sender
    sample = config.settings.preview.sample
    unsubscribe, _view = footer_links(config)
    return eml_bytes(
        from_name=sender.from_name,
        from_email=sender.from_email,
        to=sample.get("email") or PLACEHOLDER_TO,
        to_name=sample.get("name") or None,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        reply_to=sender.reply_to,
        headers=list_unsubscribe_headers(
            unsubscribe if unsubscribe.startswith("https://") else None,
            sender.unsubscribe_mailto or sender.from_email,
        ),
    )


def write_build(
    issue_path: str | Path, config: Config, out: str | Path, *, lang: str | None = None
) -> list[Built]:
    """Build and write the issue into *out*: with *lang* that language only; without, the
    default language in *out* and every other language in ``out/<lang>/``."""
    out = Path(out)
    default = config.settings.default_language
    if lang:
        _check_language(Path(issue_path), config, lang)
    langs = [lang] if lang else issue_languages(issue_path, config)
    from .images import one_build

    built = []
    with one_build():  # each image path resolved once for all the languages
        for code in langs:
            target = out if lang or code == default else out / code
            rendered, assets, issue = _build_one(
                Path(issue_path), config, lang=code, for_send=False
            )
            built.append(_write(for_editor(rendered, config), assets, config, target))
            built[-1].files.extend(_calendar_files(issue, config, target))
    return built


def _calendar_files(issue: Issue, config: Config, target: Path) -> list[Path]:
    """The issue's ``.ics`` files written under *target* (none without an event block:
    then :mod:`mailer.build.ics` is not even imported)."""
    from .blocks import EventBlock

    if not any(isinstance(block, EventBlock) for block in issue.blocks):
        return []
    from .ics import write_calendar_files

    return write_calendar_files(issue, config, target)


def _write(rendered: Rendered, assets: dict[str, Path], config: Config, target: Path) -> Built:
    target.mkdir(parents=True, exist_ok=True)
    files = []
    for name, content in (
        ("index.html", rendered.html),
        ("index.txt", rendered.text),
        ("index.mjml", rendered.mjml),
        ("message.eml", message_bytes(rendered, config)),
    ):
        _replace_file(target / name, content)
        files.append(target / name)
    from .photos import display_widths, write_assets

    files.extend(write_assets(assets, display_widths(rendered.html), target))
    return Built(rendered.language, target, rendered, files)


def _replace_file(path: Path, content: str | bytes) -> None:
    """Write *content* (text as UTF-8) as a new file at *path*: the file of the last build
    is removed first, not truncated (ext4 writes a truncated file's blocks out before it
    is rewritten: ~0.1-1 ms a file, a dozen per build; issue 15)."""
    with contextlib.suppress(OSError):  # none yet; or not removable: then overwritten
        path.unlink()
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
