"""The sample issue in Turkish and Arabic: golden files, RTL in Chromium, sending by language."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from support import CHROMIUM_FLAGS, NODE_MODULES, ROOT, chromium, require

ISSUE = "issues/2018-03-iom-turkey.yaml"
GOLDEN = ROOT / "tests" / "golden"
REGENERATE = os.environ.get("MAILER_REGENERATE_GOLDEN") == "1"
#: texts of the Arabic variant the browser looks for
AR_HERO_TITLE = "لماذا لا تزال غازي عنتاب مهمة"
AR_CARD_1 = "تستضيف كبار المديرين"
AR_CARD_2 = "مشاورات ثنائية"
AR_LIST_ITEM = "الطلاب السوريون والأتراك معاً"


def build(project: Path, lang: str) -> Any:
    """The sample issue of *project* built in *lang* (as previewed)."""
    from mailer.build import build_issue
    from mailer.config import load_config

    return build_issue(project / ISSUE, load_config(project / "mailer.toml"), lang=lang)


def html_tag(html: str) -> dict[str, str]:
    """Attributes of the document's <html> tag."""
    match = re.search(r"<html\b([^>]*)>", html, re.I)
    assert match, "no <html> tag"
    return {k.lower(): v for k, v in re.findall(r'([\w:-]+)="([^"]*)"', match.group(1))}


@pytest.mark.parametrize("lang", ["tr", "ar"])
def test_golden_html_and_text(project: Path, lang: str) -> None:
    """The Turkish and Arabic builds match the committed golden HTML and text parts."""
    rendered = build(project, lang)
    folder = GOLDEN / lang
    outputs = {"index.html": rendered.html, "index.txt": rendered.text}
    if REGENERATE:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in outputs.items():
            (folder / name).write_text(content, encoding="utf-8")
    for name, content in outputs.items():
        golden = folder / name
        assert golden.exists(), f"{golden} missing: run with MAILER_REGENERATE_GOLDEN=1"
        assert content == golden.read_text(encoding="utf-8"), (
            f"{lang}/{name} differs from the golden file; if intended, regenerate with "
            "MAILER_REGENERATE_GOLDEN=1 and review the diff"
        )


def test_arabic_variant_is_right_to_left_in_html_and_text(project: Path) -> None:
    """The Arabic build says lang="ar" dir="rtl", reverses the grid and sets every column rtl."""
    ar = build(project, "ar")
    assert ar.language == "ar" and ar.direction == "rtl"
    assert html_tag(ar.html).get("lang") == "ar"
    assert html_tag(ar.html).get("dir") == "rtl"
    assert 'direction="rtl"' in ar.mjml
    # Gmail drops <html> and <body> attributes: the wrapper div must say it too
    body = ar.html.split("<body", 1)[1]
    assert re.match(r'[^>]*>\s*<div[^>]*\blang="ar"[^>]*\bdir="rtl"', body), body[:300]
    assert "→" not in ar.html and "→" not in ar.text
    assert ar.html.count("direction:rtl") >= ar.html.count("mj-column-per-"), "a column is ltr"
    assert AR_HERO_TITLE in ar.html and "اقرأ المزيد" in ar.html
    assert "Noto Naskh Arabic" in ar.html
    assert '<span lang="en" dir="ltr">You receive this newsletter because' in ar.html
    assert "\\u{" not in ar.html and 'alt="دلباز مع طلابه أمام لوحة رسموها معاً"' in ar.html
    assert "«كان الأمر صعباً" in ar.html and "“" not in ar.html
    assert re.search(r"<blockquote[^>]*border-right:[^>]*font-style: ?normal", ar.html)
    assert "ديسمبر 2017 – مارس 2018" in ar.html
    lines = [line for line in ar.text.splitlines() if line.strip()]
    assert any(AR_HERO_TITLE in line for line in lines)
    mixed = [
        line
        for line in lines
        if re.search("[\u0600-\u06ff]", line) and re.match(r"[A-Za-z0-9]", line)
    ]
    assert not mixed, f"Arabic lines that start left to right without an RLM: {mixed[:3]}"


def test_turkish_variant_translates_strings_and_dates(project: Path) -> None:
    """The Turkish build has Turkish template strings, month names and lang="tr" dir="ltr"."""
    tr = build(project, "tr")
    assert html_tag(tr.html).get("lang") == "tr"
    assert html_tag(tr.html).get("dir", "ltr") == "ltr"
    assert "Devamını oku" in tr.html and "Read more" not in tr.html
    assert "Aralık 2017 – Mart 2018" in tr.html
    assert "Abonelikten çık" in tr.html
    assert "IOM Türkiye" in tr.subject


