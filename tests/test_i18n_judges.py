"""The Turkish and Arabic variants before the same outside judges as the English one.

axe-core in Chromium (no critical or serious violation: lang, alt, contrast), the W3C Nu
validator (no parse-level errors), SpamAssassin (score ≤ 0.5) and the size budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import judges
from judges import PageJob

ISSUE = "issues/2018-03-iom-turkey.yaml"
LANGS = ("tr", "ar")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`mailer build` of every language of the sample into one folder (DIR/tr, DIR/ar)."""
    from mailer.build import write_build
    from mailer.config import load_config
    from support import ROOT

    out = tmp_path_factory.mktemp("i18n-build")
    write_build(ROOT / ISSUE, load_config(ROOT / "mailer.toml"), out)
    return out


@pytest.fixture(scope="module")
def pages(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    jobs = [PageJob(lang, built / lang / "index.html", (600, 375), axe=True) for lang in LANGS]
    return judges.browser(jobs, tmp_path_factory.mktemp("i18n-shots"))


@pytest.mark.parametrize("lang", LANGS)
def test_axe_finds_no_serious_violation_in_translations(pages: Any, lang: str) -> None:
    """axe-core finds no critical or serious violation in the tr and ar variants at 600 and 375."""
    for width in ("600", "375"):
        bad = [
            (v["id"], v["help"])
            for v in pages[lang][width]["axe"]["violations"]
            if v["impact"] in ("critical", "serious")
        ]
        assert not bad, f"{lang} at {width}px: {bad}"
        assert pages[lang][width]["scrollWidth"] <= int(width)


def test_nu_validator_finds_no_parse_errors_in_translations(built: Path) -> None:
    """The W3C Nu validator finds no parse-level error in the tr and ar HTML."""
    paths = [built / lang / "index.html" for lang in LANGS]
    for path, messages in judges.vnu(paths).items():
        kept, _excused = judges.vnu_split(messages)
        assert not kept, f"{path}:\n{judges.describe_vnu(kept)}"


@pytest.mark.parametrize("lang", LANGS)
def test_spamassassin_scores_translations_low(built: Path, lang: str) -> None:
    """SpamAssassin (offline rules) scores the built tr and ar messages at most 0.5."""
    report = judges.spamassassin((built / lang / "message.eml").read_bytes())
    assert report.score <= 0.5, report.describe()


@pytest.mark.parametrize("lang", LANGS)
def test_translations_fit_the_size_budget(built: Path, lang: str) -> None:
    """Each variant's HTML stays under 80 KB (Arabic takes two bytes a letter in UTF-8)."""
    size = (built / lang / "index.html").stat().st_size
    assert size < 80 * 1024, f"{lang}: {size / 1024:.1f} KB"
