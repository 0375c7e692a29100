"""Issue → MJML with the Jinja2 theme (``templates/``: a base layout + one template per block).

The Jinja2 environment (where templates are looked up, autoescape, undefined values
as errors, the language's catalogue for every ``_()``) is :mod:`mailer.build.jinja_env`.

Templates get the issue, the settings, the layout variables of the language
(``lang``, ``dir``, ``align``, ``align_end``...; see :func:`mailer.i18n.layout`) and
a few helpers: ``md(text, block_id)`` (Markdown → sanitised HTML, links with UTM),
``href(url, block_id, kind)``, ``shares(block)``, ``img(image)``, ``icon(label)`` (a
network's icon from ``icons/``, see :mod:`mailer.build.icons`), ``period``, and for
an event ``when(block)`` (its date and time in the language) and ``calendar(block)``
(the link to its ``.ics``). A theme's own block types (``blocks/<type>.yaml``, see
:mod:`mailer.build.theme_blocks`) are rendered by their ``blocks/<type>.mjml.j2`` the
same way.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import RenderError
from ..rendered import Link, MergeField
from .blocks import EventBlock, format_when, ics_name
from .icons import theme_icon
from .images import inside
from .issue import Image, Issue, MergeCollector
from .jinja_env import FRESH, FieldRef

# also imported from here (text.py, text_blocks.py, preview.py, pipeline.py, tests)
from .jinja_env import environment as environment
from .jinja_env import template_dirs as template_dirs
from .jinja_env import template_error as template_error
from .links import LinkCollector, rewrite_hrefs

SOCIAL_LABELS = {
    "facebook": "Facebook",
    "linkedin": "LinkedIn",
    "twitter": "X (Twitter)",
    "x": "X",
    "instagram": "Instagram",
    "website": "Website",
    "youtube": "YouTube",
    "medium": "Medium",
}
SHARE_LABELS = {
    "facebook": "Facebook",
    "x": "X",
    "linkedin": "LinkedIn",
    "whatsapp": "WhatsApp",
    "email": "Email",
}


@dataclass
class RenderResult:
    """The MJML of one issue in one language and what was collected while rendering it."""

    mjml: str
    links: tuple[Link, ...]
    merge_fields: tuple[MergeField, ...]
    #: output name (``assets/x.jpg``) → local file, for every local image used
    assets: dict[str, Path] = field(default_factory=dict)


class _Subscriber:
    def __init__(self, merge: MergeCollector) -> None:
        self._merge = merge

    def __getattr__(self, name: str) -> FieldRef:
        if name.startswith("_"):
            raise AttributeError(name)
        return FieldRef(name.lower(), self._merge)


@functools.lru_cache(maxsize=1024)
def _local_image(folder: Path, src: str) -> tuple[Path, str, str]:
    """The file of a local image *src* of *folder*, its name in a build (``assets/x.jpg``)
    and in ``assets_url`` (``x.jpg``): plain path arithmetic, the file is not looked at."""
    rel = src.removeprefix("./")
    rel = rel.split("assets/", 1)[1] if "assets/" in rel else Path(rel).name
    return folder / src, f"assets/{rel}", rel


class _Helpers:
    """The functions templates call while rendering one issue."""

    def __init__(
        self,
        issue: Issue,
        config: Config,
        links: LinkCollector,
        for_send: bool,
        dirs: tuple[str, ...],
    ) -> None:
        self.issue = issue
        self.config = config
        self.links = links
        self.for_send = for_send
        self.assets: dict[str, Path] = {}
        self.folder = issue.path.parent
        # one look-up per network per render (the footer and every shared story ask again)
        self._icon = functools.cache(theme_icon(self.img, dirs))

    def icon(self, label: str) -> str:
        """``icon(label)``: the URL of the network's icon from ``icons/``, or ``""``."""
        return self._icon(label)

    def md(self, text: str, block: str) -> Any:
        from markupsafe import Markup

        from .markdown import to_html

        html = to_html(text)
        return Markup(rewrite_hrefs(html, lambda url: self.links.add(url, block)))

    def href(self, url: str, block: str, kind: str = "other") -> str:
        return self.links.add(url, block, kind)

    def shares(self, block: Any) -> list[tuple[str, str]]:
        if not getattr(block, "share", False) or not getattr(block, "url", None):
            return []
        return [
            (SHARE_LABELS[n], href)
            for n, href in self.links.share(block.url, block.title, block.id)
        ]

    def img(self, image: Image | str, base: Path | None = None) -> str:
        src = image.src if isinstance(image, Image) else image
        if src.startswith(("https://", "http://")):
            return src
        folder = base or self.folder
        local, name, rel = _local_image(folder, src)
        if not inside(local, folder):
            raise RenderError(
                f"the image {src} resolves outside {folder} (a symlink or ..?); "
                "it is never copied into a build or a send",
                hint=f"copy the picture itself into {folder / 'assets'}.",
                location=str(self.issue.path if base is None else self.config.path or folder),
            )
        self.assets[name] = local
        if self.for_send:
            url = self.config.settings.assets_url
            if not url:
                raise RenderError(
                    f"the image {src} is a local file, but mailer.toml sets no assets_url",
                    hint='upload the built assets/ folder and set assets_url = "https://…/assets/".',
                    location=str(self.issue.path),
                )
            return f"{url.rstrip('/')}/{rel}"
        return name

    def calendar(self, block: EventBlock) -> str:
        """Where the event's "add to calendar" file is: at ``assets_url`` when it is set (the
        build's copy and a send's link alike, as the text part writes it, so `mailer check`
        sees the link a reader gets), else beside the build (an editor's build only)."""
        name = ics_name(self.issue.slug, block.id)
        url = self.config.settings.assets_url
        if not url and not self.for_send:
            return name
        if not url:
            raise RenderError(
                f"the event {block.id!r} links to its calendar file, but mailer.toml sets "
                "no assets_url",
                hint='upload the built assets/ folder and set assets_url = "https://…/assets/".',
                location=str(self.issue.path),
            )
        return f"{url.rstrip('/')}/{name.removeprefix('assets/')}"

    def when(self, block: EventBlock) -> str:
        """The event's date and time, written in the issue's language."""
        return format_when(block, self.config.settings.schedule.timezone, self.issue.language)

    def logo(self) -> str | None:
        logo = self.config.settings.brand.logo
        if not logo:
            return None
        return self.img(logo, self.config.root)


