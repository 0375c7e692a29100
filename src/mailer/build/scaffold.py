"""``mailer init DIR``: a new newsletter project that builds out of the box.

The skeleton ships inside the package (``mailer/skeleton``): ``mailer.toml``,
the default theme in ``templates/`` (the same files as the repository's
``templates/``), and ``issues/first-issue.yaml`` with one picture.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import ConfigError

SKELETON = Path(__file__).parent.parent / "skeleton"


def scaffold(directory: Path, *, name: str | None = None) -> list[Path]:
    """Copy the skeleton into *directory* (new or empty) and return the files created."""
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ConfigError(
            f"{directory} already exists and is not empty",
            hint="choose a new folder name; mailer init never overwrites files.",
            location=str(directory),
        )
    created: list[Path] = []
    for source in sorted(SKELETON.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        target = directory / source.relative_to(SKELETON)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.name == "mailer.toml":
            text = source.read_text(encoding="utf-8")
            title = name or directory.resolve().name.replace("-", " ").title() + " Newsletter"
            target.write_text(text.replace("__NAME__", title.replace('"', "'")), encoding="utf-8")
        else:
            shutil.copyfile(source, target)
        created.append(target)
    return created
