"""Draw the theme's follow/share icons: src/mailer/skeleton/templates/icons/icon-<network>.png.

Each icon is a 48×48 PNG (shown at 24 px, sharp on 2x screens): a rounded square in the
network's colour with its initial in white. Made from scratch with Pillow, no copied logos.
Run again after changing NETWORKS: `.venv/bin/python tools/make_theme_icons.py`.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent.parent / "src" / "mailer" / "skeleton" / "templates" / "icons"
SIZE = 48
#: network → (colour, initial)
NETWORKS = {
    "facebook": ("#1877F2", "f"),
    "x": ("#000000", "X"),
    "linkedin": ("#0A66C2", "in"),
    "instagram": ("#C13584", "IG"),
    "youtube": ("#FF0000", "YT"),
    "medium": ("#000000", "M"),
    "website": ("#4A5560", "www"),
    "whatsapp": ("#25D366", "W"),
    "email": ("#5F6B76", "@"),
}


def draw(colour: str, initial: str) -> Image.Image:
    """One icon: the rounded square and the centred initial."""
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    pen.rounded_rectangle((0, 0, SIZE - 1, SIZE - 1), radius=10, fill=colour)
    size = {1: 30, 2: 22}.get(len(initial), 16)
    font = ImageFont.load_default(size=size)
    pen.text((SIZE / 2, SIZE / 2), initial, fill="#FFFFFF", font=font, anchor="mm")
    return image


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (colour, initial) in NETWORKS.items():
        draw(colour, initial).save(OUT / f"icon-{name}.png", optimize=True)
        print(OUT / f"icon-{name}.png")


if __name__ == "__main__":
    main()
