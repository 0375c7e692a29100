"""`mailer init`: a new project that builds and checks out of the box."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mailer.cli import main
from support import ROOT


def test_init_creates_a_project_that_builds(tmp_path: Path, monkeypatch) -> None:
    """`mailer init DIR` then `mailer build` and `mailer check` in DIR succeed."""
    target = tmp_path / "news"
    result = CliRunner().invoke(main, ["init", str(target), "--name", "Harbour News"])
    assert result.exit_code == 0, result.output
    assert 'name = "Harbour News"' in (target / "mailer.toml").read_text(encoding="utf-8")
    monkeypatch.chdir(target)
    built = CliRunner().invoke(main, ["build", "issues/first-issue.yaml", "-o", "out"])
    assert built.exit_code == 0, built.output
    html = (target / "out" / "index.html").read_text(encoding="utf-8")
    assert "Welcome to our newsletter" in html and (target / "out/assets/welcome.png").is_file()
    checked = CliRunner().invoke(main, ["check", "issues/first-issue.yaml"])
    assert checked.exit_code == 0, checked.output


def test_init_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    """init never overwrites: a non-empty folder is an error with exit 1."""
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    result = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 1
    assert "not empty" in result.output
    assert (tmp_path / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_repository_theme_is_the_packaged_theme() -> None:
    """templates/ is the theme shipped in the package (one copy, so the two cannot drift)."""
    packaged = ROOT / "src" / "mailer" / "skeleton" / "templates"
    assert (ROOT / "templates").resolve() == packaged.resolve()
    assert (packaged / "base.mjml.j2").is_file()
