"""The build pipeline: the sample issue end to end, links, tokens, inliners, sanitising."""

from __future__ import annotations

import html as htmllib
import re
import shutil
from email import message_from_bytes, policy
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from click.testing import CliRunner

from mailer.build import build_issue
from mailer.build.inline import inline_css
from mailer.build.links import add_utm, share_url, shared_url
from mailer.cli import main
from mailer.config import load_config
from mailer.errors import RenderError

SAMPLE = "issues/2018-03-iom-turkey.yaml"
HEADLINES = [
    "Why Gaziantep Still Matters Seven Years After Start of Syrian Conflict",
    "IOM Turkey Highlights",
    "IOM Turkey hosts senior directors from around the world to discuss strategy and policy "
    "for displacement and mobility tracking",
    "Children’s Art Exhibition in Ankara Gives a Successful Example of the Social Cohesion "
    "between Local Turkish and Migrant Communities",
    "Bilateral Consultation between IOM and the Government of Turkey",
    "Working with Refugees and Migrants Rescued at Sea",
    "International Migrants Day Events Deepen Ties between Migrants and Local Turkish "
    "Communities, Fostering Integration",
    "UN in Turkey International Women’s Day Event: Talk for Equality. Time is Now!",
    "Continued Support for Integrated Border Management",
    "Shelter Rehabilitation Benefiting 8,600 Migrants",
    "Building Bridges through Mobile Outreach",
    "Enhancing Integration at National and Local Levels",
    "Human Rights in Removal Centres",
    "Our Stories",
    "Global Migration Film Festival in Turkey",
    "Other Videos",
    "IOM Turkey in the News",
]


def visible(document: str) -> str:
    """The words of an HTML document, tags removed and entities decoded."""
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", document)).split())


def test_mailer_build_writes_the_sample(project: Path) -> None:
    """`mailer build` writes index.html (< 80 KB), index.txt, index.mjml, message.eml, assets/."""
    result = CliRunner().invoke(main, ["build", SAMPLE, "-o", "out", "--lang", "en"])
    assert result.exit_code == 0, result.output
    out = project / "out"
    assert "out/index.html" in result.output
    html = (out / "index.html").read_text(encoding="utf-8")
    text = (out / "index.txt").read_text(encoding="utf-8")
    assert len(html.encode()) < 80 * 1024
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert '<html lang="en" dir="ltr"' in html and "<title>" in html
    assert (out / "index.mjml").read_text(encoding="utf-8").startswith("<mjml")
    for src in re.findall(r'<img[^>]*src="([^"]+)"', html):
        assert (out / src).is_file(), src
    words, plain = visible(html), " ".join(text.split())
    for headline in HEADLINES:
        assert headline in words, headline
        assert headline in plain, headline
    msg = message_from_bytes((out / "message.eml").read_bytes(), policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "%%" not in msg.get_body(("html",)).get_content()


def test_build_every_language_in_its_folder(project: Path) -> None:
    """Without --lang: the default language in OUT, every other language in OUT/<lang>."""
    translation = project / "issues" / "2018-03-iom-turkey.xx.yaml"
    translation.write_text("subject: XX subject\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["build", SAMPLE, "-o", "out"])
    assert result.exit_code == 0, result.output
    assert (project / "out" / "index.html").is_file()
    assert "XX subject" in (project / "out" / "xx" / "index.html").read_text(encoding="utf-8")


def test_links_carry_utm_and_are_listed(project: Path) -> None:
    """Every http link has UTM (content = block id) and appears once in Rendered.links."""
    r = build_issue(SAMPLE, load_config("mailer.toml"))
    hrefs = {htmllib.unescape(h) for h in re.findall(r'href="([^"]+)"', r.html)}
    listed = {link.url for link in r.links}
    assert len(listed) == len(r.links)
    assert {h for h in hrefs if not h.startswith("%%")} == listed
    read_more = next(x for x in r.links if x.kind == "read_more" and x.block == "gaziantep")
    query = parse_qs(urlsplit(read_more.url).query)
    assert query == {
        "utm_source": ["newsletter"],
        "utm_medium": ["email"],
        "utm_campaign": ["2018-03-iom-turkey"],
        "utm_content": ["gaziantep"],
    }
    kinds = {x.kind for x in r.links}
    assert {"share:facebook", "share:x", "share:linkedin", "share:whatsapp", "share:email"} <= kinds
    assert "follow:facebook" in kinds and "follow:medium" in kinds
    facebook = next(x for x in r.links if x.kind == "share:facebook" and x.block == "gaziantep")
    shared = unquote(facebook.url.split("u=", 1)[1])
    assert "utm_source=facebook&utm_medium=social&utm_campaign=2018-03-iom-turkey" in shared
    # stories with share: false get no share links
    assert not [x for x in r.links if x.block == "delbaz" and x.kind.startswith("share:")]
    for url in listed:
        if url.startswith("http"):
            assert url.startswith("https://"), url
        if url.startswith("https://") and "sharer" not in url and "intent" not in url:
            assert url in r.text or url.startswith(
                ("https://api.whatsapp", "https://www.linkedin.com/sharing")
            ), url


def test_utm_keeps_existing_query_and_can_be_off(project: Path) -> None:
    """Existing parameters stay; with tracking.utm = false no link carries UTM."""
    url = add_utm(
        "https://x.org/a?v=1&utm_source=old", source="s", medium="m", campaign="c", content="b"
    )
    assert parse_qs(urlsplit(url).query) == {
        "v": ["1"],
        "utm_source": ["s"],
        "utm_medium": ["m"],
        "utm_campaign": ["c"],
        "utm_content": ["b"],
    }
    assert shared_url("https://x.org/", "x", "c").endswith(
        "utm_source=x&utm_medium=social&utm_campaign=c"
    )
    assert share_url("email", "https://x.org/", "A & B").startswith("mailto:?subject=A%20%26%20B")
    toml = Path("mailer.toml")
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("utm = true", "utm = false"), encoding="utf-8"
    )
    r = build_issue(SAMPLE, load_config("mailer.toml"))
    assert "utm_source=newsletter" not in r.html and "utm_content" not in r.html
    assert "utm_content" not in r.text


def test_tokens_survive_and_for_send_points_images_at_assets_url(project: Path) -> None:
    """Footer tokens survive MJML and inlining; for_send rewrites local images to assets_url."""
    config = load_config("mailer.toml")
    preview = build_issue(SAMPLE, config)
    sent = build_issue(SAMPLE, config, for_send=True)
    for r in (preview, sent):
        assert 'href="%%unsubscribe_url%%"' in r.html and 'href="%%view_url%%"' in r.html
        assert "%%unsubscribe_url%%" in r.text and "%%view_url%%" in r.text
    assert 'src="assets/gaziantep.jpg"' in preview.html
    assert 'src="https://turkey.iom.int/sites/newsletter/assets/gaziantep.jpg"' in sent.html
    assert "assets/gaziantep.jpg" in sent.assets and "assets/iom-logo.png" in sent.assets
    assert all((Path(SAMPLE).parent / a).is_file() for a in sent.assets)
    toml = Path("mailer.toml")
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("assets_url =", "# assets_url ="), encoding="utf-8"
    )
    with pytest.raises(RenderError, match="assets_url"):
        build_issue(SAMPLE, load_config("mailer.toml"), for_send=True)