BROWSER_SCRIPT = r"""
const path = require('path');
const { chromium } = require(path.join(process.env.NODE_MODULES, 'playwright-core'));
(async () => {
  const job = JSON.parse(process.env.JOB);
  const browser = await chromium.launch({ executablePath: job.exe, args: job.args });
  const out = {};
  try {
    for (const width of [600, 375]) {
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      const tab = await context.newPage();
      await tab.route('**/*',
        (r) => r.request().url().startsWith('file:') ? r.continue() : r.abort());
      await tab.goto('file://' + job.page, { waitUntil: 'load' });
      out[width] = await tab.evaluate((probes) => {
        const find = (probe) => {
          const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          for (let n = w.nextNode(); n; n = w.nextNode()) {
            if (n.nodeValue.includes(probe)) return n.parentElement;
          }
          return null;
        };
        const info = {};
        for (const p of probes) {
          const el = find(p);
          if (!el) { info[p] = null; continue; }
          const card = el.closest('[class*="mj-column"]') || el;
          const r = card.getBoundingClientRect();
          const s = getComputedStyle(el);
          info[p] = { x: r.left, width: r.width, textAlign: s.textAlign, direction: s.direction };
        }
        let listBox = null;
        const li = find(probes[probes.length - 1]);
        const ul = li && li.closest('ul');
        if (ul) {
          const u = ul.getBoundingClientRect(), t = li.getBoundingClientRect();
          listBox = { ulLeft: u.left, ulRight: u.right, liLeft: t.left, liRight: t.right,
                        padLeft: parseFloat(getComputedStyle(ul).paddingLeft),
                        padRight: parseFloat(getComputedStyle(ul).paddingRight) };
        }
        return { dir: document.documentElement.getAttribute('dir'),
                 lang: document.documentElement.getAttribute('lang'),
                 scrollWidth: document.documentElement.scrollWidth, probes: info,
                 list: listBox };
      }, job.probes);
      await tab.screenshot({ path: path.join(job.shots, `ar-${width}.png`), fullPage: true });
      await context.close();
    }
  } finally { await browser.close(); }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { process.stderr.write(String(e.stack || e)); process.exit(2); });
"""


