"""/c/ is no open redirect: random and mutated tokens never redirect outside the issue."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.tracking.tokens import Signer
from mailer.web.server import create_app
from tracking_helpers import BASE, SECRET, live_server, raw_get, seed
from tracking_helpers import write_config as make_config

TOKEN_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.%/"


def test_random_tokens_never_redirect_outside_the_registered_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over random and mutated token strings, a 3xx always points at a registered target."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'm.db'}", base_url=BASE)
    s = seed(config)
    sign = Signer(SECRET.encode())
    registered = set(s.links)
    real = [sign.link(s.campaign_id, i) for i in s.links.values()]
    rcpt = [sign.recipient(s.campaign_id, sub) for sub in s.subscribers]

    def mutate(token: str, at: int, char: str, cut: int) -> str:
        i = at % len(token)
        return (token[:i] + char + token[i + 1 :])[: len(token) - cut % 3]

    pieces = st.one_of(
        st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=40),
        st.text(min_size=1, max_size=20).map(lambda t: quote(t, safe="")),
        st.builds(
            mutate,
            st.sampled_from(real + rcpt),
            st.integers(0, 60),
            st.sampled_from(list(TOKEN_CHARS[:64])),
            st.integers(0, 5),
        ),
        st.sampled_from(real + rcpt),
    )
    seen = {"redirects": 0, "refused": 0}

    with live_server(create_app(config)) as url:

        @settings(
            max_examples=300,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(first=pieces, second=st.none() | pieces)
        def check(first: str, second: str | None) -> None:
            path = f"/c/{first}" + (f"/{second}" if second is not None else "")
            status, location = raw_get(url, path)
            if 300 <= status < 400:
                assert location in registered, path
                seen["redirects"] += 1
            else:
                assert status in (400, 404, 405), (path, status)
                seen["refused"] += 1

        check()
    assert seen["refused"] > 0 and seen["redirects"] > 0
