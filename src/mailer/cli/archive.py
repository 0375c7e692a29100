"""`mailer archive build`: the public archive as static files (thin command)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import db
from ..archive import build_archive
from . import State, pass_state


@click.group("archive")
def archive_group() -> None:
    """The public archive of sent issues (the lists `[archive] lists` names).

    \b
    Example:
        mailer archive build -o public/newsletter --url https://example.org/newsletter/
    """


@archive_group.command("build")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write index.html, feed.xml and one folder per issue into.",
)
@click.option(
    "--url",
    default=None,
    help="Where the folder will be published (for the feed's links); default "
    "<tracking.base_url>/archive/.",
)
@pass_state
def build_command(state: State, output: Path, url: str | None) -> None:
    """Write the archive (index, Atom feed, each issue per language) as static files for any
    web host: the same pages `mailer serve` answers under /archive/, without personal data.

    \b
    Example:
        mailer archive build -o public/newsletter --url https://example.org/newsletter/
    """
    engine = db.connect(state.config.database_url)
    count = build_archive(engine, state.config, output, url=url)
    if not state.quiet:
        if not state.config.settings.archive.lists:
            click.echo("no list is public: set [archive] lists = [...] in mailer.toml", err=True)
        click.echo(f"archive: {count} issue pages, index.html and feed.xml in {output}")


def register(group: click.Group) -> None:
    """Add this module's commands to *group*."""
    group.add_command(archive_group)
