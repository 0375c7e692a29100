"""The theme's follow and share icons (``templates/icons/icon-<network>.png``).

:func:`theme_icon` gives templates ``icon(label)``: the image URL of a network's icon
(``Facebook``, ``X (Twitter)``, ``WhatsApp``...), found in the first templates folder
that has it (a user's own folder first, then mailer's theme) and registered as an asset
through the render stage's ``img`` helper, so ``mailer build`` copies it and a send
points at ``assets_url``; ``""`` when no folder has one. The icons are drawn by
``tools/make_theme_icons.py``.

Each folder's ``icons/`` is listed at most once per :func:`theme_icon` (once per render,
when an icon is first looked for there), not looked at per label: a preview's next
render sees an icon added or removed meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def network_key(label: str) -> str:
    """``"X (Twitter)"`` → ``"x"``, ``"LinkedIn"`` → ``"linkedin"``."""
    return label.split(" ", 1)[0].lower()


def icon_files(folder: str) -> frozenset[str]:
    """The names of the files (or symlinks to files) in *folder*'s ``icons/``; empty when
    it has none."""
    try:
        with os.scandir(os.path.join(folder, "icons")) as entries:
            return frozenset(entry.name for entry in entries if _is_file(entry))
    except OSError:
        return frozenset()


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()  # follows a symlink, as Path.is_file does
    except OSError:
        return False


def theme_icon(img: Callable[[str, Path], str], dirs: tuple[str, ...]) -> Callable[[str], str]:
    """``icon(label)`` for templates: the URL of the network's icon, or ``""``."""
    folders = [(folder, Path(folder)) for folder in dirs]
    listed: dict[str, frozenset[str]] = {}

    def icon(label: str) -> str:
        file = f"icon-{network_key(label)}.png"
        for folder, path in folders:
            files = listed.get(folder)
            if files is None:  # a folder is listed when an icon is first looked for there
                files = listed[folder] = icon_files(folder)
            if file in files:
                return img(f"icons/{file}", path)
        return ""

    return icon
