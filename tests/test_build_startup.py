"""What a `mailer build` pays once (issue 15): no Babel for shipped languages, no
markdown-it when the texts are unchanged since the last build, one issue load per
language; and the same bytes either way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from babel.core import Locale
from babel.dates import format_skeleton

from mailer.build import i18n, pipeline
from mailer.build import issue as issue_module
from mailer.build.cache import TextCache
from mailer.build.month_names import PERIOD_FORMATS, from_babel
from mailer.config import load_config
from support import ROOT

SAMPLE = ROOT / "issues" / "2018-03-iom-turkey.yaml"

BUILD = """
import json, sys
from mailer.build import write_build
from mailer.config import load_config
write_build(sys.argv[1], load_config(sys.argv[2]), sys.argv[3])
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _build(out: Path, cache: Path) -> set[str]:
    """Build the sample into *out* in a fresh process with *cache* as XDG_CACHE_HOME; the
    top-level packages that process imported."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "SOURCE_DATE_EPOCH": "1500000000"}
    proc = subprocess.run(
        [sys.executable, "-c", BUILD, str(SAMPLE), str(ROOT / "mailer.toml"), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("lang", sorted(PERIOD_FORMATS))
def test_month_table_matches_babel(lang: str) -> None:
    """The shipped month names and pattern are Babel's, for every month and for a range."""
    assert PERIOD_FORMATS[lang] == from_babel(lang)
    loc = Locale.parse(lang)
    for month in range(1, 13):
        day = date(2018, month, 1)
        assert i18n.format_period(day, day, lang) == format_skeleton("yMMMM", day, locale=loc)
    expected = (
        f"{format_skeleton('yMMMM', date(2017, 12, 1), locale=loc)} – "
        f"{format_skeleton('yMMMM', date(2018, 3, 1), locale=loc)}"
    )
    assert i18n.format_period(date(2017, 12, 1), date(2018, 3, 31), lang) == expected


def test_other_languages_still_go_through_babel() -> None:
    """A language without a table entry is written by Babel (German month names)."""
    assert i18n.format_period(date(2018, 3, 1), date(2018, 3, 9), "de") == "März 2018"


def test_second_build_imports_neither_babel_nor_markdown_it(tmp_path: Path) -> None:
    """The first build renders Markdown with markdown-it; the second, with the same texts,
    takes them from the cache; neither imports Babel, and both write the same bytes."""
    first = _build(tmp_path / "one", tmp_path / "cache")
    assert "markdown_it" in first
    assert "babel" not in first
    assert list((tmp_path / "cache" / "mailer").glob("markdown-*.json"))
    second = _build(tmp_path / "two", tmp_path / "cache")
    assert "markdown_it" not in second
    assert "babel" not in second
    for name in ("index.html", "index.txt", "index.mjml", "ar/index.html", "tr/index.txt"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_write_build_loads_the_issue_once_per_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three languages, three loads: the calendar files reuse the build's issue."""
    calls: list[str | None] = []
    real = issue_module.load_issue

    def counting(*args: object, **kwargs: object) -> issue_module.Issue:
        calls.append(kwargs.get("lang"))  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(issue_module, "load_issue", counting)
    built = pipeline.write_build(SAMPLE, load_config(ROOT / "mailer.toml"), tmp_path)
    assert [b.language for b in built] == ["en", "ar", "tr"]
    assert sorted(map(str, calls)) == ["None", "ar", "tr"]


def test_text_cache_ignores_a_broken_file_and_keys_on_the_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache file that is not JSON is ignored and rewritten; another version never
    sees the first one's entries."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = TextCache("t", "v1")
    assert cache.path is not None
    Path(cache.path).write_text("{not json", encoding="utf-8")
    assert cache.get("*hi*") is None
    cache.put("*hi*", "<em>hi</em>")
    cache.save()
    assert list(json.loads(Path(cache.path).read_text(encoding="utf-8")).values()) == [
        "<em>hi</em>"
    ]
    assert TextCache("t", "v1").get("*hi*") == "<em>hi</em>"
    assert TextCache("t", "v2").get("*hi*") is None


def test_compiled_templates_are_pruned_to_the_newest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every template path has its own compiled file; past MAX_TEMPLATES the least recently
    written go, so templates built from many folders never fill the disk, and the newest
    still load from the cache."""
    import jinja2

    from mailer.build import cache as cache_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(cache_module, "MAX_TEMPLATES", 3)
    bcc = cache_module.jinja_bytecode_cache()
    folder = tmp_path / "cache" / "mailer" / "jinja"
    keys = []
    for i in range(6):
        project = tmp_path / f"project{i}"
        project.mkdir()
        (project / "t.html").write_text(f"<p>{i} {{{{ x }}}}</p>", encoding="utf-8")
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(project), bytecode_cache=bcc)
        assert env.get_template("t.html").render(x="y") == f"<p>{i} y</p>"
        keys.append(bcc.get_cache_key("t.html", str(project / "t.html")))
        written = folder / f"__jinja2_{keys[-1]}.cache"
        os.utime(written, ns=(i * 10**9, i * 10**9))  # written in this order, whatever the clock
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"__jinja2_{key}.cache" for key in keys[3:]
    )
