"""README → Scheduled sending: the cron line and systemd units name real commands and options."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from support import ROOT, parse_mailer_argv

DOC = ROOT / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def _units() -> dict[str, str]:
    units = {}
    for block in _blocks("ini"):
        first, _, _rest = block.partition("\n")
        assert first.startswith("# /etc/systemd/system/"), first
        units[first.removeprefix("# /etc/systemd/system/")] = block
    return units


def test_doc_has_cron_line_and_three_units() -> None:
    """The page carries one crontab line and the service, timer and worker units."""
    assert len(_blocks("crontab")) == 1
    assert set(_units()) == {
        "mailer-run-due.service",
        "mailer-run-due.timer",
        "mailer-worker.service",
    }


def test_cron_line_runs_a_real_command_every_minute() -> None:
    """The cron schedule is every minute and the command parses as `mailer … run-due`."""
    line = _blocks("crontab")[0].strip()
    fields = line.split(None, 5)
    assert fields[:5] == ["*"] * 5
    command = fields[5]
    mailer_part = command.split("&&", 1)[1].split(">>", 1)[0]
    argv = shlex.split(mailer_part)
    assert argv[0].endswith("bin/mailer")
    assert parse_mailer_argv(argv[1:]).name == "run-due"


@pytest.mark.parametrize(
    ("unit", "command"),
    [("mailer-run-due.service", "run-due"), ("mailer-worker.service", "worker")],
)
def test_service_execstart_names_real_subcommand_and_options(unit: str, command: str) -> None:
    """ExecStart parses with mailer's own click tree: real subcommand, real options."""
    text = _units()[unit]
    exec_start = re.search(r"^ExecStart=(.+)$", text, flags=re.M)
    assert exec_start
    argv = shlex.split(exec_start.group(1))
    assert argv[0] == "/srv/newsletter/.venv/bin/mailer"
    assert parse_mailer_argv(argv[1:]).name == command


def test_a_bad_option_would_be_caught() -> None:
    """The parser used above rejects an option mailer does not have (the check can fail)."""
    with pytest.raises(click.UsageError):
        parse_mailer_argv(["run-due", "--no-such-option"])


def test_timer_fires_every_minute_for_the_service() -> None:
    """The timer's OnCalendar is a valid every-minute expression and the pair share a name."""
    timer = _units()["mailer-run-due.timer"]
    on_calendar = re.search(r"^OnCalendar=(.+)$", timer, flags=re.M)
    assert on_calendar and on_calendar.group(1) == "*-*-* *:*:00"
    assert "WantedBy=timers.target" in timer
    assert "Type=oneshot" in _units()["mailer-run-due.service"]
    analyze = shutil.which("systemd-analyze")
    if analyze:
        out = subprocess.run(
            [analyze, "calendar", "--iterations=2", on_calendar.group(1)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "Normalized form: *-*-* *:*:00" in out


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts the units (paths pointed at this checkout)."""
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze not installed")
    mailer_bin = ROOT / ".venv" / "bin" / "mailer"
    paths = []
    for name, text in _units().items():
        text = text.replace("/srv/newsletter/.venv/bin/mailer", str(mailer_bin))
        text = text.replace("/srv/newsletter", str(tmp_path)).replace("User=newsletter\n", "")
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(str(tmp_path / name))
    proc = subprocess.run([analyze, "verify", *paths], capture_output=True, text=True)
    problems = [ln for ln in proc.stderr.splitlines() if str(tmp_path) in ln or "mailer-" in ln]
    assert proc.returncode == 0 and not problems, proc.stderr
