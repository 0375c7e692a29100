"""Photos made for email: resized, recompressed, EXIF stripped; the originals untouched.

``mailer build`` writes every local image of an issue through :func:`write_assets`:
a JPEG, PNG or WebP is resized to at most twice the width it is shown at in the HTML
(:func:`display_widths`: ≤ 1200 px for a 600 px hero, ≤ 600 px for a 300 px card),
turned upright by its EXIF orientation and saved again without any metadata (EXIF, GPS
positions, XMP, comments): JPEG at quality 82, progressive; PNG optimised. Other files
(GIF, SVG) are copied as they are. The source file is only ever read. An image already
made from the same source (same mtime and size) for the same width is not made again: the
manifest ``.mailer-images.json`` beside the output records what each file was made from.
:func:`email_copy` is the same treatment for one file (the send path's stored assets).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

from ..errors import RenderError
from .images import resolved

log = logging.getLogger(__name__)

#: JPEG quality of the email copy (visually lossless for photos, a fraction of a camera's size)
JPEG_QUALITY = 82
#: images are made at most this many times their display width (sharp on 2x screens)
DENSITY = 2
#: the width an image not found in the HTML is capped at (a 600 px hero at 2x)
DEFAULT_DISPLAY_WIDTH = 600
#: what ``mailer check`` calls heavy, after processing
HEAVY_BYTES = 200 * 1024
MANIFEST = ".mailer-images.json"
PROCESSED = frozenset({".jpg", ".jpeg", ".png", ".webp"})
_IMG = re.compile(r"<img\b[^>]*>", re.I)
_ATTR = re.compile(r'\b(src|width)="([^"]*)"', re.I)


def output_name(relative: str) -> str:
    """The name under the build output of an image written as *relative* in an issue
    (``assets/x.jpg`` → ``assets/x.jpg``, ``pics/y.png`` → ``assets/y.png``), as the render
    stage names it."""
    rel = relative.removeprefix("./")
    rel = rel.split("assets/", 1)[1] if "assets/" in rel else Path(rel).name
    return f"assets/{rel}"


def display_widths(html: str) -> dict[str, int]:
    """``src`` → the widest ``width`` any ``<img>`` of *html* shows it at, in CSS pixels."""
    widths: dict[str, int] = {}
    for tag in _IMG.findall(html):
        attrs = {k.lower(): v for k, v in _ATTR.findall(tag)}
        width = attrs.get("width", "")
        if attrs.get("src") and width.isdigit():
            widths[attrs["src"]] = max(widths.get(attrs["src"], 0), int(width))
    return widths


def email_copy(source: Path, dest: Path, display_width: int | None = None) -> None:
    """Write *source* to *dest* made for email (see the module doc); *source* is only read."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source.suffix.lower() not in PROCESSED:
        _copy(source, dest)
        return
    from PIL import Image, ImageOps, UnidentifiedImageError

    limit = DENSITY * (display_width or DEFAULT_DISPLAY_WIDTH)
    try:
        with Image.open(source) as opened:
            kind = opened.format
            image = ImageOps.exif_transpose(opened)
            if image.width > limit:
                height = max(1, round(image.height * limit / image.width))
                image = image.resize((limit, height), Image.Resampling.LANCZOS)
            icc = opened.info.get("icc_profile")
            options: dict[str, object] = {"icc_profile": icc} if icc else {}
            if kind == "JPEG":
                if image.mode not in ("RGB", "L"):
                    image = image.convert("RGB")
                image.save(
                    dest,
                    "JPEG",
                    quality=JPEG_QUALITY,
                    progressive=True,
                    optimize=True,
                    **options,
                )
            elif kind == "PNG":
                image.save(dest, "PNG", optimize=True, **options)
            elif kind == "WEBP":
                image.save(dest, "WEBP", quality=JPEG_QUALITY, **options)
            else:  # a .jpg that is really a GIF, say: rewritten in its own format, no metadata
                image.save(dest, kind)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise RenderError(
            f"the image {source} cannot be read as a picture: {exc}",
            hint="open and save it again in an image editor, or replace the file.",
            location=str(source),
        ) from None


def _copy(source: Path, dest: Path) -> None:
    try:
        shutil.copyfile(source, dest)
    except OSError as exc:
        raise RenderError(
            f"the image {source} cannot be copied: {exc.strerror}",
            hint="check the image path in the issue (relative to the issue file).",
            location=str(source),
        ) from None


def _stamp(source: Path, width: int | None) -> dict[str, object]:
    try:
        st = source.stat()
    except OSError as exc:
        raise RenderError(
            f"the image {source} cannot be read: {exc.strerror}",
            hint="check the image path in the issue (relative to the issue file).",
            location=str(source),
        ) from None
    return {"source": resolved(source), "mtime_ns": st.st_mtime_ns, "size": st.st_size,
            "width": width}  # fmt: skip


def write_assets(assets: dict[str, Path], widths: dict[str, int], target: Path) -> list[Path]:
    """Write each ``output name → source`` of *assets* under *target* made for email, at
    twice its width in *widths* (keyed by output name); unchanged ones are left as made."""
    manifest_path = target / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            manifest = {}
    except (OSError, ValueError):
        manifest = {}
    written = []
    changed = False
    for name, source in sorted(assets.items()):
        dest = target / name
        stamp = _stamp(source, widths.get(name))
        if manifest.get(name) == stamp and dest.is_file():
            log.debug("image %s unchanged since it was made", name)
        else:
            email_copy(source, dest, widths.get(name))
            manifest[name] = stamp
            changed = True
        written.append(dest)
    if changed:  # else the manifest on disk already says all this
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    return written
