"""Languages: what a translation costs on top of a build.

* ``overlay`` of the Turkish and Arabic files onto the sample's raw mapping (median of 200);
* ``missing_translations`` of the sample (what ``mailer check`` adds), median of 50;
* ``build_issue`` per language (en, tr, ar), median of 20 in process: the overlay's share of
  a build, and whether right-to-left costs anything;
* ``translations(lang)`` cold (catalogue load) and warm (cached), and ``upper`` on 10,000 words.

Figures are printed, not asserted. Run: ``python -m bench i18n``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from mailer.build import build_issue, i18n, translations
from mailer.config import load_config

ROOT = Path(__file__).resolve().parent.parent
ISSUE = ROOT / "issues" / "2018-03-iom-turkey.yaml"


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    config = load_config(ROOT / "mailer.toml")
    raw = yaml.safe_load(ISSUE.read_text(encoding="utf-8"))
    for lang in ("tr", "ar"):
        ms = _median_ms(lambda lang=lang: translations.overlay(raw, ISSUE, lang), 200)  # type: ignore[misc]
        print(f"overlay {lang}: {ms:.2f} ms (median of 200)")
    ms = _median_ms(lambda: translations.missing_translations(ISSUE, "en"), 50)
    print(f"missing_translations (tr + ar): {ms:.2f} ms (median of 50)")
    build_issue(ISSUE, config, lang="en")  # warm the template cache
    for lang in ("en", "tr", "ar"):
        ms = _median_ms(lambda lang=lang: build_issue(ISSUE, config, lang=lang), 20)  # type: ignore[misc]
        print(f"build_issue {lang}: {ms:.1f} ms (median of 20)")
    i18n.translations.cache_clear()
    start = time.perf_counter()
    i18n.translations("ar")
    cold = (time.perf_counter() - start) * 1000
    warm = _median_ms(lambda: i18n.translations("ar"), 1000) * 1000
    print(f"translations('ar'): cold {cold:.2f} ms, cached {warm:.1f} µs")
    words = ["istanbul", "ılık", "şanlıurfa", "diyarbakır"] * 2500
    ms = _median_ms(lambda: [i18n.upper(w, "tr") for w in words], 20)
    print(f"upper(…, 'tr') on 10,000 words: {ms:.2f} ms (median of 20)")


if __name__ == "__main__":
    main()
