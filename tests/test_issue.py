"""The issue file: model, ids, merge fields, and errors an editor can act on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailer.build.ids import slugify
from mailer.build.issue import load_issue
from mailer.cli import main
from mailer.errors import IssueError
from support import ROOT

SAMPLE = ROOT / "issues" / "2018-03-iom-turkey.yaml"
BROKEN = ROOT / "tests" / "broken"

#: file → (line named in the message, words the message must contain)
CORPUS = {
    "syntax-error.yaml": (5, "not valid YAML"),
    "wrong-type.yaml": (5, "share"),
    "unknown-block.yaml": (5, "did you mean 'story'"),
    "missing-field.yaml": (5, "title: this required field is missing"),
    "bad-url.yaml": (5, "https://"),
    "non-utf8.yaml": (1, "not UTF-8"),
    "empty.yaml": (1, "empty"),
    "misspelled-key.yaml": (8, "did you mean 'caption'"),
    "not-a-mapping.yaml": (1, "mapping"),
    "duplicate-key.yaml": (5, "appears twice"),
    "bad-date.yaml": (3, "2018-02-30"),
    "javascript-url.yaml": (5, "javascript:alert(1)"),
}


def write(tmp_path: Path, text: str, name: str = "issue.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_sample_issue_loads_with_every_part_of_the_seed() -> None:
    """The sample has a hero story, highlights, stories, videos, Our Stories, news and a button."""
    issue = load_issue(SAMPLE)
    kinds = [b.type for b in issue.blocks]
    assert issue.slug == "2018-03-iom-turkey" and issue.language == "en"
    assert {"story", "highlights", "videos", "heading", "news", "button"} <= set(kinds)
    hero = issue.blocks[0]
    assert hero.type == "story" and hero.hero and hero.share and hero.image is not None
    assert hero.image.credit == "IOM / Lanna Walsh"
    assert issue.period is not None and str(issue.period.start) == "2017-12-01"
    highlights = next(b for b in issue.blocks if b.type == "highlights")
    assert len(highlights.items) == 9
    news = next(b for b in issue.blocks if b.type == "news")
    assert [i.outlet for i in news.items] == ["Anadolu Agency", "Milliyet", "Anadolu Agency"]


def test_ids_are_derived_from_titles_and_unique(tmp_path: Path) -> None:
    """A block without id gets one from its title; a repeated title gets a numbered id."""
    path = write(
        tmp_path,
        "subject: S\nblocks:\n"
        "  - {type: story, title: Çiğ Köfte in İzmir!}\n"
        "  - {type: story, title: Çiğ Köfte in İzmir!}\n"
        "  - {type: divider}\n"
        "  - {type: story, id: mine, title: Mine}\n",
    )
    ids = [b.id for b in load_issue(path).blocks]
    assert ids == ["cig-kofte-in-izmir", "cig-kofte-in-izmir-2", "divider-3", "mine"]
    assert slugify("") == "block"


def test_merge_fields_become_tokens_and_text_is_not_a_template(tmp_path: Path) -> None:
    """`{{ subscriber.first_name | default("friend") }}` → %%first_name%%; other Jinja is text."""
    path = write(
        tmp_path,
        'subject: Hello {{ subscriber.first_name | default("friend") }}\nblocks:\n'
        "  - type: text\n"
        '    body: "Dear {{subscriber.name}}, {{ 7*7 }} {% if x %}y{% endif %}"\n',
    )
    issue = load_issue(path)
    assert issue.subject == "Hello %%first_name%%"
    assert issue.blocks[0].body == "Dear %%name%%, {{ 7*7 }} {% if x %}y{% endif %}"
    refs = {(r.token, r.field, r.fallback) for r in issue.merge_fields}
    assert refs == {("%%first_name%%", "first_name", "friend"), ("%%name%%", "name", "")}


def test_lang_sets_the_language(tmp_path: Path) -> None:
    """With lang, the issue's language is that language (and its translation is applied)."""
    path = write(tmp_path, "subject: S\nblocks:\n  - {type: text, body: Hi}\n")
    assert load_issue(path, lang="tr").language == "tr"


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_broken_issue_gives_one_paragraph_with_file_and_line(name: str) -> None:
    """Each broken file of the corpus: exit 1, file:line and what is wrong, no traceback."""
    line, words = CORPUS[name]
    path = BROKEN / name
    result = CliRunner().invoke(main, ["build", str(path), "-o", "/nonexistent-never-written"])
    assert result.exit_code == 1, result.output
    message = result.output
    assert "Traceback" not in message
    assert f"{path}:{line}" in message, message
    assert words in message, message
    assert "\n\n" not in message.strip()


def test_broken_issue_in_a_real_process_has_no_traceback() -> None:
    """Run as a real process, the CLI prints the error on stderr and exits 1."""
    proc = subprocess.run(
        [sys.executable, "-m", "mailer.cli", "build", str(BROKEN / "unknown-block.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "No module named mailer.cli.__main__" in proc.stderr:
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "mailer"),
                "build",
                str(BROKEN / "unknown-block.yaml"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "unknown-block.yaml:5:5" in proc.stderr


def test_load_issue_raises_issue_error_with_location() -> None:
    """The library raises IssueError whose location names the file and line."""
    with pytest.raises(IssueError) as info:
        load_issue(BROKEN / "misspelled-key.yaml")
    assert info.value.location is not None and info.value.location.endswith(":8:7")
    assert info.value.hint == "did you mean 'caption'?"


def test_a_misspelled_key_is_named_before_the_missing_field(tmp_path: Path) -> None:
    """`subjct:` is reported as unknown with "did you mean 'subject'", not as a missing subject."""
    path = write(tmp_path, "subjct: X\nblocks:\n  - type: story\n    titel: A\n")
    with pytest.raises(IssueError) as info:
        load_issue(path)
    assert info.value.location == f"{path}:1:1"
    assert info.value.hint == "did you mean 'subject'?"