def test_merge_fields_in_templates_and_issue(project: Path) -> None:
    """A merge field in the issue and one in a user template both become listed tokens."""
    issue = Path(SAMPLE)
    issue.write_text(
        issue.read_text(encoding="utf-8").replace(
            "IOM Deputy Director General",
            'Dear {{ subscriber.first_name | default("friend") }}, IOM Deputy Director General',
        ),
        encoding="utf-8",
    )
    own = Path("mine")
    own.mkdir()
    footer = (Path("templates") / "footer.mjml.j2").read_text(encoding="utf-8")
    (own / "footer.mjml.j2").write_text(
        footer.replace(
            "</mj-text>",
            '({{ subscriber.email }}, {{ subscriber.city | default("Ankara") }})</mj-text>',
            1,
        ),
        encoding="utf-8",
    )
    toml = Path("mailer.toml")
    toml.write_text('templates = "mine"\n' + toml.read_text(encoding="utf-8"), encoding="utf-8")
    r = build_issue(SAMPLE, load_config("mailer.toml"))
    fields = {(m.token, m.field, m.fallback) for m in r.merge_fields}
    assert fields == {
        ("%%first_name%%", "first_name", "friend"),
        ("%%email%%", "email", ""),
        ("%%city%%", "city", "Ankara"),
    }
    assert "Dear %%first_name%%, IOM" in r.html and "Dear %%first_name%%, IOM" in r.text
    assert "(%%email%%, %%city%%)" in r.html


