"""The letter, gallery and event blocks and a story's kicker and quote headline in Arabic
(issue #12: every language, right-to-left included), measured in Chromium: the page is
dir="rtl", the texts align right, the signature's portrait sits on the right of the name,
the gallery's first photo is on the right at 600 px, and nothing scrolls sideways at 375 px.

A test rather than an Arabic translation of the second sample: the blocks are what is judged,
and a small issue that uses every new block in Arabic shows them without a second copy of the
sample's prose to keep in step with the English.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from mailer.build import write_build
from mailer.config import load_config
from support import CHROMIUM_FLAGS, NODE_MODULES, ROOT, chromium, require

ISSUE = """\
subject: "نشرة جسر الحصاد"
title: "نشرة جسر الحصاد الفصلية"
blocks:
  - type: letter
    id: director
    title: "كلمة المديرة"
    salutation: "أصدقاءنا الأعزاء،"
    body: "فرز متطوعونا هذا الشتاء **412 طنًا** من الطعام. شكرًا لكم."
    signature:
      name: "أمينة أوكافور"
      role: "مديرة جسر الحصاد"
      image: {src: assets/fb-director.jpg, alt: ""}
  - type: gallery
    id: warehouse
    title: "صباح في المستودع"
    items:
      - image:
          src: assets/fb-gallery-sorting.jpg
          alt: "متطوعون يفرزون صناديق البرتقال"
          caption: "فرز الحمضيات."
          credit: "ليا مارتن"
      - image:
          src: assets/fb-gallery-van.jpg
          alt: "شاحنة توصيل محمّلة"
          caption: "أول شاحنة تغادر في السابعة."
  - type: story
    id: kenya
    kicker: "كينيا"
    title: "فائض السوق يصبح غداءً مدرسيًا في كيسومو"
    body: "يجنّب التجار في سوق كيبويه الخضار غير المبيعة عند الإغلاق."
    url: https://example.org/harvest-bridge/kisumu
  - type: story
    id: peru
    kicker: "بيرو"
    headline: quote
    title: "نطبخ بما يمنحنا الجبل، والآن لا يُرمى شيء"
    url: https://example.org/harvest-bridge/lima
  - type: event
    id: open-day
    title: "يوم مفتوح في المستودع"
    start: 2027-04-24 10:00
    end: 2027-04-24 14:00
    timezone: Europe/London
    place: "مستودع جسر الحصاد، ليدز"
    body: "تعرّفوا إلى المتطوعين وشاهدوا كيف يصبح التبرع وجبة."
    button: {label: "احجز مكانك", url: https://example.org/harvest-bridge/open-day}
"""

SELECTORS = {
    "portrait": 'img[width="56"]',
    "signature": "td strong",
    "photo-1": 'img[alt="متطوعون يفرزون صناديق البرتقال"]',
    "photo-2": 'img[alt="شاحنة توصيل محمّلة"]',
    "kicker": 'p[style*="font-weight: bold"]',  # the story's kicker, above its title
    "quote": 'h2[style*="border-right"]',
}


def boxes(page: Path, selectors: dict[str, str]) -> Any:
    """tests/js/rtl_boxes.js: the boxes of *selectors* in *page* at 600 and 375 px in Chromium."""
    import shutil

    node = shutil.which("node")
    require(node, "node not installed (apt-get install nodejs)")
    require((NODE_MODULES / "playwright-core").exists(), "npm playwright-core not installed")
    payload = {
        "executablePath": chromium(),
        "args": [f for f in CHROMIUM_FLAGS if f != "--headless"],
        "path": str(page),
        "widths": [600, 375],
        "selectors": selectors,
    }
    proc = subprocess.run(
        [str(node), str(ROOT / "tests" / "js" / "rtl_boxes.js")],
        input=json.dumps(payload).encode(),
        capture_output=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return json.loads(proc.stdout)


def test_new_blocks_lay_out_right_to_left_in_arabic(project: Path) -> None:
    """In Arabic the page is dir="rtl" and 375 px wide at 375 px; the signature's portrait is
    right of the name, the texts align right, the gallery's first photo is on the right at
    600 px and above the second at 375 px, and the quote headline's bar is on the right."""
    toml = project / "mailer.toml"
    settings = toml.read_text(encoding="utf-8")
    assert 'default_language = "en"' in settings
    toml.write_text(settings.replace('default_language = "en"', 'default_language = "ar"'), "utf-8")
    (project / "issues" / "rtl-blocks.yaml").write_text(ISSUE, encoding="utf-8")
    out = project / "out"
    write_build("issues/rtl-blocks.yaml", load_config("mailer.toml"), out, lang="ar")
    html = (out / "index.html").read_text(encoding="utf-8")
    assert '<html lang="ar" dir="rtl"' in html
    assert "أضف إلى التقويم" in html and "كينيا" in html
    text = (out / "index.txt").read_text(encoding="utf-8")
    assert "أضف إلى التقويم" in text and "أمينة أوكافور" in text
    found = boxes(out / "index.html", SELECTORS)
    for width in ("600", "375"):
        page = found[width]
        assert page["dir"] == "rtl"
        missing = [name for name, box in page["boxes"].items() if box is None]
        assert not missing, f"not on the page at {width} px: {missing}"
        b = page["boxes"]
        assert b["portrait"]["x"] >= b["signature"]["x"] + b["signature"]["width"] - 1, (
            f"the portrait is not right of the name at {width} px: {b}"
        )
        assert b["signature"]["direction"] == "rtl" and b["kicker"]["direction"] == "rtl"
        assert b["kicker"]["textAlign"] in ("right", "start"), b["kicker"]
        assert b["quote"]["direction"] == "rtl"
    assert found["375"]["scrollWidth"] == 375, found["375"]
    wide, narrow = found["600"]["boxes"], found["375"]["boxes"]
    assert wide["photo-1"]["x"] > wide["photo-2"]["x"], "first photo not on the right at 600 px"
    assert abs(wide["photo-1"]["y"] - wide["photo-2"]["y"]) < 1, "photos not side by side"
    assert narrow["photo-2"]["y"] >= narrow["photo-1"]["y"] + narrow["photo-1"]["height"] - 1
