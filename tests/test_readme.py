"""README.md tells the truth: its commands exist with those options, its library snippet runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from support import ROOT, parse_mailer_argv

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _console_commands() -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", README, flags=re.S)
    lines = [ln.removeprefix("$ ").strip() for b in blocks for ln in b.splitlines()]
    return [ln for ln in lines if ln.startswith(("mailer ", "MAILER_"))]


def _argv(line: str) -> list[str]:
    words = shlex.split(line.split("#", 1)[0])
    words = [w for w in words if not re.match(r"^[A-Z_]+=", w)]  # environment assignments
    assert words[0] == "mailer", line
    return words[1:]


@pytest.mark.parametrize("line", _console_commands())
def test_readme_command_parses(line: str) -> None:
    """Every `mailer …` line in the README names a real command with real options."""
    command = parse_mailer_argv(_argv(line))
    assert not isinstance(command, click.Group) or command.invoke_without_command, line


def test_readme_command_check_can_fail() -> None:
    """The parser used above rejects a made-up option (the check above can fail)."""
    with pytest.raises(click.UsageError):
        parse_mailer_argv(["send", "issues/x.yaml", "--list", "a", "--no-such-option"])


def test_readme_shows_the_quickstart_and_the_main_commands() -> None:
    """The quickstart is `make demo` + `make test`, and the session covers the main commands."""
    assert "$ make demo" in README and "$ make test" in README
    named = {_argv(line)[0] for line in _console_commands()}
    assert {
        "build",
        "check",
        "preview",
        "subscribers",
        "send",
        "send-test",
        "schedule",
        "stats",
        "serve",
        "campaigns",
        "lists",
    } <= named


def test_readme_library_snippet_runs(project: Path) -> None:
    """The "Use as a library" snippet builds the Turkish sample and prints its subject."""
    snippet = README.split("## Use as a library", 1)[1].split("```python\n", 1)[1].split("```")[0]
    printed: list[str] = []
    exec(compile(snippet, "README.md", "exec"), {"print": lambda *a: printed.append(str(a))})
    assert printed and "Aralık 2017" in printed[0]
