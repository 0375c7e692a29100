"""Review fixes: `mailer build` gives a clean error (no traceback) for an over-large picture and
ignores a damaged compiled-template cache under $XDG_CACHE_HOME/mailer."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from mailer.cli import main

SAMPLE = "issues/2018-03-iom-turkey.yaml"
HERO = "issues/assets/gaziantep.jpg"


def test_oversized_picture_is_a_clean_error_naming_the_file(project: Path) -> None:
    """A picture over Pillow's decompression-bomb limit fails the build with the file's name."""
    Image.new("1", (20000, 20000)).save(project / HERO, "PNG")
    result = CliRunner().invoke(main, ["build", SAMPLE, "-o", "out", "--lang", "en"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"the image {HERO} cannot be read as a picture" in result.output
    assert "exceeds limit" in result.output

