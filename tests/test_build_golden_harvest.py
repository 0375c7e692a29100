"""Golden files of the second sample (issues/2027-q1-harvest-bridge.yaml: a food bank's
quarterly with letter, gallery, kicker stories and an event): index.html and index.txt as
`mailer build` writes them, compared byte for byte. Regenerate on purpose with `make golden`
(MAILER_REGENERATE_GOLDEN=1) and review the diff."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from mailer.build import write_build
from mailer.config import load_config
from support import ROOT

GOLDEN = ROOT / "tests" / "golden" / "2027-q1-harvest-bridge"
SAMPLE = "issues/2027-q1-harvest-bridge.yaml"


@pytest.mark.parametrize("name", ["index.html", "index.txt"])
def test_golden_harvest_output(project: Path, name: str) -> None:
    """The second sample's index.html and index.txt from `mailer build` equal the golden files."""
    write_build(SAMPLE, load_config("mailer.toml"), project / "out", lang="en")
    actual = (project / "out" / name).read_text(encoding="utf-8")
    path = GOLDEN / name
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
        pytest.fail(f"{name} differs from {path.relative_to(ROOT)} (`make golden`):\n{diff}")
