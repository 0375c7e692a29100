"""Review fixes: `mailer build` gives a clean error (no traceback) for an over-large picture and
ignores a damaged compiled-template cache under $XDG_CACHE_HOME/mailer."""

from __future__ import annotations

from pathlib import Path

import pytest
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


def test_damaged_template_cache_is_ignored(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A truncated file in the Jinja bytecode cache is ignored: the build succeeds, same output."""
    from mailer.build import render

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    render.environment.cache_clear()
    first = CliRunner().invoke(main, ["build", SAMPLE, "-o", "out1", "--lang", "en"])
    assert first.exit_code == 0, first.output
    files = list((tmp_path / "cache" / "mailer" / "jinja").iterdir())
    assert files
    for path in files:
        path.write_bytes(path.read_bytes()[:30])  # the magic header, then half a checksum
    render.environment.cache_clear()
    second = CliRunner().invoke(main, ["build", SAMPLE, "-o", "out2", "--lang", "en"])
    render.environment.cache_clear()
    assert second.exit_code == 0, second.output
    html = (project / "out1" / "index.html").read_text(encoding="utf-8")
    assert (project / "out2" / "index.html").read_text(encoding="utf-8") == html