def test_arabic_variant_in_chromium_reads_right_to_left(project: Path, tmp_path: Path) -> None:
    """Chromium at 600 and 375 px: rtl, right-aligned, no overflow at 375, grid right to left."""
    exe = chromium()
    node = shutil.which("node")
    require(node, "node not installed")
    require((NODE_MODULES / "playwright-core").exists(), "playwright-core not installed in node/")
    translation = project / "issues" / "2018-03-iom-turkey.ar.yaml"
    text = translation.read_text(encoding="utf-8")
    one_line = "    body: كرّس دلباز، القادم من الحسكة، وقته لدعم اندماج السوريين من خلال الفن.\n"
    assert one_line in text
    translation.write_text(
        text.replace(
            one_line, f"    body: |\n      الفن يجمع:\n\n      - {AR_LIST_ITEM}\n      - ثانياً\n"
        ),
        encoding="utf-8",
    )
    page = tmp_path / "ar.html"
    page.write_text(build(project, "ar").html, encoding="utf-8")
    shots = tmp_path / "shots"
    shots.mkdir()
    job = {
        "exe": exe,
        "args": CHROMIUM_FLAGS,
        "page": str(page),
        "shots": str(shots),
        "probes": [AR_HERO_TITLE, AR_CARD_1, AR_CARD_2, AR_LIST_ITEM],
    }
    assert node
    proc = subprocess.run(
        [node, "-e", BROWSER_SCRIPT],
        env={**os.environ, "JOB": json.dumps(job), "NODE_MODULES": str(NODE_MODULES)},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = json.loads(proc.stdout)
    for width in ("600", "375"):
        seen = out[width]
        assert (seen["dir"], seen["lang"]) == ("rtl", "ar")
        assert (shots / f"ar-{width}.png").stat().st_size > 10_000
        for probe, box in seen["probes"].items():
            assert box, f"{probe!r} not found at {width} px"
            assert box["direction"] == "rtl", (probe, box)
            assert box["textAlign"] in ("right", "start"), (probe, box)
    assert out["375"]["scrollWidth"] == 375
    for width in ("600", "375"):
        lst = out[width]["list"]
        assert lst, f"no list found at {width} px"
        assert lst["padRight"] > 0 and lst["padLeft"] == 0, f"bullets not on the right: {lst}"
        assert lst["liRight"] < lst["ulRight"] and abs(lst["liLeft"] - lst["ulLeft"]) < 1, lst
    first, second = out["600"]["probes"][AR_CARD_1], out["600"]["probes"][AR_CARD_2]
    assert first["x"] > second["x"], f"grid reads left to right: {first} vs {second}"
    assert first["width"] < 400 and second["width"] < 400, "cards are not side by side at 600 px"


def test_send_gives_each_subscriber_their_language(
    project: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outbox send: tr and ar subscribers get their variant; en, fr and no language get English."""
    from mailer import db
    from mailer.audience.csvimport import import_csv
    from mailer.audience.subscribers import add
    from mailer.config import load_config
    from mailer.delivery.send import send_issue

    monkeypatch.setenv("MAILER_OUTBOX_DIR", str(project / "outbox"))
    config = load_config(project / "mailer.toml")
    engine = db.connect(db_url)
    import_csv(engine, project / "subscribers.csv.example", "partners")
    with db.transaction(engine) as conn:
        add(conn, "claire.martin@example.fr", "partners", name="Claire Martin", language="fr")
        add(conn, "no.language@example.org", "partners", name="No Language")
    result = send_issue(engine, config, project / ISSUE, "partners", backend="outbox")
    assert result.status == "sent", result
    with db.read(engine) as conn:
        langs = {str(r.email): (r.language or "") for r in conn.execute(db.subscribers.select())}
    emls = sorted((project / "outbox").rglob("*.eml"))
    assert len(emls) == result.accepted >= 10
    seen: dict[str, str] = {}
    for path in emls:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        to = str(msg["To"]).rsplit("<", 1)[-1].rstrip(">").strip()
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        seen[to] = html_tag(html).get("lang", "")
    for address, got in seen.items():
        assert lang_of(got) == lang_of(langs[address]), (address, langs[address], got)
    assert seen["claire.martin@example.fr"] == "en"
    assert seen["no.language@example.org"] == "en"
    assert {lang_of(v) for v in seen.values()} == {"en", "tr", "ar"}


def lang_of(code: str) -> str:
    """The issue variant a subscriber language gets: tr, ar, else the default en."""
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in ("tr", "ar") else "en"


def test_cli_builds_one_language_and_all_languages(project: Path) -> None:
    """`mailer build --lang tr` writes one folder; without --lang, DIR/ plus DIR/tr/ and DIR/ar/."""
    from click.testing import CliRunner

    from mailer.cli import main

    runner = CliRunner()
    one = runner.invoke(main, ["build", ISSUE, "-o", "one", "--lang", "tr"])
    assert one.exit_code == 0, one.output
    assert html_tag((project / "one" / "index.html").read_text("utf-8"))["lang"] == "tr"
    every = runner.invoke(main, ["build", ISSUE, "-o", "all"])
    assert every.exit_code == 0, every.output
    assert html_tag((project / "all" / "index.html").read_text("utf-8"))["lang"] == "en"
    for lang in ("tr", "ar"):
        built = project / "all" / lang / "index.html"
        assert html_tag(built.read_text("utf-8"))["lang"] == lang
        assert (project / "all" / lang / "index.txt").exists()


def test_sample_translations_cover_every_text(project: Path) -> None:
    """The sample's Turkish and Arabic files translate every text of the issue."""
    from mailer.build.translations import issue_languages, missing_translations

    issue = project / ISSUE
    assert issue_languages(issue, "en") == ["en", "ar", "tr"]
    assert missing_translations(issue, "en", ["en", "tr", "ar"]) == {"ar": [], "tr": []}
    missing_de = missing_translations(issue, "en", ["de"])["de"]
    assert "subject" in missing_de and "blocks.gaziantep.title" in missing_de


def test_link_labels_are_translated_in_arabic(project: Path) -> None:
    """Share and follow labels that are words ("Email", "Website") are in the reader's language."""
    ar = build(project, "ar")
    assert "> البريد الإلكتروني</a>" in ar.html  # the share link: its icon, then its name
    assert " الموقع الإلكتروني</a>" in ar.html  # the follow link: its icon, then its name
    assert 'alt="الموقع الإلكتروني"' not in ar.html  # icons are alt="": the name is said once
    assert ">Email</a>" not in ar.html and "Website</a>" not in ar.html


def test_check_lists_missing_translations_per_language(project: Path) -> None:
    """`mailer check` warns per language: a partial translation, and one mailer.toml wants."""
    from click.testing import CliRunner

    from mailer.cli import main

    issue = project / "issues" / "news.yaml"
    issue.write_text(
        "subject: News\npreheader: In brief\nblocks:\n"
        "  - {type: text, id: intro, body: Hello}\n"
        "  - {type: heading, id: more, text: More}\n",
        encoding="utf-8",
    )
    (project / "issues" / "news.tr.yaml").write_text(
        "subject: Haberler\nblocks:\n  intro: {body: Merhaba}\n", encoding="utf-8"
    )
    result = CliRunner().invoke(main, ["check", str(issue), "--json"])
    assert result.exit_code == 0, result.output
    found = [f for f in json.loads(result.output) if f["code"] == "translation"]
    messages = sorted(f["message"] for f in found)
    assert len(messages) == 2, messages
    assert messages[0].startswith("ar: 4 text(s) not translated: subject, preheader")
    assert messages[1] == "tr: 2 text(s) not translated: preheader, blocks.more.text"
