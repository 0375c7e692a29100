"""The theme's follow and share icons (``templates/icons/icon-<network>.png``).

:func:`theme_icon` gives templates ``icon(label)``: the image URL of a network's icon
(``Facebook``, ``X (Twitter)``, ``WhatsApp``...), found in the first templates folder
that has it (a user's own folder first, then mailer's theme) and registered as an asset
through the render stage's ``img`` helper, so ``mailer build`` copies it and a send
points at ``assets_url``; ``""`` when no folder has one. The icons are drawn by
``tools/make_theme_icons.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def network_key(label: str) -> str:
    """``"X (Twitter)"`` → ``"x"``, ``"LinkedIn"`` → ``"linkedin"``."""
    return label.split(" ", 1)[0].lower()


def theme_icon(img: Callable[[str, Path], str], dirs: tuple[str, ...]) -> Callable[[str], str]:
    """``icon(label)`` for templates: the URL of the network's icon, or ``""``."""

    def icon(label: str) -> str:
        name = f"icons/icon-{network_key(label)}.png"
        for folder in dirs:
            if (Path(folder) / name).is_file():
                return img(name, Path(folder))
        return ""

    return icon
