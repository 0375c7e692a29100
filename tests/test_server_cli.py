"""`mailer serve` as an operator runs it: a real process with several workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from mailer.cli import main
from mailer.tracking.tokens import Signer
from support import free_port, wait_port
from tracking_helpers import BASE, SECRET, count_events, seed, wait_for
from tracking_helpers import write_config as make_config


@pytest.mark.slow
def test_serve_with_two_workers_redirects_and_records(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mailer serve --workers 2` binds 127.0.0.1, redirects clicks and records every one."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    config = make_config(tmp_path, db_url, base_url=BASE)
    s = seed(config)
    sign = Signer(SECRET.encode())
    target, link_id = next(iter(s.links.items()))
    port = free_port()
    env = {**os.environ, "MAILER_SECRET_KEY": SECRET}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mailer"), "--config", str(config.path), "serve",
         "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_port(port, timeout=30, proc=proc)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for sub in s.subscribers * 4:
                r = client.get(
                    f"/c/{sign.link(s.campaign_id, link_id)}/{sign.recipient(s.campaign_id, sub)}"
                )
                assert r.status_code == 302 and r.headers["location"] == target
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert wait_for(lambda: count_events(s.engine, "click") == 12, timeout=5), err.decode()
    assert b"serving on http://127.0.0.1:" in err


def test_serve_without_a_secret_key_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without MAILER_SECRET_KEY, serve exits 1 with how to set it, before binding."""
    monkeypatch.delenv("MAILER_SECRET_KEY", raising=False)
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'm.db'}", base_url=BASE)
    result = CliRunner().invoke(main, ["--config", str(config.path), "serve", "--port", "1"])
    assert result.exit_code == 1
    assert "MAILER_SECRET_KEY must be set" in result.output and "Traceback" not in result.output


def test_help_ends_with_examples() -> None:
    """serve and stats help end with an Example section."""
    for command in ("serve", "stats"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.output
        assert f"mailer {command}" in result.output.split("Example:", 1)[1]
