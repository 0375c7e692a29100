"""`mailer init`: a new project that builds and checks out of the box."""

from __future__ import annotations

import html as htmllib
import json
from pathlib import Path

from click.testing import CliRunner

from mailer.cli import main
from mailer.config import load_config
from support import ROOT


def test_init_creates_a_project_that_builds_with_the_packaged_theme(
    tmp_path: Path, monkeypatch
) -> None:
    """`mailer init DIR --organisation --from --address` writes them into mailer.toml, copies
    no theme file (the packaged theme builds it), and `mailer check` then finds placeholders
    only in the first issue's example links, none in mailer.toml."""
    target = tmp_path / "news"
    result = CliRunner().invoke(
        main,
        [
            "init",
            str(target),
            "--name",
            "Harbour News",
            "--organisation",
            'Harbour "Food" Bank',
            "--from",
            "news@foodbank.org",
            "--address",
            "12 Quay Street, Bristol BS1 4DJ, UK",
        ],
    )
    assert result.exit_code == 0, result.output
    assert not (target / "templates").exists()
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "issues/assets/welcome.png",
        "issues/first-issue.yaml",
        "mailer.toml",
    ]
    config = load_config(target / "mailer.toml")
    assert config.settings.name == "Harbour News"
    assert config.settings.organisation == 'Harbour "Food" Bank'
    assert config.settings.sender.from_name == 'Harbour "Food" Bank'
    assert config.settings.sender.from_email == "news@foodbank.org"
    assert config.settings.postal_address == "12 Quay Street, Bristol BS1 4DJ, UK"
    monkeypatch.chdir(target)
    built = CliRunner().invoke(main, ["build", "issues/first-issue.yaml", "-o", "out"])
    assert built.exit_code == 0, built.output
    html = (target / "out" / "index.html").read_text(encoding="utf-8")
    assert "Welcome to our newsletter" in html and (target / "out/assets/welcome.png").is_file()
    assert "Hello Alex," in html and 'Harbour "Food" Bank' in htmllib.unescape(html)
    checked = CliRunner().invoke(main, ["check", "issues/first-issue.yaml", "--json"])
    assert checked.exit_code == 0, checked.output
    placeholders = [f for f in json.loads(checked.output) if f["code"] == "placeholder"]
    assert placeholders and all(f["location"].startswith("issues/") for f in placeholders)


def test_check_warns_about_every_placeholder_init_left(tmp_path: Path, monkeypatch) -> None:
    """Without the options (no terminal), mailer.toml keeps placeholders and `mailer check`
    warns about each at its line: exit 0, and exit 1 under --strict."""
    target = tmp_path / "news"
    assert CliRunner().invoke(main, ["init", str(target)]).exit_code == 0
    monkeypatch.chdir(target)
    checked = CliRunner().invoke(main, ["check", "issues/first-issue.yaml", "--json"])
    assert checked.exit_code == 0, checked.output
    found = {
        f["message"].split(" = ")[0]: f
        for f in json.loads(checked.output)
        if f["code"] == "placeholder" and "mailer.toml" in f["location"]
    }
    assert set(found) == {"organisation", "postal_address", "sender.from_name", "sender.from_email"}
    assert all(f["severity"] == "warning" for f in found.values())
    toml = (target / "mailer.toml").read_text(encoding="utf-8").splitlines()
    line = int(found["sender.from_email"]["location"].rsplit(":", 1)[1])
    assert toml[line - 1].startswith("from_email = ")
    assert "Example Organisation" in found["organisation"]["message"]
    strict = CliRunner().invoke(main, ["check", "issues/first-issue.yaml", "--strict"])
    assert strict.exit_code == 1 and "placeholder" in strict.output


def test_init_asks_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal, init asks for the organisation, sender and postal address."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    target = tmp_path / "asked"
    mailer = str(Path(sys.executable).with_name("mailer"))
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [mailer, "init", str(target)], stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    answers = [b"Harbour Food Bank\n", b"news@foodbank.org\n", b"12 Quay Street, Bristol\n"]
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                seen += os.read(leader, 4096)
            except OSError:
                break
        if answers and seen.count(b"]") > 3 - len(answers) and seen.rstrip().endswith(b":"):
            os.write(leader, answers.pop(0))
    proc.wait(timeout=30)
    os.close(leader)
    assert proc.returncode == 0, seen.decode(errors="replace")
    assert b"Organisation" in seen and b"Sender address" in seen and b"Postal address" in seen
    config = load_config(target / "mailer.toml")
    assert config.settings.organisation == "Harbour Food Bank"
    assert config.settings.sender.from_email == "news@foodbank.org"
    assert config.settings.postal_address == "12 Quay Street, Bristol"


def test_init_refuses_a_malformed_sender(tmp_path: Path) -> None:
    """--from that is not an address is an error naming it; nothing is created."""
    result = CliRunner().invoke(main, ["init", str(tmp_path / "x"), "--from", "news at home"])
    assert (
        result.exit_code == 1 and "--from 'news at home' is not an email address" in result.output
    )
    assert not (tmp_path / "x").exists()


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
