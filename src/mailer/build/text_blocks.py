"""The text part of the letter, gallery and event blocks, a story's share line, and of a
theme's own blocks.

:mod:`mailer.build.text` calls these with its link collector (``link(url, block_id,
kind)`` adds the UTM parameters), its Markdown-to-text function and the language's
``_``. A theme block's text is its ``blocks/<type>.txt.j2`` rendered without HTML
escaping, with ``block``, ``md(text, block_id)``, ``href(url, block_id)``, ``lang``
and ``_()`` (:func:`theme_text`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .blocks import EventBlock, GalleryBlock, LetterBlock
from .render import template_error

Link = Callable[[str, str, str], str]
Markdown = Callable[[str, str], str]
Gettext = Callable[[str], str]


def underline(title: str, char: str = "=") -> str:
    """*title* over a line of *char* as long as it (at most 72)."""
    return f"{title}\n{char * min(len(title), 72)}"


def letter_text(block: LetterBlock, md: Markdown) -> str:
    """Title, salutation, body, then the signature's name and role."""
    parts = [underline(block.title)] if block.title else []
    if block.salutation:
        parts.append(block.salutation)
    parts.append(md(block.body, block.id))
    if block.signature:
        parts.append("\n".join(x for x in (block.signature.name, block.signature.role) if x))
    return "\n\n".join(parts)


def gallery_text(block: GalleryBlock, link: Link, _: Gettext) -> str:
    """One entry per photo: caption (or alt) and credit, and its link when it has one."""
    entries = []
    for item in block.items:
        entry = f"* {item.image.caption or item.image.alt}".rstrip()
        if item.image.credit:
            entry += f" {_('Photo:')} {item.image.credit}"
        if item.url:
            entry += f"\n  {link(item.url, item.id, 'other')}"
        entries.append(entry)
    body = "\n\n".join(entries)
    return f"{underline(block.title)}\n\n{body}" if block.title else body


def event_text(
    block: EventBlock, when: str, calendar: str, md: Markdown, link: Link, _: Gettext
) -> str:
    """Title, date and time, place, body, "Add to calendar" and the button's link."""
    parts = [underline(block.title), "\n".join(x for x in (when, block.place) if x)]
    if block.body:
        parts.append(md(block.body, block.id))
    actions = [f"{_('Add to calendar')}: {calendar}"]
    if block.button:
        actions.append(f"{block.button.label}: {link(block.button.url, block.id, 'other')}")
    parts.append("\n".join(actions))
    return "\n\n".join(parts)


def share_text(shares: list[tuple[str, str]], _: Gettext) -> str:
    """A story's share links as the HTML writes them ("Share on: Facebook · X · …", the same
    words and separators, so the two parts agree), then each network's link on its own line."""
    if not shares:
        return ""
    names = " · ".join(_(label) for label, _url in shares)
    lines = [f"{_('Share on')}: {names}"]
    lines.extend(f"  {_(label)}: {url}" for label, url in shares)
    return "\n".join(lines)


@functools.lru_cache(maxsize=16)
def _environment(dirs: tuple[str, ...], lang: str) -> Any:
    import jinja2

    from . import i18n

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(dirs)),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,
    )
    i18n.install(env, lang)
    return env


def theme_text(block: Any, dirs: tuple[str, ...], lang: str, md: Markdown, link: Link) -> str:
    """A theme block's text part: its ``blocks/<type>.txt.j2`` rendered with *block*."""
    import jinja2

    name = f"blocks/{block.type}.txt.j2"
    try:
        template = _environment(dirs, lang).get_template(name)
        return str(
            template.render(
                block=block,
                lang=lang,
                md=md,
                href=lambda url, block_id=block.id, kind="other": link(url, block_id, kind),
            )
        ).strip()
    except (jinja2.TemplateNotFound, jinja2.TemplateSyntaxError, jinja2.UndefinedError) as exc:
        raise template_error(
            exc,
            dirs,
            name=name,
            missing_hint=f"a theme block needs its text part too: write {name}.",
            undefined=name,
            undefined_hint=(
                "the template sees `block` (its declared fields), md(), href(), lang and _()."
            ),
        ) from None
