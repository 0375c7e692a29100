"""Regenerate the food bank sample's placeholder pictures (run once; results are committed).

Same drawn scenes as generate.py (a gradient, a hill, a sun) in a food bank's greens and
oranges, plus a square portrait for the director's signature.
Usage: python issues/assets/generate_foodbank.py
"""

from __future__ import annotations

from pathlib import Path

from generate import picture
from PIL import Image, ImageDraw

HERE = Path(__file__).parent
PICTURES = {
    "fb-hero.jpg": (600, 300, (46, 125, 50), (255, 193, 7)),
    "fb-gallery-sorting.jpg": (276, 184, (255, 143, 0), (255, 236, 179)),
    "fb-gallery-van.jpg": (276, 184, (27, 94, 32), (200, 230, 201)),
    "fb-gallery-garden.jpg": (276, 184, (104, 159, 56), (241, 248, 233)),
    "fb-gallery-kitchen.jpg": (276, 184, (191, 54, 12), (255, 224, 178)),
    "fb-story-kenya.jpg": (600, 280, (230, 81, 0), (255, 213, 79)),
    "fb-story-peru.jpg": (600, 280, (0, 105, 92), (178, 223, 219)),
}


def portrait() -> Image.Image:
    img = Image.new("RGB", (112, 112), (200, 230, 201))
    draw = ImageDraw.Draw(img)
    draw.ellipse([36, 18, 76, 58], fill=(121, 85, 72))
    draw.ellipse([16, 62, 96, 140], fill=(46, 125, 50))
    return img


def main() -> None:
    for name, (w, h, top, bottom) in PICTURES.items():
        picture(w, h, top, bottom).save(HERE / name, quality=72, optimize=True)
    portrait().save(HERE / "fb-director.jpg", quality=80, optimize=True)


if __name__ == "__main__":
    main()
