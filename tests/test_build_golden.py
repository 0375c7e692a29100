"""Golden files: each sample issue's HTML and text part as `mailer build` writes them (merge
fields and footer links filled for the editor), compared byte for byte.

Regenerate on purpose with `make golden` (MAILER_REGENERATE_GOLDEN=1) and review the diff.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from mailer.build import build_issue, write_build
from mailer.config import load_config
from support import ROOT

GOLDEN = ROOT / "tests" / "golden"
SAMPLE = "issues/2018-03-iom-turkey.yaml"
#: (issue, its golden folder): the IOM sample, and the second sample (a food bank's
#: quarterly with letter, gallery, kicker stories and an event)
SAMPLES = [
    (SAMPLE, "en"),
    ("issues/2027-q1-harvest-bridge.yaml", "2027-q1-harvest-bridge"),
]


@pytest.mark.parametrize("name", ["index.html", "index.txt"])
@pytest.mark.parametrize(("sample", "folder"), SAMPLES)
def test_golden_sample_output(project: Path, sample: str, folder: str, name: str) -> None:
    """Each sample's English index.html and index.txt from `mailer build` equal its golden
    files."""
    write_build(sample, load_config("mailer.toml"), project / "out", lang="en")
    actual = (project / "out" / name).read_text(encoding="utf-8")
    path = GOLDEN / folder / name
    if os.environ.get("MAILER_REGENERATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        split = (
            (lambda s: s.replace("><", ">\n<").splitlines())
            if name.endswith("html")
            else str.splitlines
        )
        diff = "\n".join(
            list(difflib.unified_diff(split(expected), split(actual), lineterm=""))[:60]
        )
        pytest.fail(
            f"{name} differs from {path.relative_to(ROOT)} (run `make golden` if intended):\n{diff}"
        )


def test_golden_output_is_deterministic(project: Path) -> None:
    """Two builds of the sample are identical (no dates, ids or random values in the output)."""
    config = load_config("mailer.toml")
    first = build_issue(SAMPLE, config, lang="en")
    second = build_issue(SAMPLE, config, lang="en")
    assert (first.html, first.text, first.mjml) == (second.html, second.text, second.mjml)
