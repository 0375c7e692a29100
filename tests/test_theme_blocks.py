"""Block types declared by a theme (blocks/<type>.yaml + .mjml.j2 + .txt.j2): the worked
"quote card" example of the README, in tests/data/theme-quote-card/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mailer.build import build_issue
from mailer.build.issue import load_issue
from mailer.config import load_config
from mailer.errors import IssueError, RenderError
from support import ROOT

THEME = ROOT / "tests" / "data" / "theme-quote-card"


@pytest.fixture
def themed(project: Path) -> Path:
    """The sample project with the quote card theme block in its templates/ folder."""
    for path in (THEME / "templates" / "blocks").iterdir():
        shutil.copy(path, project / "templates" / "blocks" / path.name)
    for name in ("issue.yaml", "issue-typo.yaml"):
        shutil.copy(THEME / name, project / "issues" / f"quote-{name}")
    return project


def test_theme_block_validates_and_renders_html_and_text(themed: Path) -> None:
    """A quote_card block in an issue is validated against its declaration and rendered by
    the theme's MJML and text templates, links with UTM."""
    config = load_config("mailer.toml")
    rendered = build_issue("issues/quote-issue.yaml", config, lang="en")
    assert "Sorting food on a Saturday is the best part of my week." in rendered.html
    assert "<strong>Lea Martin</strong>, volunteer since 2019" in rendered.html
    assert "background-color:#F4F1EA" in rendered.html.replace(" ", "")
    assert (
        "Sorting food on a Saturday is the best part of my week.\n"
        "— Lea Martin, volunteer since 2019" in rendered.text
    )
    assert "Read more: https://example.org/volunteer?utm_source=newsletter" in rendered.text
    assert any(link.block == "volunteer" for link in rendered.links)


def test_theme_block_unknown_field_is_located_with_did_you_mean(themed: Path) -> None:
    """A misspelled field of a theme block fails at its file:line:column, naming the block
    and suggesting the declared field."""
    with pytest.raises(IssueError) as caught:
        load_issue("issues/quote-issue-typo.yaml", block_dirs=[themed / "templates"])
    message = str(caught.value)
    assert "quote-issue-typo.yaml:6:5" in message
    assert "blocks[0] (quote_card 'volunteer').autor: unknown field 'autor'" in message
    assert "did you mean 'author'?" in message


def test_theme_block_required_field_missing_is_located(themed: Path) -> None:
    """A required declared field left out is reported at the block with `add ...`."""
    path = themed / "issues" / "no-author.yaml"
    path.write_text(
        'subject: "x"\nblocks:\n  - type: quote_card\n    text: "Only words."\n', encoding="utf-8"
    )
    with pytest.raises(IssueError) as caught:
        load_issue(path, block_dirs=[themed / "templates"])
    assert "no-author.yaml:3:5" in str(caught.value)
    assert "author" in str(caught.value) and "required field is missing" in str(caught.value)


def test_without_the_theme_the_type_is_unknown(themed: Path) -> None:
    """The same issue without the theme's declaration: an unknown block type, located."""
    with pytest.raises(IssueError) as caught:
        load_issue("issues/quote-issue.yaml", block_dirs=[])
    assert "quote-issue.yaml:5:" in str(caught.value)
    assert "unknown block type 'quote_card'" in str(caught.value)


def test_a_wrong_declaration_is_located_in_the_declaration(tmp_path: Path) -> None:
    """A declaration with an unknown field type fails at its own file:line with the types."""
    blocks = tmp_path / "templates" / "blocks"
    blocks.mkdir(parents=True)
    (blocks / "card.yaml").write_text(
        "fields:\n  title: string\n  when: {type: date}\n", encoding="utf-8"
    )
    issue = tmp_path / "x.yaml"
    issue.write_text('subject: "x"\nblocks:\n  - type: divider\n', encoding="utf-8")
    with pytest.raises(IssueError) as caught:
        load_issue(issue, block_dirs=[tmp_path / "templates"])
    assert "card.yaml:3:16" in str(caught.value)
    assert "unknown type 'date'" in str(caught.value)
    assert "string, markdown, url, image, list" in str(caught.value)


def test_a_declaration_may_not_take_a_built_in_name(tmp_path: Path) -> None:
    """A theme cannot redeclare a built-in block type (only restyle its template)."""
    blocks = tmp_path / "blocks"
    blocks.mkdir()
    (blocks / "story.yaml").write_text("fields:\n  title: string\n", encoding="utf-8")
    issue = tmp_path / "x.yaml"
    issue.write_text('subject: "x"\nblocks:\n  - type: divider\n', encoding="utf-8")
    with pytest.raises(IssueError, match="one of mailer's own block types"):
        load_issue(issue, block_dirs=[tmp_path])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ block.nope }}", "blocks/quote_card.txt.j2 uses an undefined value: "),
        ("{% if %}", "template syntax error: "),
    ],
)
def test_theme_block_text_template_errors_are_named(themed: Path, text: str, expected: str) -> None:
    """A theme block's text template that uses an undefined value or does not parse fails
    with a RenderError naming the template and how to fix it."""
    (themed / "templates" / "blocks" / "quote_card.txt.j2").write_text(text, encoding="utf-8")
    with pytest.raises(RenderError) as caught:
        build_issue("issues/quote-issue.yaml", load_config("mailer.toml"), lang="en")
    assert str(caught.value.args[0]).startswith(expected)
    hint = str(caught.value)
    if "nope" in text:
        assert "the template sees `block` (its declared fields)" in hint
    else:
        assert "quote_card.txt.j2:1" in hint
