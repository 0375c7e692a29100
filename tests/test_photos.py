"""Photos made for email (issue #12 point 5): `mailer build` writes each photo resized to at
most twice its display width, recompressed, with EXIF (GPS) stripped; the originals untouched."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from mailer.cli import main

SAMPLE = "issues/2018-03-iom-turkey.yaml"
HERO = "issues/assets/gaziantep.jpg"  # shown 600 px wide in the sample
CARD = "issues/assets/card-sea.jpg"  # shown 276 px wide (a highlights card)


def camera_photo(path: Path, size: tuple[int, int] = (3000, 2000)) -> bytes:
    """Write a noisy JPEG of *size* with GPS coordinates and a camera model in its EXIF."""
    image = Image.effect_noise(size, 60).convert("RGB")
    exif = Image.Exif()
    exif[0x0110] = "Field Camera 9000"  # Model
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (37.0, 3.0, 59.0), 3: "E", 4: (37.0, 22.0, 58.0)})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, exif=exif)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_camera_photo_comes_out_small_without_exif_and_source_unchanged(project: Path) -> None:
    """A 3000×2000 JPEG with GPS EXIF used as a 600 px hero comes out ≤ 1200 px wide, with no
    EXIF at all, progressive, smaller; a 276 px card ≤ 552 px; the source bytes unchanged."""
    original = camera_photo(project / HERO)
    camera_photo(project / CARD, (2400, 1600))
    before = (digest(project / HERO), digest(project / CARD))
    with Image.open(project / HERO) as check:
        assert check.getexif().get_ifd(0x8825)  # the fixture does carry GPS
    result = CliRunner().invoke(main, ["build", SAMPLE, "-o", "out", "--lang", "en"])
    assert result.exit_code == 0, result.output
    out = project / "out" / "assets"
    with Image.open(out / "gaziantep.jpg") as hero:
        assert hero.width <= 1200 and hero.width == 1200
        assert hero.height == 800
        assert hero.format == "JPEG"
        assert hero.info.get("progressive") or hero.info.get("progression")
        assert not hero.getexif() and "exif" not in hero.info
    data = (out / "gaziantep.jpg").read_bytes()
    assert b"Exif" not in data[:4096] and b"Field Camera" not in data
    assert len(data) < len(original)
    with Image.open(out / "card-sea.jpg") as card:
        assert card.width == 552
        assert not card.getexif()
    assert (digest(project / HERO), digest(project / CARD)) == before


def test_unchanged_images_are_not_made_again(project: Path) -> None:
    """A second build leaves an unchanged image's output alone; a changed source is made again."""
    camera_photo(project / HERO, (1600, 1000))
    args = ["build", SAMPLE, "-o", "out", "--lang", "en"]
    assert CliRunner().invoke(main, args).exit_code == 0
    made = project / "out" / "assets" / "gaziantep.jpg"
    manifest = json.loads((project / "out" / ".mailer-images.json").read_text())
    assert manifest["assets/gaziantep.jpg"]["width"] == 600
    first = made.stat().st_mtime_ns
    made.write_bytes(made.read_bytes())  # a marker: rewriting would change the bytes below
    marker = made.stat().st_mtime_ns
    assert CliRunner().invoke(main, args).exit_code == 0
    assert made.stat().st_mtime_ns == marker >= first
    camera_photo(project / HERO, (3000, 2000))
    assert CliRunner().invoke(main, args).exit_code == 0
    with Image.open(made) as again:
        assert again.width == 1200


def test_check_warns_on_images_still_heavy(project: Path) -> None:
    """`mailer check` warns when a photo is over 200 KB even made for email, and not before."""
    quiet = CliRunner().invoke(main, ["check", SAMPLE])
    assert "even made for email" not in quiet.output
    camera_photo(project / HERO, (3000, 2000))  # noise compresses badly: heavy even at 1200 px
    result = CliRunner().invoke(main, ["check", SAMPLE])
    out = " ".join(result.output.split())
    assert "the image assets/gaziantep.jpg is" in out
    assert "KB even made for email (over 200 KB)" in out


def test_follow_icons_are_copied_resized_with_alt_text(project: Path) -> None:
    """`mailer build` writes each follow link's icon into assets/ at twice its 20 px display
    width (the theme's 48 px PNG → 40 px), and the footer shows it decorative (alt="") in the
    link, beside the network's name, which is then the link's name, said once."""
    import re

    result = CliRunner().invoke(main, ["build", SAMPLE, "-o", "out", "--lang", "en"])
    assert result.exit_code == 0, result.output
    html = (project / "out" / "index.html").read_text(encoding="utf-8")
    footer = html[html.index("Follow us") :]
    icons = re.findall(
        r'<img src="assets/(icon-[a-z]+\.png)" alt="" width="20" height="20"[^>]*> ([^<]+)</a>',
        footer,
    )
    assert ("icon-facebook.png", "Facebook") in icons and ("icon-x.png", "X (Twitter)") in icons
    assert len(icons) == 7, icons  # the seven [social] links of mailer.toml
    for name, _label in icons:
        with Image.open(project / "out" / "assets" / name) as icon:
            assert icon.size == (40, 40) and icon.format == "PNG"
    with Image.open(project / "templates" / "icons" / "icon-facebook.png") as source:
        assert source.size == (48, 48)
