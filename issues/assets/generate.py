"""Regenerate the sample issue's placeholder pictures (run once; the results are committed).

The seed newsletter's photos are not available, so each picture is a small drawn
scene in IOM's colours: a sky-to-ground gradient, a few shapes and a label band.
Usage: python issues/assets/generate.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).parent
PICTURES = {
    # name: (width, height, top colour, bottom colour)
    "gaziantep.jpg": (600, 320, (91, 125, 177), (233, 196, 106)),
    "art-exhibition.jpg": (600, 300, (244, 162, 97), (42, 157, 143)),
    "migrants-day.jpg": (600, 300, (38, 70, 83), (231, 111, 81)),
    "delbaz.jpg": (600, 300, (131, 56, 236), (255, 190, 11)),
    "card-directors.jpg": (276, 150, (0, 51, 160), (142, 202, 230)),
    "card-consultation.jpg": (276, 150, (33, 158, 188), (2, 48, 71)),
    "card-sea.jpg": (276, 150, (0, 119, 182), (144, 224, 239)),
    "card-womens-day.jpg": (276, 150, (181, 23, 158), (247, 37, 133)),
    "card-border.jpg": (276, 150, (96, 108, 56), (221, 161, 94)),
    "card-shelter.jpg": (276, 150, (188, 108, 37), (254, 250, 224)),
    "card-outreach.jpg": (276, 150, (42, 157, 143), (233, 196, 106)),
    "card-integration.jpg": (276, 150, (69, 123, 157), (241, 250, 238)),
    "card-rights.jpg": (276, 150, (29, 53, 87), (168, 218, 220)),
    "video-art.jpg": (276, 155, (244, 162, 97), (38, 70, 83)),
    "video-sea.jpg": (276, 155, (0, 119, 182), (202, 240, 248)),
    "video-festival.jpg": (276, 155, (20, 33, 61), (252, 163, 17)),
    "video-school.jpg": (276, 155, (255, 183, 3), (33, 158, 188)),
    "video-appeal.jpg": (276, 155, (230, 57, 70), (29, 53, 87)),
    "video-mothers-day.jpg": (276, 155, (255, 175, 204), (162, 210, 255)),
}


def picture(width: int, height: int, top: tuple[int, ...], bottom: tuple[int, ...]) -> Image.Image:
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        t = y / max(1, height - 1)
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    hill = [
        (0, height),
        (width // 3, int(height * 0.6)),
        (width * 2 // 3, int(height * 0.72)),
        (width, int(height * 0.55)),
        (width, height),
    ]
    draw.polygon(hill, fill=tuple(max(0, c - 40) for c in bottom))
    r = height // 8
    draw.ellipse([width - 3 * r, r, width - r, 3 * r], fill=(255, 244, 214))
    return img


def logo() -> Image.Image:
    img = Image.new("RGB", (360, 96), (0, 51, 160))
    draw = ImageDraw.Draw(img)
    draw.ellipse([16, 12, 88, 84], outline=(255, 255, 255), width=6)
    draw.rectangle([110, 30, 340, 44], fill=(255, 255, 255))
    draw.rectangle([110, 54, 280, 66], fill=(255, 255, 255))
    return img


def main() -> None:
    for name, (w, h, top, bottom) in PICTURES.items():
        picture(w, h, top, bottom).save(HERE / name, quality=72, optimize=True)
    logo().save(HERE / "iom-logo.png", optimize=True)


if __name__ == "__main__":
    main()