@pytest.mark.parametrize("inliner", ["css-inline", "premailer"])
def test_inliners_keep_doctype_media_queries_and_mso_comments(inliner: str) -> None:
    """Both inliners inline the theme's rules and keep the doctype, @media and MSO comments."""
    from mailer.build.compile import compile_mjml

    mjml = (
        '<mjml lang="en"><mj-head><mj-style>/* mailer:inline */ h2 { color: #123456 !important; }'
        '</mj-style></mj-head><mj-body><mj-section><mj-column width="50%"><mj-text><h2>Hi</h2>'
        '</mj-text></mj-column><mj-column width="50%"><mj-text>There</mj-text></mj-column>'
        "</mj-section></mj-body></mjml>"
    )
    out = inline_css(compile_mjml(mjml), inliner)
    assert out.lstrip().lower().startswith("<!doctype html>")
    assert "@media only screen and (min-width:480px)" in out
    assert "<!--[if mso | IE]>" in out
    assert re.search(r'<h2 style="[^"]*color: ?#123456 ?!important', out), out
    # MJML's own reset rules stay in <style>, not copied onto every cell
    assert "mso-table-lspace" not in re.sub(r"<style.*?</style>", "", out, flags=re.S).split(
        "<body", 1
    )[1].replace("mso-table-lspace:0pt", "")


def test_premailer_build_of_the_sample_passes_the_same_checks(project: Path) -> None:
    """The sample built with inliner = "premailer" keeps the doctype, lang and every headline."""
    toml = Path("mailer.toml")
    toml.write_text(
        toml.read_text(encoding="utf-8").replace('inliner = "css-inline"', 'inliner = "premailer"'),
        encoding="utf-8",
    )
    r = build_issue(SAMPLE, load_config("mailer.toml"))
    assert r.html.lstrip().lower().startswith("<!doctype html>")
    assert "@media" in r.html and "<!--[if mso | IE]>" in r.html
    assert len(r.html.encode()) < 80 * 1024
    words = visible(r.html)
    assert all(h in words for h in HEADLINES)


def test_hostile_issue_is_sanitised(tmp_path: Path) -> None:
    """Script, javascript: URLs, event handlers and MJML/style breakouts never reach the HTML."""
    root = Path(__file__).resolve().parent.parent
    shutil.copy(root / "mailer.toml", tmp_path / "mailer.toml")
    (tmp_path / "issues").mkdir()
    (tmp_path / "issues" / "x.png").write_bytes((root / "issues/assets/iom-logo.png").read_bytes())
    issue = tmp_path / "issues" / "hostile.yaml"
    issue.write_text(
        """subject: "<script>alert(1)</script> Hostile"
blocks:
  - type: story
    title: "</mj-text></mj-column></mj-section><mj-raw><script>alert(2)</script></mj-raw>"
    image: {src: x.png, alt: "\\" onerror=\\"alert(3)", caption: "<img src=x onerror=alert(4)>"}
    body: |
      <script>alert(5)</script> [click](javascript:alert(6)) <a href="javascript:alert(7)">a</a>
      <style>body { display: none }</style> <div style="position:fixed">x</div>
      <img src="https://evil.example/x.png" onerror="alert(8)">
      [ok](https://example.org/ok) ![i](https://evil.example/i.png)
      </mj-text><mj-raw><style>* { display:none }</style></mj-raw>
  - type: text
    body: "<iframe src='https://evil.example'></iframe> **bold**"
""",
        encoding="utf-8",
    )
    config = load_config(tmp_path / "mailer.toml")
    r = build_issue(issue, config)
    tags = Tags()
    tags.feed(r.html)
    assert not {"script", "iframe", "object", "embed", "form"} & tags.names, tags.names
    assert not [a for a in tags.attributes if a[0].startswith("on")]
    assert not [a for a in tags.attributes if "javascript:" in (a[1] or "").lower()]
    assert not [v for k, v in tags.attributes if k == "style" and "fixed" in (v or "")]
    assert not [v for k, v in tags.attributes if k == "src" and "evil.example" in (v or "")]
    assert "display" not in "".join(tags.styles).replace("display:block", "").replace(
        "display: block", ""
    ).replace("display:inline-block", "").replace("display: none !important", "")
    assert "<mj-" not in r.html
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; Hostile</title>" in r.html
    assert "<strong>bold</strong>" in r.html
    assert "https://example.org/ok?utm_source=newsletter" in r.html
    assert "<mj-raw" not in r.mjml and "<script" not in r.mjml
    assert r.mjml.count("</mj-section>") == 4  # masthead, story, text, footer: no breakout


