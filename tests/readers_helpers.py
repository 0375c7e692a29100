"""Shared by test_subscribe.py and test_preferences.py: the sample project set up for the
reader's side and `mailer serve`'s app on a known port."""

from __future__ import annotations

from contextlib import AbstractContextManager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from mailer.config import Config, load_config
from mailer.web.server import create_app
from support import free_port
from tracking_helpers import live_server

SECRET = "readers-side-secret-key-0123456789"


def configure(project: Path, monkeypatch: object, port: int, **subscribe: str) -> Config:
    """The sample project with [subscribe] and tracking.base_url at 127.0.0.1:*port*."""
    toml = project / "mailer.toml"
    text = toml.read_text(encoding="utf-8").replace(
        '# base_url = "https://news.turkey.iom.int"', f'base_url = "http://127.0.0.1:{port}"'
    )
    lines = ["", "[subscribe]", 'lists = ["partners", "press"]']
    lines += [f'{k} = "{v}"' for k, v in subscribe.items()]
    toml.write_text(text + "\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)  # type: ignore[attr-defined]
    return load_config(toml)


def serve(config: Config, port: int) -> AbstractContextManager[str]:
    """`mailer serve`'s app under uvicorn on 127.0.0.1:*port* (a thread); yields its URL."""
    return live_server(create_app(config), port)


def outbox_messages(folder: Path) -> list[EmailMessage]:
    """Every .eml under *folder*, oldest first."""
    files = sorted(folder.rglob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]  # type: ignore[misc]


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


__all__ = ["SECRET", "configure", "free_port", "outbox_messages", "serve", "text_of"]
