"""WCAG 2.x contrast of the brand's colours, as the theme pairs them (``mailer check``).

:func:`ratio` is the contrast ratio of two colours (WCAG 2.x relative luminance);
:func:`theme_pairs` lists every text/background pair the shipped theme draws with the
``[brand]`` colours (body text, muted text, links, masthead, buttons, footer) and
:func:`contrast_findings` reports each pair under 4.5:1 (3:1 for large text) with the
numbers and :func:`suggest`'s colour: the nearest colour of the same hue and saturation,
only lighter or darker, that passes. The dark-mode palette is fixed in the theme
(``base.mjml.j2``) and checked by the tests, not here.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

from ..config import Brand, Config
from .findings import Finding, config_line

#: WCAG 2.x AA: normal text, and large text (at least 24 px, or 18.66 px bold)
AA_NORMAL = 4.5
AA_LARGE = 3.0


def parse(color: str) -> tuple[float, float, float]:
    """``#RGB`` or ``#RRGGBB`` as three channels in 0..1."""
    value = color.strip().lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    if len(value) != 6:
        raise ValueError(f"not a #RRGGBB colour: {color!r}")
    r, g, b = (int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return r, g, b


def to_hex(rgb: tuple[float, float, float]) -> str:
    """Three channels in 0..1 as ``#RRGGBB``."""
    return "#" + "".join(f"{round(min(max(c, 0.0), 1.0) * 255):02X}" for c in rgb)


def luminance(color: str | tuple[float, float, float]) -> float:
    """WCAG 2.x relative luminance (0 black .. 1 white)."""
    rgb = parse(color) if isinstance(color, str) else color

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(foreground: str, background: str) -> float:
    """The WCAG contrast ratio of two colours, 1.0 .. 21.0."""
    a, b = luminance(foreground), luminance(background)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def suggest(foreground: str, background: str, target: float = AA_NORMAL) -> str | None:
    """The colour nearest *foreground* in lightness (same hue and saturation) whose contrast
    with *background* is at least *target*; None when neither lighter nor darker reaches it."""
    h, lightness, s = colorsys.rgb_to_hls(*parse(foreground))

    def at(level: float) -> str:
        return to_hex(colorsys.hls_to_rgb(h, level, s))

    candidates: list[tuple[float, str]] = []
    for end in (0.0, 1.0):  # darker, lighter: luminance is monotonic in HLS lightness
        if ratio(at(end), background) < target:
            continue
        near, far = lightness, end  # ratio(near) < target <= ratio(far)
        for _ in range(40):
            mid = (near + far) / 2
            if ratio(at(mid), background) >= target:
                far = mid
            else:
                near = mid
        found = at(far)
        step = 1 / 255 if end else -1 / 255
        level = far
        while ratio(found, background) < target and 0.0 <= level <= 1.0:  # hex rounding
            level += step
            found = at(level)
        candidates.append((abs(far - lightness), found))
    return min(candidates)[1] if candidates else None


@dataclass(frozen=True)
class Pair:
    """One text/background pair the theme draws: where, which keys, whether large text."""

    what: str
    text_key: str
    text: str
    background_key: str
    background: str
    large: bool = False

    @property
    def target(self) -> float:
        return AA_LARGE if self.large else AA_NORMAL


def theme_pairs(brand: Brand) -> list[Pair]:
    """Every text/background pair of the shipped theme with *brand*'s colours."""
    link_key = "link_color" if brand.link_color else "accent_color"
    button_key = "button_color" if brand.button_color else "primary_color"
    button_text_key = "button_text_color" if brand.button_text_color else "on_primary_color"
    content, page = brand.content_background, brand.background_color
    return [
        Pair("body text", "text_color", brand.text_color, "content_background", content),
        Pair(
            "muted text (captions)", "muted_color", brand.muted_color, "content_background", content
        ),
        Pair("links", link_key, brand.links, "content_background", content),
        # the period line (15 px) needs 4.5:1; the title (26 px bold) is large text
        Pair(
            "masthead text",
            "on_primary_color",
            brand.on_primary_color,
            "primary_color",
            brand.primary_color,
        ),
        Pair(
            "masthead title",
            "on_primary_color",
            brand.on_primary_color,
            "primary_color",
            brand.primary_color,
            large=True,
        ),
        Pair("button text", button_text_key, brand.button_text, button_key, brand.button),
        Pair(
            "footer and preheader text", "muted_color", brand.muted_color, "background_color", page
        ),
        Pair("footer links", link_key, brand.links, "background_color", page),
    ]


def contrast_findings(config: Config) -> list[Finding]:
    """A warning for each pair of :func:`theme_pairs` under WCAG AA, at the text colour's line
    of mailer.toml, with the ratio and a suggested colour."""
    lines: list[str] = []
    if config.path is not None:
        try:
            lines = config.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            lines = []
    out: list[Finding] = []
    reported: set[tuple[str, str]] = set()
    for pair in theme_pairs(config.settings.brand):
        value = ratio(pair.text, pair.background)
        if value >= pair.target or (pair.text_key, pair.background_key) in reported:
            continue
        reported.add((pair.text_key, pair.background_key))
        hints = []
        if better := suggest(pair.text, pair.background, pair.target):
            shown = ratio(better, pair.background)
            hints.append(f'{pair.text_key} = "{better}" ({shown:.1f}:1)')
        if backing := suggest(pair.background, pair.text, pair.target):
            shown = ratio(pair.text, backing)
            hints.append(f'{pair.background_key} = "{backing}" ({shown:.1f}:1)')
        hint = f"; try {' or '.join(hints)}" if hints else ""
        line = config_line(lines, f"brand.{pair.text_key}", pair.text) if lines else None
        where = f"{config.path}:{line}" if line else str(config.path or "")
        out.append(
            Finding(
                "warning",
                "contrast",
                f"{pair.what}: {pair.text} on {pair.background} ({pair.text_key} on "
                f"{pair.background_key}) has a contrast of {value:.1f}:1, under WCAG AA's "
                f"{pair.target:g}:1{' for large text' if pair.large else ''}{hint}",
                where,
            )
        )
    return out
