"""Load and validate an issue file (YAML with Markdown in text fields).

An issue file is written by hand, so every error names the file, line and
column, the field path (``blocks[2] (story 'gaziantep').image.alt``), what was
expected and, for a misspelled key, the closest known one. The YAML is composed
into nodes first so each value keeps its position; the plain data is then
validated by the pydantic models below.

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
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from .errors import IssueError

# -- field types -----------------------------------------------------------------------------
_URL_RE = re.compile(r"^(https?://[^\s/?#]+\.[^\s/?#]+[^\s]*|mailto:[^\s@]+@[^\s@]+)$")


def _check_url(value: str) -> str:
    value = value.strip()
    if not _URL_RE.match(value):
        raise ValueError(
            "expected an absolute link starting with https:// (or mailto:), "
            f"e.g. https://example.org/story; got {value!r}"
        )
    return value


def _check_src(value: str) -> str:
    value = value.strip()
    if value.startswith(("https://", "http://")):
        return _check_url(value)
    if not value or value.startswith(("/", "javascript:", "data:")) or ".." in value.split("/"):
        raise ValueError(
            "expected an image path relative to the issue (e.g. assets/hero.jpg) "
            f"or an https:// URL; got {value!r}"
        )
    return value


Url = Annotated[str, AfterValidator(_check_url)]
Src = Annotated[str, AfterValidator(_check_src)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Image(_Model):
    """A picture: ``src`` relative to the issue file (or https), ``alt`` always."""

    src: Src
    alt: str = Field(min_length=1)
    width: int | None = Field(default=None, ge=16, le=600)
    caption: str = ""
    credit: str = ""


class Quote(_Model):
    text: str = Field(min_length=1)
    attribution: str = ""


class Period(_Model):
    start: date
    end: date


class _Block(_Model):
    id: str


class StoryBlock(_Block):
    """A story: title, optional photo, Markdown body, Read more / Watch here / Share on."""

    type: Literal["story"]
    title: str = Field(min_length=1)
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
    items: list[Card] = Field(min_length=1)


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
    items: list[Video] = Field(min_length=1)


class NewsItem(_Model):
    id: str
    outlet: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    url: Url


class NewsBlock(_Block):
    """Press mentions: outlet, summary, link."""

    type: Literal["news"]
    title: str = ""
    items: list[NewsItem] = Field(min_length=1)


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
    | DividerBlock,
    Field(discriminator="type"),
]
BLOCK_TYPES: dict[str, type[_Block]] = {
    "story": StoryBlock,
    "highlights": HighlightsBlock,
    "videos": VideosBlock,
    "news": NewsBlock,
    "heading": HeadingBlock,
    "text": TextBlock,
    "image": ImageBlock,
    "button": ButtonBlock,
    "divider": DividerBlock,
}
ITEM_MODELS: dict[str, type[_Model]] = {"highlights": Card, "videos": Video, "news": NewsItem}


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
    blocks: list[Block] = Field(min_length=1)
    path: Path
    merge_fields: list[MergeRef] = Field(default_factory=list)

    def all_blocks(self) -> list[Any]:
        return list(self.blocks)


# -- YAML with positions ---------------------------------------------------------------------
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Marks = dict[tuple[Any, ...], tuple[int, int]]
_STR_TAG = "tag:yaml.org,2002:str"
#: marks of a mapping key are stored under (*path, key, KEY)
KEY = "<key>"


class _Builder:
    """Turns a node tree into plain data, remembering each value's (line, column)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.marks: Marks = {}
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, where: tuple[Any, ...] = ()) -> Any:
        self.marks[where] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self._constructor.construct_object(key_node)
                if not isinstance(key, str | int | float | bool) or isinstance(key, bool):
                    key = str(key)
                key = str(key)
                if key in out:
                    line = key_node.start_mark.line + 1
                    raise IssueError(
                        f"the key {key!r} appears twice in the same mapping",
                        location=f"{self.path}:{line}:{key_node.start_mark.column + 1}",
                        hint="keep one of them; YAML keys must be unique.",
                    )
                km = key_node.start_mark
                self.marks[(*where, key, KEY)] = (km.line + 1, km.column + 1)
                out[key] = self.build(value_node, (*where, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*where, i)) for i, item in enumerate(node.value)]
        if node.tag == _STR_TAG:
            return node.value  # most scalars: no constructor needed
        try:
            return self._constructor.construct_object(node)
        except ValueError as exc:
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
            raise IssueError(
                f"{node.value!r} is not a valid value here: {exc}",
                location=f"{self.path}:{line}:{col}",
                hint="write dates as YYYY-MM-DD with a real day (e.g. 2018-03-31); quote texts "
                "that look like dates or numbers.",
            ) from None


