"""Block and item ids: derived from titles, unique within an issue.

``load_issue`` (issue.py) and the translation overlay (translations.py) both call
:func:`assign_ids`, so a translation file names blocks by the same ids as the issue.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any


def slugify(text: str, fallback: str = "block") -> str:
    """A short ASCII id from *text*: "Why Gaziantep Matters" → "why-gaziantep-matters"."""
    norm = unicodedata.normalize("NFKD", text.replace("ı", "i").replace("İ", "I"))
    ascii_text = norm.encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", ascii_text)
    slug = "-".join(words)[:48].strip("-")
    return slug or fallback


def assign_ids(data: dict[str, Any]) -> None:
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
            items = block.get("items")
            for item in items if isinstance(items, list) else []:
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