class Tags(HTMLParser):
    """Every start tag and attribute of a document, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.add(tag)
        self.attributes.extend(attrs)
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)
            self._in_style = False


def test_build_path_imports_nothing_heavy(project: Path) -> None:
    """Building an issue imports neither sqlalchemy, sendgrid, starlette, premailer nor rich."""
    import subprocess
    import sys

    code = (
        "import sys; from mailer.build import write_build; from mailer.config import load_config; "
        f"write_build({SAMPLE!r}, load_config('mailer.toml'), 'out', lang='en'); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'sqlalchemy', 'sendgrid', 'starlette', 'premailer', 'rich', 'uvicorn'}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr
    assert Path("out/index.html").is_file()


def test_arabic_build_mirrors_the_layout(project: Path) -> None:
    """In Arabic: lang="ar" dir="rtl", columns run right to left, text aligns right."""
    r = build_issue(SAMPLE, load_config("mailer.toml"), lang="ar")
    assert r.language == "ar" and r.direction == "rtl"
    assert '<mjml lang="ar" dir="rtl">' in r.mjml
    assert 'direction="rtl"' in r.mjml and 'align="right"' in r.mjml
    assert re.search(r'<html[^>]* lang="ar"[^>]* dir="rtl"', r.html) or re.search(
        r'<html[^>]* dir="rtl"[^>]* lang="ar"', r.html
    )
    assert "%%unsubscribe_url%%" in r.text


def test_a_broken_user_template_is_a_clean_error(project: Path) -> None:
    """A syntax error in the user's templates folder: exit 1 naming the template and line."""
    own = Path("mine")
    (own / "blocks").mkdir(parents=True)
    (own / "blocks" / "divider.mjml.j2").write_text("ok\n{% if %}\n", encoding="utf-8")
    Path("issues/d.yaml").write_text("subject: D\nblocks:\n  - {type: divider}\n", encoding="utf-8")
    toml = Path("mailer.toml")
    toml.write_text('templates = "mine"\n' + toml.read_text(encoding="utf-8"), encoding="utf-8")
    result = CliRunner().invoke(main, ["build", "issues/d.yaml", "-o", "out"])
    assert result.exit_code == 1
    assert "divider.mjml.j2:2" in result.output and "Traceback" not in result.output


def test_build_refuses_a_language_the_issue_does_not_have(project: Path) -> None:
    """`--lang fr` without a French translation is a clear error, not English labelled fr."""
    result = CliRunner().invoke(main, ["build", SAMPLE, "-o", "out", "--lang", "fr"])
    assert result.exit_code == 1
    assert "no 'fr' version" in result.output and "2018-03-iom-turkey.fr.yaml" in result.output
    assert not (project / "out" / "index.html").exists()


EML_CASES = [
    {
        "from_name": "IOM Türkiye",
        "from_email": "newsletter@turkey.iom.int",
        "to": "reader@example.org",
        "to_name": "Ayşe Yılmaz",
        "subject": "IOM Türkiye Bülteni: Aralık 2017 – Mart 2018",
        "text": "héllo\n" + "x" * 200 + "\n= = trailing \n",
        "html": "<p dir=rtl>نشرة</p>" * 40,
    },
    {
        "from_name": 'Dr. "Q", Inc',
        "from_email": "a@b.org",
        "to": "x@y.org",
        "subject": "plain " + "long " * 80,
        "text": "no final newline\r\nCRLF\rCR",
        "html": "",
        "reply_to": "r@b.org",
        "headers": {
            "List-Unsubscribe": "<https://news.example.org/u/" + "y" * 120 + ">, "
            "<mailto:u@b.org?subject=unsubscribe>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    },
]


@pytest.mark.parametrize("case", EML_CASES)
def test_message_eml_is_written_like_the_email_package_writes_it(case: dict[str, Any]) -> None:
    """eml_bytes (message.eml without the email package's policies) gives the headers, parts and
    quoted-printable bodies make_message + to_bytes give, with headers unfolded."""
    from mailer.build.message import eml_bytes, make_message, to_bytes

    ours, theirs = eml_bytes(**case), to_bytes(make_message(**case))
    a = message_from_bytes(ours, policy=policy.default)
    b = message_from_bytes(theirs, policy=policy.default)
    for name in ("From", "To", "Subject", "Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert str(a[name]) == str(b[name]), name
    assert a["Date"].datetime.tzinfo is not None and a["Message-ID"].endswith(
        "@" + case["from_email"].split("@")[1] + ">"
    )
    assert [p.get_content_type() for p in a.iter_parts()] == ["text/plain", "text/html"]
    for ours_part, their_part in zip(a.iter_parts(), b.iter_parts(), strict=True):
        assert ours_part.get_content() == their_part.get_content()
        assert ours_part.get_payload() == their_part.get_payload()  # the same QP lines
    header_lines = ours.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert not [line for line in header_lines if line[:1] in (b" ", b"\t")]  # unfolded
    body_lines = ours.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
    assert max(len(line) for line in body_lines) <= 78  # as test_judges measures QP lines
