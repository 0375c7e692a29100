"""The plain-text part, made from the Issue model (not scraped from the HTML).

It carries the same words as the HTML (headings, captions, paragraphs, quotes,
press mentions, the footer) so spam filters see two parts that agree (a text
part unlike the HTML costs 2.2 SpamAssassin points: MPART_ALT_DIFF). Links are
written out as URLs, with the same UTM parameters as the HTML's.
"""

from __future__ import annotations

from ..config import Config
from ..rendered import UNSUBSCRIBE_URL, VIEW_URL
from .blocks import EventBlock, GalleryBlock, LetterBlock, format_when, ics_name
from .issue import (
    ButtonBlock,
    DividerBlock,
    HeadingBlock,
    HighlightsBlock,
    ImageBlock,
    Issue,
    NewsBlock,
    StoryBlock,
    TextBlock,
    VideosBlock,
)
from .links import LinkCollector, rewrite_hrefs
from .markdown import html_to_text, to_html, to_text
from .render import SHARE_LABELS, SOCIAL_LABELS, template_dirs
from .text_blocks import event_text, gallery_text, letter_text, share_text, theme_text
from .theme_blocks import ThemeBlock


def _underline(title: str, char: str = "=") -> str:
    return f"{title}\n{char * min(len(title), 72)}"


def render_text(issue: Issue, config: Config, *, period: str = "") -> str:
    """The text part of *issue* (footer tokens ``%%unsubscribe_url%%``/``%%view_url%%`` left in)."""
    from . import i18n

    settings = config.settings
    _ = i18n.translations(issue.language).gettext
    marks = i18n.layout(issue.language)
    links = LinkCollector(
        campaign=issue.slug,
        utm=settings.tracking.utm,
        source=settings.tracking.utm_source,
        medium=settings.tracking.utm_medium,
    )
    out: list[str] = [_underline(issue.title or settings.name, "#")]
    if period:
        out.append(period)

    def story(block: StoryBlock) -> None:
        title = block.title
        if block.headline == "quote":
            title = f"{marks['quote_open']}{title}{marks['quote_close']}"
        parts = [f"{block.kicker}\n{_underline(title)}" if block.kicker else _underline(title)]
        if block.image and (block.image.caption or block.image.credit):
            credit = f" {_('Photo:')} {block.image.credit}" if block.image.credit else ""
            parts.append(f"{block.image.caption}{credit}".strip())
        if block.body:
            parts.append(_md(block.body, block.id))
        if block.quote:
            quote = f"{marks['quote_open']}{block.quote.text}{marks['quote_close']}"
            if block.quote.attribution:
                quote += f"\n— {block.quote.attribution}"
            parts.append(quote)
        actions = []
        if block.url:
            actions.append(f"{_('Read more')}: {links.add(block.url, block.id, 'read_more')}")
        if block.video:
            actions.append(f"{_('Watch here')}: {links.add(block.video, block.id, 'other')}")
        if block.share and block.url:
            pairs = links.share(block.url, block.title, block.id)
            actions.append(share_text([(SHARE_LABELS[n], url) for n, url in pairs], _))
        if actions:
            parts.append("\n".join(actions))
        out.append("\n\n".join(parts))

    def _md(text: str, block_id: str) -> str:
        return html_to_text(rewrite_hrefs(to_html(text), lambda u: links.add(u, block_id)))

    for block in issue.blocks:
        if isinstance(block, StoryBlock):
            story(block)
        elif isinstance(block, HighlightsBlock):
            parts = [_underline(block.title)] if block.title else []
            for card in block.items:
                entry = f"* {card.title}"
                if card.image and (card.image.caption or card.image.credit):
                    credit = f" {_('Photo:')} {card.image.credit}" if card.image.credit else ""
                    entry += f"\n  {card.image.caption}{credit}".rstrip()
                if card.summary:
                    entry += f"\n  {to_text(card.summary)}"
                entry += f"\n  {_('Read more')}: {links.add(card.url, card.id, 'read_more')}"
                parts.append(entry)
            out.append("\n\n".join(parts))
        elif isinstance(block, VideosBlock):
            parts = [_underline(block.title)] if block.title else []
            for video in block.items:
                lines = [f"* {video.title}"] if video.title else []
                thumb = video.thumbnail
                if thumb.caption or thumb.credit:
                    credit = f" {_('Photo:')} {thumb.credit}" if thumb.credit else ""
                    lines.append(("  " if lines else "* ") + f"{thumb.caption}{credit}".strip())
                if video.summary:
                    lines.append(("  " if lines else "* ") + _md(video.summary, video.id))
                lines.append(f"  {_('Watch here')}: {links.add(video.url, video.id, 'other')}")
                parts.append("\n".join(lines))
            out.append("\n\n".join(parts))
        elif isinstance(block, NewsBlock):
            parts = [_underline(block.title)] if block.title else []
            for item in block.items:
                url = links.add(item.url, item.id, "read_more")
                parts.append(f"* {item.outlet}\n  {item.summary}\n  {_('Read the article')}: {url}")
            out.append("\n\n".join(parts))
        elif isinstance(block, HeadingBlock):
            out.append(_underline(block.text, "#"))
        elif isinstance(block, TextBlock):
            body = _md(block.body, block.id)
            out.append(f"{_underline(block.title)}\n\n{body}" if block.title else body)
        elif isinstance(block, ImageBlock):
            caption = block.image.caption or block.image.alt
            if block.image.credit:
                caption += f" {_('Photo:')} {block.image.credit}"
            out.append(
                f"[{caption}]" + (f"\n{links.add(block.url, block.id)}" if block.url else "")
            )
        elif isinstance(block, ButtonBlock):
            out.append(f"{block.label}: {links.add(block.url, block.id)}")
        elif isinstance(block, DividerBlock):
            out.append("-" * 24)
        elif isinstance(block, LetterBlock):
            out.append(letter_text(block, _md))
        elif isinstance(block, GalleryBlock):
            out.append(gallery_text(block, links.add, _))
        elif isinstance(block, EventBlock):
            when = format_when(block, settings.schedule.timezone, issue.language)
            name = ics_name(issue.slug, block.id)
            base = settings.assets_url
            calendar = f"{base.rstrip('/')}/{name.removeprefix('assets/')}" if base else name
            out.append(event_text(block, when, calendar, _md, links.add, _))
        elif isinstance(block, ThemeBlock):
            dirs = template_dirs(config)
            out.append(theme_text(block, dirs, issue.language, _md, links.add))
    footer = []
    if settings.social:
        follow = [
            f"{_(SOCIAL_LABELS.get(name, name.title()))}: "
            f"{links.add(url, 'footer', f'follow:{name}')}"
            for name, url in settings.social.items()
        ]
        footer.append(f"{_('Follow us')}:\n" + "\n".join(follow))
    address = "\n".join(x for x in (settings.organisation, settings.postal_address) if x)
    footer.append(f"{address}\n{settings.why}".strip())
    footer.append(f"{_('Unsubscribe')}: {UNSUBSCRIBE_URL}\n{_('View in browser')}: {VIEW_URL}")
    out.append("-" * 24 + "\n" + "\n\n".join(footer))
    text = "\n\n\n".join(o for o in out if o) + "\n"
    return i18n.bidi_text(text, issue.language)
