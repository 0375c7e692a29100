"""tracking.prepare: links registered once per campaign and language, hrefs and text URLs
rewritten to signed /c/ URLs, the open pixel and the view URL, on a real database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer import db
from mailer.errors import ConfigError
from mailer.rendered import Link
from mailer.tracking import rewrite as tracking
from mailer.tracking.tokens import Signer
from tracking_helpers import BASE, LINKS, SECRET, rendered
from tracking_helpers import write_config as make_config

SIGN = Signer(SECRET.encode())


@pytest.fixture
def conn_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A campaign row on a real SQLite file; yields (engine, campaign id)."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = db.connect(url)
    with db.transaction(engine) as conn:
        list_id = db.get_or_create_list(conn, "l")
        cid = conn.execute(
            db.campaigns.insert().values(
                issue_slug="s", issue_path="/s.yaml", list_id=list_id, backend="outbox"
            )
        ).inserted_primary_key[0]
    yield engine, int(cid), url
    db.dispose_all()


def link_ids(engine, cid: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.read(engine) as conn:
        t = db.links
        return {
            r.url: int(r.id)
            for r in conn.execute(select(t.c.url, t.c.id).where(t.c.campaign_id == cid))
        }


def test_prepare_rewrites_every_web_link_and_registers_all(conn_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Web and share-by-email hrefs go through /c/<link token>/%%r%%; plain mailto stays."""
    engine, cid, url = conn_factory
    config = make_config(tmp_path, url, base_url=BASE + "/")
    with db.transaction(engine) as conn:
        out = tracking.prepare(conn, cid, rendered(), config)
    ids = link_ids(engine, cid)
    assert set(ids) == {link.url for link in LINKS}
    for link in LINKS:
        tracked = f"{BASE}/c/{SIGN.link(cid, ids[link.url])}/%%r%%"
        if link.url == "mailto:press@example.org":
            assert 'href="mailto:press@example.org"' in out.html
            assert tracked not in out.html
        else:
            assert f'href="{tracked}"' in out.html
            assert f"{link.kind}: {tracked}\n" in out.text
    assert "https://example.org/story-1" not in out.html + out.text
    assert f"{BASE}/v/{SIGN.view(cid)}" in out.html and "%%view_url%%" not in out.text
    assert "%%unsubscribe_url%%" in out.html and "/o/" not in out.html  # opens off


def test_prepare_is_once_per_campaign_and_language(conn_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Preparing the same language twice reuses the rows; another language gets its own."""
    engine, cid, url = conn_factory
    config = make_config(tmp_path, url, base_url=BASE)
    with db.transaction(engine) as conn:
        first = tracking.prepare(conn, cid, rendered(), config)
        again = tracking.prepare(conn, cid, rendered(), config)
        tracking.prepare(conn, cid, rendered(language="tr"), config)
        n = conn.execute(select(func.count()).select_from(db.links)).scalar()
    assert first.html == again.html
    assert n == 2 * len(LINKS)


def test_anonymous_opens_and_no_base_url(conn_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Anonymous links carry no %%r%%; opens add the pixel; without base_url hrefs stay."""
    engine, cid, url = conn_factory
    anon = make_config(tmp_path, url, base_url=BASE, anonymous=True, opens=True)
    with db.transaction(engine) as conn:
        out = tracking.prepare(conn, cid, rendered(), anon)
    assert "%%r%%" not in out.html + out.text and "/o/" not in out.html
    assert re.search(rf'href="{re.escape(BASE)}/c/[0-9a-z]+\.[0-9a-z]+\.[\w-]{{10}}"', out.html)

    opens = make_config(tmp_path, url, base_url=BASE, opens=True)
    with db.transaction(engine) as conn:
        out = tracking.prepare(conn, cid, rendered(language="ar"), opens)
    assert out.html.endswith(
        f'<img src="{BASE}/o/%%r%%" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px;overflow:hidden" />'
        "</body></html>"
    )

    plain = make_config(tmp_path, url)
    r = rendered(language="tr")
    with db.transaction(engine) as conn:
        out = tracking.prepare(conn, cid, r, plain)
    assert out.html == r.html.replace("%%view_url%%", "https://example.org")
    assert "/c/" not in out.html and len(link_ids(engine, cid)) == len(LINKS)


def test_text_rewrite_keeps_neighbours_and_prefixes_apart() -> None:
    """A URL that is a prefix of another, or is followed by punctuation, is replaced whole."""
    targets = {"https://a.org/x": "T1", "https://a.org/x?y=1": "T2"}
    text = "See https://a.org/x?y=1, (https://a.org/x) and https://a.org/xyz <https://a.org/x>."
    assert tracking.rewrite_text(text, targets) == "See T2, (T1) and https://a.org/xyz <T1>."


def test_html_rewrite_matches_escaped_hrefs_only() -> None:
    """An href with &amp; matches its unescaped URL; other attributes and text are untouched."""
    page = '<a class="x" href="https://a.org/?a=1&amp;b=2">https://a.org/?a=1&amp;b=2</a>'
    out = tracking.rewrite_html(page, {"https://a.org/?a=1&b=2": "https://t/c/1?q=1&r=2"})
    assert out == '<a class="x" href="https://t/c/1?q=1&amp;r=2">https://a.org/?a=1&amp;b=2</a>'


def test_tracking_needs_a_secret_key(
    conn_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """With base_url but no MAILER_SECRET_KEY, prepare stops with a ConfigError and a hint."""
    engine, cid, url = conn_factory
    monkeypatch.delenv("MAILER_SECRET_KEY")
    config = make_config(tmp_path, url, base_url=BASE)
    with (
        pytest.raises(ConfigError, match="MAILER_SECRET_KEY") as err,
        db.transaction(engine) as conn,
    ):
        tracking.prepare(conn, cid, rendered(), config)
    assert err.value.hint and "export" in err.value.hint


def test_only_web_and_share_links_are_tracked() -> None:
    """http(s) links and share-by-email links are tracked; other schemes are not."""
    assert tracking.tracked(Link("https://a.org", "b"))
    assert tracking.tracked(Link("mailto:?body=x", "b", "share:email"))
    assert not tracking.tracked(Link("mailto:a@b.org", "b"))
    assert not tracking.tracked(Link("tel:+90", "b"))
