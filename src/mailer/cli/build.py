"""`mailer build`, `mailer preview`, `mailer check`, `mailer init`: making an issue."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from . import console, pass_state


def _issue_arg(fn: Any) -> Any:
    return click.argument("issue", type=click.Path(dir_okay=False))(fn)


@click.command("build")
@_issue_arg
@click.option("-o", "--output", "out", default="out", show_default=True, help="Output folder.")
@click.option("--lang", default=None, metavar="CODE", help="Build this language only.")
@pass_state
def build_cmd(state: Any, issue: str, out: str, lang: str | None) -> None:
    """Build ISSUE into OUTPUT: index.html, index.txt, index.mjml, message.eml, assets/.

    Links carry UTM parameters but no click tracking (that belongs to a send).
    Without --lang, an issue with translations is built in every language: the
    default in OUTPUT, each other language in OUTPUT/<lang>/.

    \b
    Example:
        mailer build issues/2018-03-iom-turkey.yaml -o out/
    """
    from ..build.pipeline import write_build

    built = write_build(issue, state.config, out, lang=lang)
    if state.quiet:
        return
    for b in built:
        size = len(b.rendered.html.encode("utf-8")) / 1024
        click.echo(
            f"built {b.language}: {b.directory / 'index.html'} ({size:.1f} KB), "
            f"index.txt, index.mjml, message.eml"
        )


@click.command("check")
@_issue_arg
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@pass_state
def check_cmd(state: Any, issue: str, strict: bool, as_json: bool) -> None:
    """Pre-flight checks of ISSUE: size, alt texts, links, vague link text, TODOs,
    postal address, unsubscribe, subject length, translations.

    Exits 1 on errors (and with --strict on warnings too).

    \b
    Example:
        mailer check issues/2018-03-iom-turkey.yaml --strict
    """
    from ..build.check import check_issue

    findings = check_issue(issue, state.config)
    if as_json:
        click.echo(json.dumps([f.as_dict() for f in findings], indent=2, ensure_ascii=False))
    else:
        out = console()
        for f in findings:
            colour = "red" if f.severity == "error" else "yellow"
            out.print(f"[{colour}]{f.severity}[/{colour}] {f}", markup=True, highlight=False)
        errors = sum(1 for f in findings if f.severity == "error")
        warnings = len(findings) - errors
        if not state.quiet:
            out.print(f"{issue}: {errors} error(s), {warnings} warning(s)", markup=False)
    if any(f.severity == "error" or strict for f in findings):
        sys.exit(1)


@click.command("preview")
@_issue_arg
@click.option("--port", default=8000, show_default=True, help="Port on 127.0.0.1.")
@click.option("--open", "open_browser", is_flag=True, help="Open the preview in a browser.")
@pass_state
def preview_cmd(state: Any, issue: str, port: int, open_browser: bool) -> None:
    """Serve a live-reloading preview of ISSUE on 127.0.0.1 (desktop and mobile widths).

    The page rebuilds when the issue, its translations, mailer.toml or the
    templates change. Stop with Ctrl+C.

    \b
    Example:
        mailer preview issues/2018-03-iom-turkey.yaml --open
    """
    from ..build.preview import serve

    serve(Path(issue), state.config_path, port=port, open_browser=open_browser)


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", default=None, help="The newsletter's name.")
@click.option("--organisation", default=None, help="Who publishes it (shown in the footer).")
@click.option("--from", "from_email", default=None, metavar="EMAIL", help="The sender address.")
@click.option("--address", default=None, help="The postal address the footer must show.")
def init_cmd(
    directory: str,
    name: str | None,
    organisation: str | None,
    from_email: str | None,
    address: str | None,
) -> None:
    """Create a newsletter project in DIRECTORY that builds out of the box:
    mailer.toml and issues/ with a first issue and its image. The theme is
    mailer's own; copy into templates/ only the files you change.

    On a terminal, init asks for what --organisation, --from and --address
    leave out; otherwise those stay placeholders that `mailer check` points out.

    \b
    Example:
        mailer init food-bank-news --organisation "Harbour Food Bank" \\
            --from newsletter@foodbank.org --address "12 Quay Street, Bristol BS1 4DJ, UK"
    """
    from ..build.scaffold import Identity, identity, scaffold

    if sys.stdin.isatty():
        default = Identity()
        if organisation is None:
            organisation = _ask("Organisation (shown in the footer)", default.organisation)
        if from_email is None:
            from_email = _ask("Sender address", default.from_email)
        if address is None:
            address = _ask("Postal address (required in every issue)", default.postal_address)
    who = identity(organisation, from_email, address)
    created = scaffold(Path(directory), name=name, who=who)
    click.echo(f"created {directory} ({len(created)} files); next:")
    click.echo(f"  cd {directory} && mailer build issues/first-issue.yaml -o out/")
    if None in (organisation, from_email, address):
        click.echo("  and fill in mailer.toml: `mailer check` lists what is still a placeholder")


def _ask(question: str, placeholder: str) -> str | None:
    """One prompt; Enter leaves the placeholder (None)."""
    answer = click.prompt(
        f"{question} [Enter: {placeholder!r} for now]", default="", show_default=False
    )
    return str(answer).strip() or None


def register(group: click.Group) -> None:
    """Add this module's commands to *group*."""
    for command in (build_cmd, check_cmd, preview_cmd, init_cmd):
        group.add_command(command)
