"""Load and validate an issue file (YAML with Markdown in text fields).

An issue file is written by hand, so every error names the file, line and
column, the field path (``blocks[2] (story 'gaziantep').image.alt``), what was
expected and, for a misspelled key, the closest known one. This module owns
the models (:mod:`mailer.validate`), block ids, merge fields and :func:`load_issue`; reading
the YAML with positions is :mod:`mailer.build.issue_yaml`'s part, turning validation errors
into located messages :mod:`mailer.build.yaml_errors`' (given the models as a ``Schema``).

Blocks carry a stable ``id`` (written by the editor, or derived from the title)
used for UTM ``utm_content``, link statistics and translations. Merge fields
(``{{ subscriber.first_name | default("friend") }}``) in texts become tokens such
as ``%%first_name%%``; the text is never executed as a template.

The format (texts are Markdown where they are long: ``body``, ``summary``)::

    subject: "IOM Turkey Newsletter: December 2017 – March 2018"   # required
    preheader: "The line inboxes show after the subject"
    title: "A masthead title"             # default: name in mailer.toml
    period: {start: 2017-12-01, end: 2018-03-31}   # the masthead's date range
    slug: 2018-03-iom-turkey              # default: the file name
    blocks:                               # in reading order
      - type: story                       # photo, title, body, quote, links
        id: gaziantep                     # optional; default from the title
        hero: true                        # the big first story
        title: ...
        image: {src: assets/x.jpg, alt: ..., width: 600, caption: ..., credit: ...}
        body: Markdown
        quote: {text: ..., attribution: ...}
        url: https://...                  # "Read more"
        video: https://...                # "Watch here"
        share: true                       # "Share on" Facebook, X, LinkedIn, WhatsApp, email
      - type: highlights                  # cards two per row: items of {id, title, url,
        title: ...                        #   image, summary}
      - type: videos                      # items of {id, title, summary, url, thumbnail}
      - type: news                        # items of {id, outlet, summary, url}
      - type: heading                     # text: a section title ("Our Stories")
      - type: text                        # title, body
      - type: image                       # image, url
      - type: button                      # label, url
      - type: divider
      - type: letter                      # title, salutation, body, signature: {name, role,
                                          #   image} (a small round portrait)
      - type: gallery                     # title, items of {image (caption, credit), url}
      - type: event                       # title, start, end (local), timezone (IANA; default
                                          #   [schedule] timezone), place, body, button
    story also takes ``kicker`` (a label above the title) and ``headline: quote``.

A theme adds block types of its own (:mod:`mailer.build.theme_blocks`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from ..validate import Field, Tag, ValidationError, make_model
from .blocks import EventBlock, GalleryBlock, GalleryItem, LetterBlock, Signature
from .fields import Button, Image, Src, Strict, Url
from .ids import assign_ids
from .images import check_image_paths
from .issue_yaml import compose, read_text
from .theme_blocks import Declaration, block_model, find_theme_blocks
from .translations import Brings, overlay_fields, translation_path
from .yaml_errors import Schema, validation_error

__all__ = ["Button", "Image", "Src", "Url"]

#: the most blocks an issue may have, and items in one block (a hostile file ends fast)
MAX_BLOCKS = 200
MAX_ITEMS = 100

# -- field types (shared with the letter/gallery/event and theme blocks: fields.py) ----------
_Model = Strict


class Quote(_Model):
    text: str = Field(min_length=1)
    attribution: str = ""


class Period(_Model):
    start: date
    end: date


class _Block(_Model):
    """What every built-in block has: its ``id`` (the ``type`` is set per model)."""

    id: str


class StoryBlock(_Block):
    """A story: title, optional photo, Markdown body, Read more / Watch here / Share on.

    ``kicker`` is a short label above the title (a country, a programme);
    ``headline: quote`` sets the title as a pull quote (large, in the language's
    quotation marks, with the accent rule on its leading side) for a story whose
    title is someone's words."""

    type: Literal["story"]
    title: str = Field(min_length=1)
    kicker: str = Field(default="", max_length=60)
    headline: Literal["plain", "quote"] = "plain"
    hero: bool = False
    image: Image | None = None
    body: str = ""
    quote: Quote | None = None
    url: Url | None = None
    video: Url | None = None
    share: bool = False