def render_mjml(issue: Issue, config: Config, *, for_send: bool = False) -> RenderResult:
    """Render *issue* to MJML with the theme. Raises :class:`RenderError` on template errors."""
    import jinja2

    from . import i18n

    settings = config.settings
    lang = issue.language
    dirs = template_dirs(config)
    links = LinkCollector(
        campaign=issue.slug,
        utm=settings.tracking.utm,
        source=settings.tracking.utm_source,
        medium=settings.tracking.utm_medium,
    )
    helpers = _Helpers(issue, config, links, for_send, dirs)
    merge = MergeCollector()
    for ref in issue.merge_fields:
        merge.refs[(ref.field, ref.fallback)] = ref
    env = environment(dirs, lang)
    period = i18n.format_period(issue.period.start, issue.period.end, lang) if issue.period else ""
    social = [
        (SOCIAL_LABELS.get(name, name.title()), links.add(url, "footer", f"follow:{name}"))
        for name, url in settings.social.items()
    ]
    context = {
        **i18n.layout(lang),
        "issue": issue,
        "settings": settings,
        "brand": settings.brand,
        "title": issue.title or settings.name,
        "period": period,
        "social": social,
        "subscriber": _Subscriber(merge),
        "md": helpers.md,
        "href": helpers.href,
        "shares": helpers.shares,
        "img": helpers.img,
        "icon": helpers.icon,
        "when": helpers.when,
        "calendar": helpers.calendar,
        "logo": helpers.logo(),
        "unsubscribe_url": "%%unsubscribe_url%%",
        "view_url": "%%view_url%%",
    }
    token = FRESH.set({})
    try:
        mjml = env.get_template("base.mjml.j2").render(context)
    except (jinja2.TemplateNotFound, jinja2.TemplateSyntaxError, jinja2.UndefinedError) as exc:
        raise template_error(
            exc,
            template_dirs(config),
            missing_hint=(
                "every block type needs blocks/<type>.mjml.j2; copy it from mailer's theme."
            ),
            undefined="a template",
            undefined_hint="check the variable names in your templates folder.",
        ) from None
    finally:
        FRESH.reset(token)
    fields = tuple(
        MergeField(token=r.token, field=r.field, fallback=r.fallback) for r in merge.refs.values()
    )
    return RenderResult(mjml=mjml, links=links.links, merge_fields=fields, assets=helpers.assets)
