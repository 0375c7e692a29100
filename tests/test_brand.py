"""Brand colours (issue #12 point 3): on-primary text, link and button colours, and
`mailer check`'s WCAG contrast findings with a suggested colour."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from mailer.build import build_issue
from mailer.build.contrast import ratio, suggest
from mailer.cli import main
from mailer.config import load_config

SAMPLE = "issues/2018-03-iom-turkey.yaml"


def set_brand(project: Path, **values: str) -> None:
    """Rewrite [brand] keys of the project's mailer.toml (added when absent)."""
    path = project / "mailer.toml"
    text = path.read_text(encoding="utf-8")
    for key, value in values.items():
        line = f'{key} = "{value}"'
        pattern = re.compile(rf"^{key}\s*=.*$", re.M)
        if pattern.search(text):
            text = pattern.sub(line, text)
        else:
            text = text.replace("[brand]\n", f"[brand]\n{line}\n", 1)
    path.write_text(text, encoding="utf-8")


def test_ratio_matches_wcag_reference_values() -> None:
    """The contrast ratio is WCAG 2.x's: 21:1 black on white, 4.5:1 for #767676 on white."""
    assert round(ratio("#000000", "#FFFFFF"), 2) == 21.0
    assert round(ratio("#767676", "#FFFFFF"), 2) == 4.54
    assert round(ratio("#FFFFFF", "#FF7602"), 2) == 2.68


def test_suggestion_is_the_nearest_passing_lightness() -> None:
    """A suggested colour keeps the hue, passes 4.5:1, and one step nearer the original fails."""
    better = suggest("#3B82F6", "#FFFFFF")
    assert better is not None and ratio(better, "#FFFFFF") >= 4.5
    assert ratio("#3B82F6", "#FFFFFF") < 4.5
    r, g, b = (int(better[i : i + 2], 16) for i in (1, 3, 5))
    assert b > g > r  # still blue
    nearer = "#" + "".join(f"{min(c + 3, 255):02X}" for c in (r, g, b))
    assert ratio(nearer, "#FFFFFF") < 4.5


def test_check_reports_white_on_orange_with_ratio_and_suggestion(project: Path) -> None:
    """`mailer check` on an orange brand reports white masthead text on #FF7602 at 2.7:1, at
    the line of mailer.toml, with a passing colour to use instead."""
    set_brand(project, primary_color="#FF7602", on_primary_color="#FFFFFF")
    result = CliRunner().invoke(main, ["check", SAMPLE])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "masthead text: #FFFFFF on #FF7602" in out
    assert "contrast of 2.7:1, under WCAG AA's 4.5:1" in out
    m = re.search(r'on_primary_color = "(#[0-9A-F]{6})"', out)
    assert m and ratio(m[1], "#FF7602") >= 4.5
    line = next(
        n
        for n, text in enumerate((project / "mailer.toml").read_text().splitlines(), 1)
        if text.startswith("on_primary_color")
    )
    assert f"mailer.toml:{line}:" in out
    assert CliRunner().invoke(main, ["check", SAMPLE, "--strict"]).exit_code == 1


def test_sample_brand_has_no_contrast_findings(project: Path) -> None:
    """The sample's own colours pass every pair: no contrast finding."""
    result = CliRunner().invoke(main, ["check", SAMPLE])
    assert result.exit_code == 0
    assert "contrast of" not in result.output


def test_brand_colours_reach_masthead_links_and_buttons(project: Path) -> None:
    """on_primary_color colours the masthead, link_color the links (not accent_color), and
    button_color/button_text_color the buttons."""
    set_brand(
        project,
        primary_color="#5B2A86",
        on_primary_color="#FFF5D6",
        link_color="#0B6E4F",
        accent_color="#C2185B",
        button_color="#1B4332",
        button_text_color="#FEFAE0",
    )
    html = build_issue(SAMPLE, load_config("mailer.toml"), lang="en").html
    assert re.search(r"<h1[^>]*color:\s*#FFF5D6", html, re.I)
    assert "#FFFFFF" not in html.split("<h1", 1)[1].split("</h1>", 1)[0].upper()
    links = re.findall(r'<a href="https://[^"]*"[^>]*style="[^"]*color:\s*(#[0-9A-Fa-f]{6})', html)
    assert "#0B6E4F" in links and "#C2185B" not in links
    assert re.search(r'bgcolor="#1B4332"', html, re.I)
    assert re.search(r"color:\s*#FEFAE0", html, re.I)
