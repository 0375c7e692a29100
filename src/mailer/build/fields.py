"""The field types an issue's models share: links, image paths, pictures, buttons.

:mod:`mailer.build.issue` (built-in blocks), :mod:`mailer.build.blocks` (the letter,
gallery and event blocks) and :mod:`mailer.build.theme_blocks` (blocks a theme declares)
build their models from these, so a link or a picture is checked the same way wherever
it appears.
"""

from __future__ import annotations

import re
from typing import Annotated

from ..validate import AfterValidator, Field, Model

_URL_RE = re.compile(r"^(https?://[^\s/?#]+\.[^\s/?#]+[^\s]*|mailto:[^\s@]+@[^\s@]+)$")


def check_url(value: str) -> str:
    """*value* if it is an absolute https:// (or mailto:) link; ValueError with an example."""
    value = value.strip()
    if not _URL_RE.match(value):
        raise ValueError(
            "expected an absolute link starting with https:// (or mailto:), "
            f"e.g. https://example.org/story; got {value!r}"
        )
    return value


def check_src(value: str) -> str:
    """*value* if it is an image path inside the issue's folder or an https:// URL."""
    value = value.strip()
    if value.startswith(("https://", "http://")):
        return check_url(value)
    if not value or value.startswith(("/", "javascript:", "data:")) or ".." in value.split("/"):
        raise ValueError(
            "expected an image path relative to the issue (e.g. assets/hero.jpg) "
            f"or an https:// URL; got {value!r}"
        )
    return value


Url = Annotated[str, AfterValidator(check_url)]
Src = Annotated[str, AfterValidator(check_src)]


class Strict(Model):
    """A model of an issue file: unknown keys refused, texts stripped, values frozen.

    Its checks are made when it first validates, not when the class is defined (issue 15)."""

    model_strip = True
    model_frozen = True


class Image(Strict):
    """A picture: ``src`` relative to the issue file (or https), ``alt`` always:
    ``alt: ""`` marks a decorative image (screen readers skip it). ``caption`` and
    ``credit`` are shown under the picture wherever a picture is shown."""

    src: Src
    alt: str
    width: int | None = Field(default=None, ge=16, le=600)
    caption: str = ""
    credit: str = ""


class Button(Strict):
    """A call to action: its words and where it leads."""

    label: str = Field(min_length=1)
    url: Url
