"""Share and follow links with the theme's icons (issue #12 point 6): each link is the network's
icon (alt="", decorative) and its name in the reader's language, the icons are copied into the
build's assets/ (or point at assets_url when sent), and a visible " · " separates share links."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from mailer.cli import main

SAMPLE = "issues/2018-03-iom-turkey.yaml"
#: the share line's networks in each language, as readers see their names
SHARE_NAMES = {
    "en": ["Facebook", "X", "LinkedIn", "WhatsApp", "Email"],
    "ar": ["فيسبوك", "إكس", "لينكد إن", "واتساب", "البريد الإلكتروني"],
}
ICONS = ["facebook", "x", "linkedin", "whatsapp", "email"]


class Links(HTMLParser):
    """Every <a>: its href, the <img> tags inside it and its text; and the text between links."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, object]] = []
        self.between: list[str] = []  # the text after each link, up to the next tag
        self._open: dict[str, object] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open = {"href": dict(attrs).get("href"), "imgs": [], "text": ""}
        elif tag == "img" and self._open is not None:
            imgs = self._open["imgs"]
            assert isinstance(imgs, list)
            imgs.append(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.links.append(self._open)
            self.between.append("")
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open["text"] = str(self._open["text"]) + data
        elif self.between:
            self.between[-1] += data


def share_links(html: str) -> tuple[list[dict[str, object]], list[str]]:
    """The links of *html* whose href is a share URL, and the text after each of them (up to
    the next link)."""
    parser = Links()
    parser.feed(html)
    picked = [
        (link, after)
        for link, after in zip(parser.links, parser.between, strict=True)
        if str(link["href"]).startswith(
            ("https://www.facebook.com/sharer", "https://twitter.com/intent", "https://www.linkedin"
             ".com/sharing", "https://api.whatsapp.com/send", "mailto:?subject=")
        )
    ]  # fmt: skip
    return [link for link, _ in picked], [after for _, after in picked]


def test_share_links_carry_their_icons_with_the_name_once(project: Path) -> None:
    """`mailer build` gives each share link of a shared story its network's icon (alt="", 20×20)
    and the network's name in English and Arabic, " · " between links, and copies each icon
    into assets/ as a 40 px PNG."""
    result = CliRunner().invoke(main, ["build", SAMPLE, "-o", "out"])
    assert result.exit_code == 0, result.output
    for lang, folder in (("en", project / "out"), ("ar", project / "out" / "ar")):
        links, after = share_links((folder / "index.html").read_text(encoding="utf-8"))
        assert len(links) == 10, (lang, links)  # two stories with share: true, five networks
        for n, link in enumerate(links):
            imgs = link["imgs"]
            assert isinstance(imgs, list) and len(imgs) == 1, (lang, link)
            img = imgs[0]
            assert img["src"] == f"assets/icon-{ICONS[n % 5]}.png", (lang, img)
            assert img["alt"] == "" and img["width"] == "20" and img["height"] == "20", img
            assert str(link["text"]).strip() == SHARE_NAMES[lang][n % 5], (lang, link)
            if n % 5 < 4:
                assert after[n] == " · ", (lang, n, after[n])
            else:
                assert not after[n].strip().startswith("·"), (lang, n, after[n])
    for name in ICONS:
        with Image.open(project / "out" / "assets" / f"icon-{name}.png") as icon:
            assert icon.size == (40, 40) and icon.format == "PNG", name


def test_sent_share_icons_point_at_assets_url(project: Path) -> None:
    """As sent, every share and follow icon's src is under mailer.toml's assets_url, and it is
    among the assets a send uploads."""
    from mailer.build.pipeline import build_with_assets
    from mailer.config import load_config

    config = load_config(project / "mailer.toml")
    base = str(config.settings.assets_url).rstrip("/")
    rendered, assets = build_with_assets(project / SAMPLE, config, lang="en", for_send=True)
    links, _after = share_links(rendered.html)
    srcs = [img["src"] for link in links for img in link["imgs"]]  # type: ignore[attr-defined]
    assert srcs[:5] == [f"{base}/icon-{name}.png" for name in ICONS], srcs
    assert {f"assets/icon-{name}.png" for name in ICONS} <= set(assets)
    assert 'alt="Facebook"' not in rendered.html  # the follow icons too: the name is said once
