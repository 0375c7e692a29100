"""Dark mode (issue #12 point 4): the sample, built in every language and opened in Chromium with
prefers-color-scheme: dark, keeps every text readable on what is behind it, and the logo on a
light plate."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from judges import run_node
from mailer.build.contrast import luminance, to_hex
from mailer.cli import main
from support import CHROMIUM_FLAGS, NODE_MODULES, chromium, require

SAMPLE = "issues/2018-03-iom-turkey.yaml"
LANGS = ("en", "tr", "ar")
#: the second sample (letter, gallery, event blocks), English only
HARVEST = "issues/2027-q1-harvest-bridge.yaml"


def dark_pages(pages: dict[str, Path], scheme: str = "dark") -> dict[str, Any]:
    """Each page's texts (colour and background) and logo plates in Chromium, *scheme* emulated."""
    exe = chromium()
    require((NODE_MODULES / "playwright-core").exists(), "npm playwright-core not installed")
    payload = {
        "executablePath": exe,
        "args": [f for f in CHROMIUM_FLAGS if f != "--headless"],
        "scheme": scheme,
        "pages": [{"name": name, "path": str(path)} for name, path in pages.items()],
    }
    result: dict[str, Any] = run_node("dark_contrast.js", payload, timeout=180)
    return result


def hex_of(rgb: dict[str, float]) -> str:
    return to_hex((rgb["r"] / 255, rgb["g"] / 255, rgb["b"] / 255))


def low_contrast(page: dict[str, Any], minimum: float = 4.5) -> list[str]:
    """The texts of *page* under *minimum*:1 against their background."""
    out = []
    for t in page["texts"]:
        fg, bg = luminance(hex_of(t["color"])), luminance(hex_of(t["background"]))
        ratio = (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)
        if ratio < minimum:
            out.append(
                f"{t['text']!r}: {hex_of(t['color'])} on {hex_of(t['background'])} {ratio:.1f}"
            )
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both samples built by `mailer build`, the IOM one in every language (from a copy of the
    project)."""
    import os
    import shutil

    from support import ROOT

    project = tmp_path_factory.mktemp("dark") / "project"
    project.mkdir()
    shutil.copy(ROOT / "mailer.toml", project / "mailer.toml")
    shutil.copytree(ROOT / "issues", project / "issues")
    cwd = os.getcwd()
    os.chdir(project)
    try:
        result = CliRunner().invoke(main, ["build", SAMPLE, "-o", "out"])
        second = CliRunner().invoke(main, ["build", HARVEST, "-o", "harvest"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    assert second.exit_code == 0, second.output
    out = project / "out"
    pages = {
        lang: out / "index.html" if lang == "en" else out / lang / "index.html" for lang in LANGS
    }
    pages["harvest"] = project / "harvest" / "index.html"
    return pages


def test_html_declares_both_schemes_and_a_dark_style_block(built: dict[str, Path]) -> None:
    """Every language's HTML says it supports light and dark and carries the dark rules in a
    <style> block (not inlined away by the CSS inliner)."""
    for lang, path in built.items():
        html = path.read_text(encoding="utf-8")
        head = html.split("</head>", 1)[0]
        assert '<meta name="color-scheme" content="light dark"' in head, lang
        assert '<meta name="supported-color-schemes" content="light dark"' in head, lang
        block = re.search(
            r"<style[^>]*>\s*@media \(prefers-color-scheme: dark\)(.*?)</style>", head, re.S
        )
        assert block and "!important" in block[1], lang


def test_dark_mode_text_is_readable_and_logo_on_a_light_plate(built: dict[str, Path]) -> None:
    """With prefers-color-scheme: dark, every visible text of every language contrasts at least
    4.5:1 with what is behind it, the page is dark, and the logo sits on a light plate."""
    pages = dark_pages(dict(built))
    for lang, page in pages.items():
        assert page["scheme"] == "dark"
        assert len(page["texts"]) > 50, lang
        assert low_contrast(page) == [], lang
        backgrounds = [luminance(hex_of(t["background"])) for t in page["texts"]]
        assert sum(b < 0.1 for b in backgrounds) > len(backgrounds) / 2, f"{lang}: not dark"
        assert page["logos"], f"{lang}: no logo found"
        assert all(luminance(hex_of(logo["plate"])) > 0.8 for logo in page["logos"]), lang


def test_light_mode_is_unchanged_by_the_dark_rules(built: dict[str, Path]) -> None:
    """In light mode the page keeps the brand's light background and readable text."""
    page = dark_pages({"en": built["en"]}, scheme="light")["en"]
    assert page["scheme"] == "light"
    assert low_contrast(page) == []
    assert all(luminance(hex_of(logo["plate"])) < 0.2 for logo in page["logos"])  # the masthead


def test_the_judge_sees_dark_text_on_a_dark_canvas(tmp_path: Path) -> None:
    """Control: a page that allows dark mode but keeps dark text is reported as unreadable."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!doctype html><html lang="en"><head><meta name="color-scheme" content="light dark">'
        '<title>t</title></head><body><p style="color:#222222">Dark on dark</p></body></html>',
        encoding="utf-8",
    )
    page = dark_pages({"bad": bad})["bad"]
    assert [t.split(":")[0] for t in low_contrast(page)] == ["'Dark on dark'"]