class Card(_Model):
    id: str
    title: str = Field(min_length=1)
    url: Url
    image: Image | None = None
    summary: str = ""


class HighlightsBlock(_Block):
    """A grid of cards (two per row on desktop, stacked on a phone)."""

    type: Literal["highlights"]
    title: str = ""
    items: list[Card] = Field(min_length=1, max_length=MAX_ITEMS)


class Video(_Model):
    id: str
    title: str = ""
    summary: str = ""
    url: Url
    thumbnail: Image


class VideosBlock(_Block):
    """Video items, each with a thumbnail and "Watch here"."""

    type: Literal["videos"]
    title: str = ""
    items: list[Video] = Field(min_length=1, max_length=MAX_ITEMS)


class NewsItem(_Model):
    id: str
    outlet: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    url: Url


class NewsBlock(_Block):
    """Press mentions: outlet, summary, link."""

    type: Literal["news"]
    title: str = ""
    items: list[NewsItem] = Field(min_length=1, max_length=MAX_ITEMS)


class HeadingBlock(_Block):
    type: Literal["heading"]
    text: str = Field(min_length=1)


class TextBlock(_Block):
    type: Literal["text"]
    title: str = ""
    body: str = Field(min_length=1)


class ImageBlock(_Block):
    type: Literal["image"]
    image: Image
    url: Url | None = None


class ButtonBlock(_Block):
    type: Literal["button"]
    label: str = Field(min_length=1)
    url: Url


class DividerBlock(_Block):
    type: Literal["divider"]


Block = Annotated[
    StoryBlock
    | HighlightsBlock
    | VideosBlock
    | NewsBlock
    | HeadingBlock
    | TextBlock
    | ImageBlock
    | ButtonBlock
    | DividerBlock
    | LetterBlock
    | GalleryBlock
    | EventBlock,
    Tag("type"),
]
BLOCK_TYPES: dict[str, type[Strict]] = {
    "story": StoryBlock,
    "highlights": HighlightsBlock,
    "videos": VideosBlock,
    "news": NewsBlock,
    "heading": HeadingBlock,
    "text": TextBlock,
    "image": ImageBlock,
    "button": ButtonBlock,
    "divider": DividerBlock,
    "letter": LetterBlock,
    "gallery": GalleryBlock,
    "event": EventBlock,
}
ITEM_MODELS: dict[str, type[_Model]] = {
    "highlights": Card,
    "videos": Video,
    "news": NewsItem,
    "gallery": GalleryItem,
}


class MergeRef(_Model):
    """A merge field found in the issue's text: ``token`` stands for subscriber ``field``."""

    token: str
    field: str
    fallback: str = ""


class Issue(_Model):
    """One newsletter issue, validated."""

    slug: str
    language: str
    subject: str = Field(min_length=1, max_length=200)
    preheader: str = ""
    title: str | None = None
    period: Period | None = None
    blocks: list[Block] = Field(min_length=1, max_length=MAX_BLOCKS)
    path: Path
    merge_fields: list[MergeRef] = Field(default_factory=list)


#: where each model sits in an issue file, for error paths and did-you-mean
_SCHEMA = Schema(
    root=Issue,
    blocks=BLOCK_TYPES,
    items=ITEM_MODELS,
    nested={
        "image": Image,
        "thumbnail": Image,
        "quote": Quote,
        "period": Period,
        "signature": Signature,
        "button": Button,
    },
    hidden=frozenset({"path", "merge_fields"}),
)


@functools.lru_cache(maxsize=16)
def issue_model(theme: tuple[Declaration, ...]) -> tuple[type[Issue], Schema]:
    """The Issue model and Schema that also accept the theme's declared block types."""
    if not theme:
        return Issue, _SCHEMA
    models = {d.type: block_model(d) for d in theme}
    images = {f.name: Image for d in theme for f in d.fields if f.kind == "image"}
    union = Annotated[  # type: ignore[valid-type]
        Union[(*BLOCK_TYPES.values(), *models.values())],
        Tag("type"),
    ]
    themed = make_model(
        "ThemedIssue",
        Issue,
        {"blocks": (list[union], Field(min_length=1, max_length=MAX_BLOCKS))},  # type: ignore[valid-type]
    )
    schema = Schema(
        root=themed,
        blocks={**BLOCK_TYPES, **models},
        items=ITEM_MODELS,
        nested={**images, **_SCHEMA.nested},
        hidden=_SCHEMA.hidden,
    )
    return themed, schema


