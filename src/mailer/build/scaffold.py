"""``mailer init DIR``: a new newsletter project that builds out of the box.

The skeleton ships inside the package (``mailer/skeleton``): ``mailer.toml`` and
``issues/first-issue.yaml`` with one picture. The theme (``skeleton/templates``)
is not copied: a project uses mailer's packaged theme and holds in its own
``templates/`` only the files it overrides, so upgrades of the theme reach it.
The organisation, sender address and postal address go into ``mailer.toml``;
whatever is not given stays a placeholder that ``mailer check`` warns about
(:mod:`mailer.build.findings`).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

SKELETON = Path(__file__).parent.parent / "skeleton"
#: skeleton folders that are not copied (the packaged theme is used in place)
NOT_COPIED = frozenset({"templates", "__pycache__"})
_EMAIL_RE = re.compile(r"^[^@\s\"<>]+@[^@\s\"<>]+\.[^@\s\"<>]+$")


@dataclass(frozen=True)
class Identity:
    """Who sends the newsletter: written into the new mailer.toml (placeholders when empty)."""

    organisation: str = "Example Organisation"
    from_email: str = "newsletter@example.org"
    postal_address: str = "Example Organisation, 1 Example Street, 00000 Example City, Country"


def identity(
    organisation: str | None = None, from_email: str | None = None, address: str | None = None
) -> Identity:
    """An :class:`Identity` from what the user gave (placeholders for the rest);
    ConfigError for an empty value, a line break or a malformed address."""
    given = {"--organisation": organisation, "--from": from_email, "--address": address}
    for option, value in given.items():
        if value is None:
            continue
        if not value.strip() or any(ord(c) < 32 for c in value):
            raise ConfigError(
                f"{option} must be one line of text, got {value!r}",
                hint=f'e.g. {option} "{_EXAMPLES[option]}"',
            )
    if from_email is not None and not _EMAIL_RE.match(from_email.strip()):
        raise ConfigError(
            f"--from {from_email!r} is not an email address",
            hint='e.g. --from "newsletter@foodbank.org" (the address readers see and reply to)',
        )
    default = Identity()
    return Identity(
        organisation=(organisation or default.organisation).strip(),
        from_email=(from_email or default.from_email).strip(),
        postal_address=(address or default.postal_address).strip(),
    )


_EXAMPLES = {
    "--organisation": "Harbour Food Bank",
    "--from": "newsletter@foodbank.org",
    "--address": "Harbour Food Bank, 12 Quay Street, Bristol BS1 4DJ, UK",
}


def _toml(value: str) -> str:
    """*value* as a TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def scaffold(
    directory: Path, *, name: str | None = None, who: Identity | None = None
) -> list[Path]:
    """Copy the skeleton (not the theme) into *directory* (new or empty), with *who*
    written into mailer.toml, and return the files created."""
    directory = Path(directory)
    who = who or Identity()
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ConfigError(
            f"{directory} already exists and is not empty",
            hint="choose a new folder name; mailer init never overwrites files.",
            location=str(directory),
        )
    created: list[Path] = []
    for source in sorted(SKELETON.rglob("*")):
        relative = source.relative_to(SKELETON)
        if source.is_dir() or NOT_COPIED.intersection(relative.parts):
            continue
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.name == "mailer.toml":
            title = name or directory.resolve().name.replace("-", " ").title() + " Newsletter"
            text = source.read_text(encoding="utf-8")
            for marker, value in (
                ("__NAME__", title),
                ("__ORGANISATION__", who.organisation),
                ("__FROM__", who.from_email),
                ("__ADDRESS__", who.postal_address),
            ):
                text = text.replace(marker, _toml(value))
            target.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(source, target)
        created.append(target)
    return created
