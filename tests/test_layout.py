"""The house rules of src/mailer: stages in subpackages, layers checked by import-linter,
no reaching into another module's private names."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "mailer"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _private_imports() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            names = [a.name for a in node.names if a.name.startswith("_")]
            if names and (node.level or (node.module or "").startswith("mailer")):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: {', '.join(names)}")
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    """What two modules share has a public name in its owner."""
    assert _private_imports() == []


def test_at_most_twelve_modules_sit_directly_in_the_package() -> None:
    """The stages live in subpackages; only the shared base stays at the top."""
    top = sorted(p.name for p in SRC.glob("*.py"))
    assert len(top) <= 12, top
    stages = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    expected = {"build", "audience", "delivery", "backends", "tracking", "web", "schedule", "stats"}
    assert expected <= stages


def _lint_imports(src_root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=src_root,
        timeout=120,
    )


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed")
def test_the_layer_contracts_hold_and_catch_a_bad_import(tmp_path: Path) -> None:
    """`lint-imports` passes on the tree, and fails when the build stage imports the database."""
    clean = _lint_imports(SRC.parent)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    shutil.copytree(SRC, tmp_path / "mailer", ignore=shutil.ignore_patterns("locale", "skeleton"))
    compile_py = tmp_path / "mailer" / "build" / "compile.py"
    compile_py.write_text(compile_py.read_text() + "\nfrom .. import db  # noqa: E402\n")
    broken = _lint_imports(tmp_path)
    assert broken.returncode != 0
    assert "mailer.build.compile -> mailer.db" in broken.stdout