def _read(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IssueError(
            f"cannot read the issue file: {exc.strerror}",
            location=str(path),
            hint="check the path; issue files live in issues/ (e.g. issues/2018-03.yaml).",
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise IssueError(
            f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            location=f"{path}:{line}",
            hint="save the file as UTF-8 (most editors: File → Save with encoding → UTF-8).",
        ) from None
    if not text.strip():
        raise IssueError(
            "the issue file is empty",
            location=f"{path}:1",
            hint="start with `subject: ...` and a `blocks:` list; `mailer init` writes an example.",
        )
    return text.removeprefix("\ufeff")


def _compose(path: Path, text: str) -> tuple[dict[str, Any], Marks]:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        context = ""
        if exc.context and exc.context_mark:
            c = exc.context_mark
            context = f" ({exc.context} that starts at line {c.line + 1}, column {c.column + 1})"
        raise IssueError(
            f"not valid YAML: {exc.problem or exc.context}{context}",
            location=where,
            hint="check the indentation and put quotes around texts that contain ': ' or start "
            "with a quote, '*', '&', '[' or '{'.",
        ) from None
    except yaml.YAMLError as exc:
        raise IssueError(f"not valid YAML: {exc}", location=str(path)) from None
    if not isinstance(node, yaml.MappingNode):
        line = node.start_mark.line + 1 if node is not None else 1
        raise IssueError(
            "an issue file holds a mapping of fields, not a single value or a list",
            location=f"{path}:{line}",
            hint="start with `subject: ...` and a `blocks:` list.",
        )
    builder = _Builder(path)
    try:
        data = builder.build(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise IssueError(f"not valid YAML: {exc.problem}", location=where) from None
    return data, builder.marks


# -- ids and merge fields --------------------------------------------------------------------
def slugify(text: str, fallback: str = "block") -> str:
    """A short ASCII id from *text*: "Why Gaziantep Matters" → "why-gaziantep-matters"."""
    norm = unicodedata.normalize("NFKD", text.replace("ı", "i").replace("İ", "I"))
    ascii_text = norm.encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", ascii_text)
    slug = "-".join(words)[:48].strip("-")
    return slug or fallback


def _assign_ids(data: dict[str, Any]) -> None:
    """Give every block and item without an ``id`` one derived from its title; ids unique."""
    seen: set[str] = set()

    def claim(mapping: dict[str, Any], label: Any, fallback: str) -> None:
        given = mapping.get("id")
        if given is not None:
            mapping["id"] = str(given)
            seen.add(str(given))
            return
        base = slugify(str(label or ""), fallback)
        ident, n = base, 2
        while ident in seen:
            ident, n = f"{base}-{n}", n + 1
        seen.add(ident)
        mapping["id"] = ident

    blocks = data.get("blocks")
    if not isinstance(blocks, list):
        return
    # explicit ids first, so derived ones never take them
    for block in blocks:
        if isinstance(block, dict) and block.get("id") is not None:
            seen.add(str(block["id"]))
            for item in block.get("items") or []:
                if isinstance(item, dict) and item.get("id") is not None:
                    seen.add(str(item["id"]))
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue
        label = block.get("title") or block.get("text") or block.get("label")
        claim(block, label, f"{block.get('type', 'block')}-{i + 1}")
        items = block.get("items")
        if isinstance(items, list):
            for j, item in enumerate(items):
                if isinstance(item, dict):
                    label = item.get("title") or item.get("outlet") or item.get("summary")
                    claim(item, label, f"{block['id']}-{j + 1}")


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


# -- validation errors -----------------------------------------------------------------------
def _describe_path(data: Any, loc: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """The readable field path of *loc* and the part of it that exists in *data*."""
    parts: list[str] = []
    found: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            found.append(part)
            parts.append(f".{part}" if parts else str(part))
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            found.append(part)
            label = ""
            if isinstance(node, dict) and "type" in node:
                label = f" ({node['type']} {node.get('id')!r})"
            parts.append(f"[{part}]{label}")
        elif isinstance(part, str) and isinstance(node, dict) and part in BLOCK_TYPES:
            continue  # the discriminator's tag in pydantic's location
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts) or "(top level)", tuple(found)


def _known_keys(data: Any, found: tuple[Any, ...]) -> list[str]:
    """Field names allowed in the mapping at *found* (for did-you-mean)."""
    node: Any = data
    model: Any = Issue
    block_type = ""
    for part in found:
        node = node[part] if isinstance(node, dict | list) else None
        if isinstance(part, int):
            if model is Issue:
                block_type = str(node.get("type")) if isinstance(node, dict) else ""
                model = BLOCK_TYPES.get(block_type)
            elif model == "items":
                model = ITEM_MODELS.get(block_type)
            continue
        if model is None:
            return []
        if part == "blocks":
            model = Issue
        elif part == "items":
            model = "items"
        else:
            model = {"image": Image, "thumbnail": Image, "quote": Quote, "period": Period}.get(part)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return [k for k in model.model_fields if k not in {"path", "merge_fields"}]


def _validation_error(
    path: Path, data: dict[str, Any], marks: Marks, exc: ValidationError
) -> IssueError:
    # a misspelled key shows up twice (unknown key + missing field): name the spelling first
    def order(error: Any) -> tuple[bool, tuple[int, int]]:
        found = _describe_path(data, tuple(error["loc"]))[1]
        return error["type"] != "extra_forbidden", marks.get(found, (0, 0))

    errors = sorted(exc.errors(), key=order)
    first = errors[0]
    loc = tuple(first["loc"])
    where, found = _describe_path(data, loc)
    kind = first["type"]
    line, col = marks.get(found, marks.get((), (1, 1)))
    if kind == "extra_forbidden":
        line, col = marks.get((*found, KEY), (line, col))
    hint = None
    if kind == "extra_forbidden":
        key = str(loc[-1])
        known = _known_keys(data, found[:-1])
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        message = f"{where}: unknown field {key!r}"
        if close:
            hint = f"did you mean {close[0]!r}?"
        elif known:
            hint = f"allowed here: {', '.join(known)}."
    elif kind == "missing":
        message = f"{where}: this required field is missing"
        hint = f"add `{loc[-1]}: ...` here."
    elif kind in {"union_tag_invalid", "union_tag_not_found"}:
        got = first.get("ctx", {}).get("tag", "")
        choices = sorted(BLOCK_TYPES)
        close = difflib.get_close_matches(str(got), choices, n=1)
        message = (
            f"{where}: unknown block type {got!r}" if got else f"{where}: a block needs a `type`"
        )
        hint = (
            f"did you mean {close[0]!r}? " if close else ""
        ) + f"block types: {', '.join(choices)}."
    else:
        msg = str(first["msg"]).removeprefix("Value error, ")
        got = first.get("input")
        shown = (
            f" (got {got!r})"
            if not isinstance(got, dict | list) and got is not None and "got" not in msg
            else ""
        )
        message = f"{where}: {msg}{shown}"
        hint = _hint_for(kind)
    more = len(errors) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''}; fix this one first)"
    return IssueError(message, hint=hint, location=f"{path}:{line}:{col}")


def _hint_for(kind: str) -> str | None:
    return {
        "string_type": "write a text; put it in quotes if it looks like a number or a date.",
        "bool_parsing": "write true or false.",
        "bool_type": "write true or false.",
        "int_parsing": "write a whole number, e.g. 600.",
        "date_from_datetime_parsing": "write a date as YYYY-MM-DD, e.g. 2018-03-31.",
        "date_parsing": "write a date as YYYY-MM-DD, e.g. 2018-03-31.",
        "list_type": "write a list: each entry on its own line starting with '- '.",
        "model_type": "write a mapping of fields (key: value lines, indented).",
        "model_attributes_type": "write a mapping of fields (key: value lines, indented).",
        "too_short": "add at least one entry.",
        "string_too_short": "write a text here; it cannot be empty.",
    }.get(kind)


# -- the entry point -------------------------------------------------------------------------
def load_issue(path: str | Path, *, lang: str | None = None, default_language: str = "en") -> Issue:
    """Read, check and validate the issue file at *path*.

    With *lang*, the sibling translation ``<stem>.<lang>.yaml`` is applied (see
    :func:`mailer.i18n.overlay`) and the issue's ``language`` becomes *lang*.
    Raises :class:`IssueError` with file:line:column, field path and a fix.
    """
    path = Path(path)
    text = _read(path)
    data, marks = _compose(path, text)
    _assign_ids(data)
    if lang:
        from .i18n import overlay

        data = overlay(data, path, lang)
    collector = MergeCollector()
    if lang or "{{" in text:  # a translation may bring merge fields of its own
        data = _tokenize(data, collector)
    data.setdefault("slug", path.stem)
    data.setdefault("language", default_language)
    if lang:
        data["language"] = lang
    values = {**data, "path": path, "merge_fields": list(collector.refs.values())}
    try:
        return Issue.model_validate(values)
    except ValidationError as exc:
        raise _validation_error(path, data, marks, exc) from None
