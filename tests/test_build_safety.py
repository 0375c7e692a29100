"""What the editor sees is what readers get, and hostile issue files end fast (issue 11:
points 5, 8, 11 and the build parts of 12)."""

from __future__ import annotations

import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailer.build import build_issue
from mailer.build.check import check_issue
from mailer.build.issue import load_issue
from mailer.cli import main
from mailer.config import load_config
from mailer.errors import ConfigError, IssueError

SAMPLE = Path("issues/2018-03-iom-turkey.yaml")
DEAR = 'Dear {{ subscriber.first_name | default("friend") }}, IOM Deputy Director General'


def add_merge_field() -> None:
    """Put a merge field in the sample's subject and in a story of every language."""
    text = SAMPLE.read_text(encoding="utf-8").replace("IOM Deputy Director General", DEAR, 1)
    text = text.replace(
        'subject: "', "subject: \"{{ subscriber.first_name | default('friend') }}, ", 1
    )
    SAMPLE.write_text(text, encoding="utf-8")


def built_files(out: Path) -> dict[str, str]:
    """Every text file `mailer build` wrote under *out*, by relative path."""
    return {
        str(p.relative_to(out)): p.read_text(encoding="utf-8", errors="replace")
        for p in sorted(out.rglob("*"))
        if p.suffix in {".html", ".txt", ".mjml", ".eml"}
    }


# -- point 5: the editor's copy -----------------------------------------------------------------
def test_build_fills_merge_fields_from_the_sample_reader_and_never_leaves_tokens(
    project: Path,
) -> None:
    """`mailer build` writes the [preview] sample's first name and real footer links in
    index.html, index.txt, index.mjml and message.eml of every language (no %%…%% token),
    while build_issue(for_send=True) keeps the tokens for the sender."""
    add_merge_field()
    result = CliRunner().invoke(main, ["build", str(SAMPLE), "-o", "out"])
    assert result.exit_code == 0, result.output
    files = built_files(project / "out")
    assert {"index.html", "index.txt", "message.eml", "tr/index.html", "ar/message.eml"} <= set(
        files
    )
    for name, content in files.items():
        assert "%%" not in content, name
    assert "Dear Ayşe, IOM" in files["index.html"] and "Dear Ayşe, IOM" in files["index.txt"]
    assert 'href="https://turkey.iom.int"' in files["index.html"]
    assert "Unsubscribe: https://turkey.iom.int" in files["index.txt"]
    msg = message_from_bytes((project / "out/message.eml").read_bytes(), policy=policy.default)
    assert str(msg["Subject"]).startswith("Ayşe, ")
    assert msg["To"].addresses[0].display_name == "Ayşe Yılmaz"
    assert "Dear Ayşe, IOM" in msg.get_body(("html",)).get_content()
    assert msg["List-Unsubscribe"].startswith("<https://turkey.iom.int>, <mailto:")
    # the send path (what delivery starts from) keeps every token for the sender to fill
    sent = build_issue(SAMPLE, load_config("mailer.toml"), for_send=True)
    assert "Dear %%first_name%%, IOM" in sent.html and "%%first_name%%" in sent.subject
    assert 'href="%%unsubscribe_url%%"' in sent.html and "%%view_url%%" in sent.text
    assert [m.field for m in sent.merge_fields] == ["first_name"]


def test_build_without_a_sample_shows_each_fallback(project: Path) -> None:
    """Without [preview] in mailer.toml, a merge field shows its default("...") fallback."""
    add_merge_field()
    toml = Path("mailer.toml")
    toml.write_text(toml.read_text(encoding="utf-8").split("[preview]")[0], encoding="utf-8")
    result = CliRunner().invoke(main, ["build", str(SAMPLE), "-o", "out", "--lang", "en"])
    assert result.exit_code == 0, result.output
    html = (project / "out/index.html").read_text(encoding="utf-8")
    assert "Dear friend, IOM" in html and "%%" not in html


