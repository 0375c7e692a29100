"""`mailer subscribers forget|show`: erasure and access requests (thin commands).

The work is :mod:`mailer.audience.privacy`; these parse options, ask before erasing, and print.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .. import db
from ..audience.privacy import forget, show
from . import State, pass_state


def _case_sensitive(state: State) -> bool:
    return state.config.settings.email_case_sensitive


@click.command("forget")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Erase without asking (needed without a terminal).")
@pass_state
def forget_command(state: State, email: str, yes: bool) -> None:
    """Erase EMAIL (a GDPR/KVKK erasure request): the subscriber, lists, consents,
    deliveries and events are deleted; only a keyed hash of the address stays, so no
    later import or sign-up subscribes it again without saying so. Cannot be undone.

    \b
    Example:
        mailer subscribers forget ayse@example.org --yes
    """
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(
                "forget erases data for good: add --yes to confirm when no terminal can ask"
            )
        click.confirm(f"Erase everything held about {email.strip()}?", abort=True)
    engine = db.connect(state.config.database_url)
    with db.transaction(engine) as conn:
        done = forget(conn, email, case_sensitive_local=_case_sensitive(state))
    if state.quiet:
        return
    if not done.found:
        click.echo(
            f"no subscriber {email.strip()} was held; the address is recorded as forgotten "
            f"(events removed: {done.counts.get('events', 0)})"
        )
        return
    removed = ", ".join(f"{k} {v}" for k, v in done.counts.items())
    click.echo(f"forgotten: {email.strip()} (removed: {removed}); only a keyed hash remains")


def _print_section(title: str, rows: list[dict[str, Any]]) -> None:
    click.echo(f"\n{title} ({len(rows)})")
    for row in rows:
        click.echo("  " + ", ".join(f"{k}={v}" for k, v in row.items() if v not in (None, "")))


@click.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@pass_state
def show_command(state: State, email: str, as_json: bool) -> None:
    """Print everything held about EMAIL (a GDPR/KVKK access request): the subscriber,
    lists, consents, deliveries and events.

    \b
    Example:
        mailer subscribers show ayse@example.org --json > ayse.json
    """
    engine = db.connect(state.config.database_url)
    with db.read(engine) as conn:
        held = show(conn, email, case_sensitive_local=_case_sensitive(state))
    if as_json:
        click.echo(json.dumps(held, ensure_ascii=False, indent=2, default=str))
        return
    if held["subscriber"] is None:
        said = "it was erased on request" if held["forgotten"] else "nothing is held"
        click.echo(f"{held['email']}: no subscriber; {said}")
        return
    click.echo(f"subscriber {held['email']}")
    for key, value in held["subscriber"].items():
        click.echo(f"  {key}: {value}")
    for title in ("lists", "consents", "deliveries", "events"):
        _print_section(title, held[title])


def register(group: click.Group) -> None:
    """Add forget and show to the `subscribers` group."""
    group.add_command(forget_command)
    group.add_command(show_command)
