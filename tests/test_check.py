"""`mailer check`: pre-flight findings for the editor and for the scheduler."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from mailer.build.check import check_issue
from mailer.cli import main
from mailer.config import load_config

SAMPLE = "issues/2018-03-iom-turkey.yaml"


def codes(findings: list) -> dict[str, str]:
    return {f.code: f.severity for f in findings}


def test_sample_has_no_errors(project: Path) -> None:
    """The sample issue passes `mailer check` with no errors (exit 0)."""
    findings = check_issue(SAMPLE, load_config("mailer.toml"))
    assert [f for f in findings if f.severity == "error"] == []
    result = CliRunner().invoke(main, ["check", SAMPLE, "--json"])
    assert json.loads(result.output) == [f.as_dict() for f in findings]


def test_problems_are_found(project: Path) -> None:
    """Leftover TODO, vague link text, http link, long subject, no address or preheader: found."""
    issue = Path("issues/bad.yaml")
    issue.write_text(
        "subject: "
        + "A very long subject line that goes on and on and on about the newsletter"
        + "\n"
        "blocks:\n"
        "  - type: text\n"
        "    body: 'TODO write this. [click here](https://example.org/x) and [site](http://example.org/)'\n",
        encoding="utf-8",
    )
    toml = Path("mailer.toml")
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("postal_address =", "# postal_address ="),
        encoding="utf-8",
    )
    findings = check_issue(issue, load_config("mailer.toml"))
    found = codes(findings)
    assert found["leftover"] == "error"
    assert found["address"] == "error"
    assert found["vague-link"] == "warning"
    assert found["https"] == "warning"
    assert found["subject"] == "warning"
    assert found["preheader"] == "warning"
    leftover = next(f for f in findings if f.code == "leftover")
    assert leftover.location == "issues/bad.yaml:4"
    result = CliRunner().invoke(main, ["check", str(issue)])
    assert result.exit_code == 1
    assert "leftover TODO" in result.output


def test_strict_fails_on_warnings_and_missing_unsubscribe_is_an_error(project: Path) -> None:
    """--strict exits 1 on warnings; a footer without the unsubscribe token is an error."""
    issue = Path("issues/warn.yaml")
    issue.write_text("subject: Fine\nblocks:\n  - {type: text, body: Hello}\n", encoding="utf-8")
    assert CliRunner().invoke(main, ["check", str(issue)]).exit_code == 0
    assert CliRunner().invoke(main, ["check", str(issue), "--strict"]).exit_code == 1
    footer = Path("templates/footer.mjml.j2")
    footer.write_text(
        footer.read_text(encoding="utf-8").replace("{{ unsubscribe_url }}", "https://example.org"),
        encoding="utf-8",
    )
    found = codes(check_issue(issue, load_config("mailer.toml")))
    assert found["unsubscribe"] == "error"


def test_missing_image_and_alt_are_errors(project: Path) -> None:
    """A local image that does not exist, or a template image without an alt attribute, is an
    error."""
    issue = Path("issues/img.yaml")
    issue.write_text(
        "subject: Img\npreheader: P\nblocks:\n"
        "  - type: image\n    image: {src: assets/missing.png, alt: Missing, width: 600}\n",
        encoding="utf-8",
    )
    block = Path("templates/blocks/image.mjml.j2")
    block.write_text(
        re.sub(r' alt="[^"]*"', "", block.read_text(encoding="utf-8")),
        encoding="utf-8",
    )
    found = codes(check_issue(issue, load_config("mailer.toml")))
    assert found["image"] == "error"
    assert found["alt"] == "error"