def project_block_dirs(issue_path: Path) -> tuple[Path, ...]:
    """Where an issue's theme blocks are declared when the caller names no folders: the
    ``templates/`` of the nearest folder above the issue holding a ``mailer.toml``."""
    for folder in issue_path.resolve().parents:
        if (folder / "mailer.toml").is_file():
            return (folder / "templates",) if (folder / "templates").is_dir() else ()
    return ()


# -- ids and merge fields --------------------------------------------------------------------
_MERGE_RE = re.compile(
    r"\{\{\s*subscriber\.([a-z_][a-z0-9_]*)\s*"
    r"(?:\|\s*default\(\s*(?:\"([^\"]*)\"|'([^']*)')\s*\)\s*)?\}\}"
)
_NOT_TEXT = frozenset({"url", "src", "video", "id", "type", "slug", "language"})


class MergeCollector:
    """Collects merge fields: one token per (field, fallback)."""

    def __init__(self) -> None:
        self.refs: dict[tuple[str, str], MergeRef] = {}

    def token(self, field: str, fallback: str) -> str:
        key = (field, fallback)
        if key not in self.refs:
            n = sum(1 for f, _ in self.refs if f == field)
            token = f"%%{field}%%" if n == 0 else f"%%{field}:{n + 1}%%"
            self.refs[key] = MergeRef(token=token, field=field, fallback=fallback)
        return self.refs[key].token

    def replace(self, text: str) -> str:
        if "{{" not in text:
            return text
        return _MERGE_RE.sub(lambda m: self.token(m[1], m[2] or m[3] or ""), text)


def _tokenize(value: Any, collector: MergeCollector, key: str = "") -> Any:
    if isinstance(value, str):
        return value if key in _NOT_TEXT else collector.replace(value)
    if isinstance(value, dict):
        return {k: _tokenize(v, collector, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_tokenize(v, collector, key) for v in value]
    return value


# -- the entry point -------------------------------------------------------------------------
def load_issue(
    path: str | Path,
    *,
    lang: str | None = None,
    default_language: str = "en",
    block_dirs: Sequence[str | Path] | None = None,
) -> Issue:
    """Read, check and validate the issue file at *path*.

    Block types declared in ``blocks/<type>.yaml`` of *block_dirs* (the render's template
    folders; default: :func:`project_block_dirs`) are accepted and validated too.

    With *lang*, the sibling translation ``<stem>.<lang>.yaml`` is applied (see
    :func:`mailer.translations.overlay`) and the issue's ``language`` becomes *lang*.
    Raises :class:`IssueError` with file:line:column, field path and a fix.
    """
    path = Path(path)
    text = read_text(path)
    data, marks = compose(path, text)
    assign_ids(data)
    check_image_paths(path, data, marks)
    brings = Brings(fields=False, images=False)  # what a translation's values bring
    if lang:
        data, brings = overlay_fields(data, path, lang)
    collector = MergeCollector()
    if brings.fields or "{{" in text:
        data = _tokenize(data, collector)
    data.setdefault("slug", path.stem)
    data.setdefault("language", default_language)
    if lang:
        data["language"] = lang
    values = {**data, "path": path, "merge_fields": list(collector.refs.values())}
    dirs = project_block_dirs(path) if block_dirs is None else block_dirs
    model, schema = issue_model(find_theme_blocks(dirs, BLOCK_TYPES))
    try:
        issue: Issue = model.model_validate(values)
    except ValidationError as exc:
        raise validation_error(path, data, marks, exc, schema) from None
    if lang and brings.images:  # an image the translation sets: named in the translation file
        check_image_paths(path, data, {}, source=translation_path(path, lang))
    return issue


def issue_slug(issue_path: str | Path) -> str:
    """The issue's slug: the file's ``slug`` (default: the file name without extension).

    A missing file gives the file name (rendering it reports the missing file)."""
    path = Path(issue_path)
    if not path.exists():
        return path.stem
    return load_issue(path).slug or path.stem