def test_a_bad_preview_sample_is_a_config_error(project: Path) -> None:
    """A [preview] sample key that is no field name is refused naming the key and the fix."""
    toml = Path("mailer.toml")
    toml.write_text(
        toml.read_text(encoding="utf-8").replace('first_name = "Ayşe"', '"First Name" = "Ayşe"'),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"preview\.sample.*'First Name' is not a subscriber"):
        load_config("mailer.toml")
    result = CliRunner().invoke(main, ["build", str(SAMPLE), "-o", "out"])
    assert result.exit_code == 1 and "First Name" in result.output
    assert "Traceback" not in result.output


# -- point 8: images stay inside the issue's folder ---------------------------------------------
def test_an_image_symlinked_outside_the_issue_folder_is_refused_and_never_copied(
    project: Path,
) -> None:
    """A src that is a symlink to a secret outside issues/ fails with file:line:col; no copy."""
    secret = project / "secret.env"
    secret.write_text("SENDGRID_API_KEY=SG.very-secret\n", encoding="utf-8")
    (project / "issues/assets/innocent.jpg").symlink_to(secret)
    issue = Path("issues/sym.yaml")
    issue.write_text(
        "subject: Hi\npreheader: P\nblocks:\n  - type: image\n"
        "    image: {src: assets/innocent.jpg, alt: A photo, width: 600}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["build", str(issue), "-o", "out"])
    assert result.exit_code == 1
    assert "issues/sym.yaml:5:" in result.output and "outside the issue's folder" in result.output
    assert "very-secret" not in result.output
    copied = (
        [p for p in (project / "out").rglob("*") if p.is_file()] if Path("out").exists() else []
    )
    assert not any(b"very-secret" in p.read_bytes() for p in copied)
    with pytest.raises(IssueError, match="outside"):
        check_issue(issue, load_config("mailer.toml"))


def test_a_symlinked_assets_folder_pointing_outside_is_refused(project: Path) -> None:
    """A folder symlink (issues/pics → a folder outside) is refused like a file symlink."""
    outside = project / "elsewhere"
    outside.mkdir()
    (outside / "x.jpg").write_bytes(b"\xff\xd8secret")
    (project / "issues/pics").symlink_to(outside, target_is_directory=True)
    issue = Path("issues/dir.yaml")
    issue.write_text(
        "subject: Hi\nblocks:\n  - type: story\n    title: T\n"
        "    image:\n      src: pics/x.jpg\n      alt: A photo\n",
        encoding="utf-8",
    )
    with pytest.raises(IssueError) as caught:
        load_issue(issue)
    assert caught.value.location == "issues/dir.yaml:6:12"


# -- point 11: hostile files end fast -----------------------------------------------------------
LAUGHS = "subject: x\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_a_billion_laughs_issue_fails_fast_with_a_clear_error(tmp_path: Path) -> None:
    """A "billion laughs" issue is refused in well under a second, naming file and limit."""
    issue = tmp_path / "laughs.yaml"
    issue.write_text(LAUGHS + "blocks: *i\n", encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(IssueError) as caught:
        load_issue(issue)
    assert time.monotonic() - started < 0.5
    assert str(issue) in caught.value.location
    assert "200000 values" in caught.value.message or "aliases" in caught.value.message


def test_many_aliases_are_refused(tmp_path: Path) -> None:
    """More than 100 alias uses are refused at a line, even when each is small."""
    issue = tmp_path / "aliases.yaml"
    refs = "".join(f"  - {{type: text, body: *t, id: b{i}}}\n" for i in range(150))
    issue.write_text(f"subject: x\nt: &t hello\nblocks:\n{refs}", encoding="utf-8")
    with pytest.raises(IssueError, match="more than 100 YAML aliases") as caught:
        load_issue(issue)
    assert caught.value.location.startswith(f"{issue}:")


def test_a_huge_issue_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """An issue file over 1 MB is an error naming the file and the limit."""
    issue = tmp_path / "huge.yaml"
    issue.write_text("subject: x\nblocks:\n" + "# padding\n" * 120_000, encoding="utf-8")
    with pytest.raises(IssueError, match="the limit is 1 MB") as caught:
        load_issue(issue)
    assert caught.value.location == str(issue)


def test_block_and_item_counts_are_limited(tmp_path: Path) -> None:
    """201 blocks, or 101 items in one block, are errors naming the limit and the line."""
    issue = tmp_path / "blocks.yaml"
    blocks = "".join(f"  - {{type: divider, id: d{i}}}\n" for i in range(201))
    issue.write_text(f"subject: x\nblocks:\n{blocks}", encoding="utf-8")
    with pytest.raises(IssueError, match="at most 200") as caught:
        load_issue(issue)
    assert caught.value.location == f"{issue}:3:3"
    items = "".join(
        f"      - {{outlet: O, summary: S, url: 'https://example.org/{i}', id: n{i}}}\n"
        for i in range(101)
    )
    issue.write_text(f"subject: x\nblocks:\n  - type: news\n    items:\n{items}", encoding="utf-8")
    with pytest.raises(IssueError, match="at most 100"):
        load_issue(issue)


def test_translation_files_have_the_same_limits(project: Path) -> None:
    """A billion-laughs translation, or one over 1 MB, is refused naming the translation."""
    translation = Path("issues/2018-03-iom-turkey.tr.yaml")
    translation.write_text(LAUGHS.replace("subject: x\n", "subject: x\n") + "title: *i\n")
    started = time.monotonic()
    with pytest.raises(IssueError) as caught:
        build_issue(SAMPLE, load_config("mailer.toml"), lang="tr")
    assert time.monotonic() - started < 1.0
    assert "2018-03-iom-turkey.tr.yaml" in caught.value.location
    translation.write_text("subject: x\n" + "# padding\n" * 120_000, encoding="utf-8")
    with pytest.raises(IssueError, match="1 MB") as caught:
        build_issue(SAMPLE, load_config("mailer.toml"), lang="tr")
    assert caught.value.location.endswith("2018-03-iom-turkey.tr.yaml")


# -- point 12: decorative images, check's lines and excerpts ------------------------------------
def test_an_empty_alt_marks_a_decorative_image(project: Path) -> None:
    """`alt: ""` builds as alt="" and check finds no alt problem; a missing alt still fails."""
    issue = Path("issues/deco.yaml")
    issue.write_text(
        "subject: Deco\npreheader: P\nblocks:\n  - type: image\n"
        '    image: {src: assets/gaziantep.jpg, alt: "", width: 600}\n',
        encoding="utf-8",
    )
    rendered = build_issue(issue, load_config("mailer.toml"))
    assert '<img alt="" ' in rendered.html
    findings = check_issue(issue, load_config("mailer.toml"))
    assert not [f for f in findings if f.code == "alt"]
    issue.write_text(
        "subject: Deco\nblocks:\n  - type: image\n    image: {src: assets/gaziantep.jpg}\n",
        encoding="utf-8",
    )
    with pytest.raises(IssueError, match="alt: this required field is missing"):
        load_issue(issue)


def test_check_link_findings_name_their_line_and_the_todo_reads_well(project: Path) -> None:
    """http and vague-link warnings carry file:line; the TODO is a short one-line quote."""
    issue = Path("issues/links.yaml")
    issue.write_text(
        "subject: Links\npreheader: P\nblocks:\n  - type: text\n    body: |\n"
        "      First paragraph.\n"
        "      Read [click here](https://www.iom.int/a) today.\n"
        "      See [the site](http://www.iom.int/b).\n"
        "  - type: text\n"
        "    body: 'Some long introduction to the matter at hand. TODO: ask Ayşe for the final "
        "numbers of the spring campaign before we send this out to everybody'\n",
        encoding="utf-8",
    )
    findings = check_issue(issue, load_config("mailer.toml"))
    by_code = {f.code: f for f in findings}
    assert by_code["vague-link"].location == "issues/links.yaml:7"
    assert by_code["https"].location == "issues/links.yaml:8"
    leftover = by_code["leftover"]
    assert leftover.location == "issues/links.yaml:10"
    assert leftover.message.startswith("leftover TODO: “…")
    assert "TODO: ask Ayşe for the final numbers" in leftover.message
    assert "body:" not in leftover.message and "'" not in leftover.message
    assert len(leftover.message) < 110 and "\n" not in leftover.message
