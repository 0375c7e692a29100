"""`mailer send`, `mailer campaigns`: the thin commands over the ledger."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from faultserver import FaultServer
from mailer import db
from mailer.cli import main
from mailer.config import load_config
from mailer.delivery.send import create_campaign, store_contents
from support import send_project
from test_send import rendered, seed

ISSUE = "issues/2018-03-iom-turkey.yaml"
KEY = "SG.cli-key-that-must-never-appear.0123456789"

TOML = """
name = "CLI test"
postal_address = "IOM Turkey, Birlik Mahallesi, 06610 Ankara, Türkiye"
assets_url = "https://turkey.iom.int/sites/newsletter/assets/"
database_url = "sqlite:///{db}"
outbox_dir = "{outbox}"
default_language = "en"
[sender]
from_name = "IOM Turkey"
from_email = "newsletter@example.org"
[sending]
batch_size = 10
timeout = 0.5
max_retries = 1
max_backoff = 0.01
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config, a list of 25 and a campaign whose contents are stored."""
    send_project(tmp_path, monkeypatch)  # with the sample issue, checked
    (tmp_path / "mailer.toml").write_text(
        TOML.format(db=tmp_path / "mailer.db", outbox=tmp_path / "outbox")
    )
    return tmp_path


def _campaign(project: Path, n: int = 25) -> int:
    config = load_config(project / "mailer.toml")
    engine = db.connect(config.database_url)
    seed(engine, n)
    cid = create_campaign(engine, config, ISSUE, "partners")
    store_contents(engine, config, cid, [rendered("en")])
    return cid


def test_send_resumes_and_campaigns_reports(project: Path) -> None:
    """`send --yes` sends the campaign to the outbox; `campaigns --json` shows the counts."""
    cid = _campaign(project)
    runner = CliRunner()
    out = runner.invoke(main, ["send", ISSUE, "--list", "partners", "--backend", "outbox", "--yes"])
    assert out.exit_code == 0, out.output
    assert f"campaign {cid}: sent: 25 accepted" in out.output
    assert len(list((project / "outbox" / str(cid)).glob("*.eml"))) == 25
    listed = runner.invoke(main, ["campaigns", "--json"])
    rows = json.loads(listed.output)
    assert rows[0]["id"] == cid and rows[0]["status"] == "sent"
    assert rows[0]["accepted"] == 25 and rows[0]["progress"] == 100.0
    one = runner.invoke(main, ["campaigns", str(cid)])
    assert one.exit_code == 0 and "accepted=25" in one.output
    again = runner.invoke(main, ["send", ISSUE, "--list", "partners", "--yes"])
    assert again.exit_code == 0 and "already sent" in again.output
    assert len(list((project / "outbox" / str(cid)).glob("*.eml"))) == 25


def test_dry_run_counts_and_writes_nothing(project: Path) -> None:
    """`send --dry-run` shows the recipients per language and creates nothing."""
    config = load_config(project / "mailer.toml")
    engine = db.connect(config.database_url)
    seed(engine, 7)
    out = CliRunner().invoke(main, ["send", ISSUE, "--list", "partners", "--dry-run", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["dry_run"] is True and data["total"] == 7 and data["by_language"]["en"] == 7
    with db.read(engine) as conn:
        assert conn.execute(select(func.count()).select_from(db.campaigns)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(db.deliveries)).scalar() == 0
    assert not (project / "outbox").exists()


def test_unknown_exits_1_with_instructions_and_key_never_shows(
    project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch with no answer makes `send` exit 1 saying what to do; --debug never shows the key."""
    caplog.set_level(logging.DEBUG)
    toml = project / "mailer.toml"  # the script is one request after another
    toml.write_text(toml.read_text().replace("[sending]\n", "[sending]\nconcurrency = 1\n", 1))
    _campaign(project, 25)
    monkeypatch.setenv("SENDGRID_API_KEY", KEY)
    with FaultServer(["ok", "hang", "503", "503"], hang_seconds=1.5) as server:
        monkeypatch.setenv("MAILER_SENDGRID_HOST", server.url)
        runner = CliRunner()
        args = ["--debug", "send", ISSUE, "--list", "partners", "--backend", "sendgrid", "--yes"]
        out = runner.invoke(main, args)
        assert out.exit_code == 1, out.output
        assert "held as unknown" in out.output and "--retry-unknown" in out.output
        assert "15 accepted" in out.output and "10 unknown" in out.output
        assert f"mailer send {ISSUE} --list partners --retry-unknown" in out.output
        retry = runner.invoke(main, [*args, "--retry-unknown"])
    assert retry.exit_code == 0, retry.output
    assert "25 accepted" in retry.output
    assert sorted(server.accepted) == [f"user{i:05d}@example.com" for i in range(25)]
    everything = out.output + retry.output + caplog.text
    assert KEY not in everything and "cli-key" not in everything
    assert "Authorization" not in caplog.text


def test_send_without_a_list_fails_cleanly(project: Path) -> None:
    """Sending to a list that does not exist is a clear error, exit 1, no traceback."""
    out = CliRunner().invoke(main, ["send", ISSUE, "--list", "nobody", "--yes"])
    assert out.exit_code == 1
    assert "no list named 'nobody'" in out.output and "Traceback" not in out.output


def test_send_asks_on_a_terminal(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal `send` names the count, list and backend and sends only on yes."""
    import mailer.cli.send as cli_send

    cid = _campaign(project, 4)
    monkeypatch.setattr(cli_send, "_interactive", lambda: True)
    runner = CliRunner()
    args = ["send", ISSUE, "--list", "partners", "--backend", "outbox"]
    no = runner.invoke(main, args, input="n\n")
    assert no.exit_code == 1
    assert "to 4 recipient(s) of list 'partners' with the outbox backend?" in no.output
    assert not (project / "outbox").exists()
    yes = runner.invoke(main, args, input="y\n")
    assert yes.exit_code == 0, yes.output
    assert len(list((project / "outbox" / str(cid)).glob("*.eml"))) == 4
