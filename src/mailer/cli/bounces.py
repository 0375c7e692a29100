"""`mailer bounces`: read the bounce mailbox once (thin: mailer.bounces does the work)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from . import State, console, pass_state

if TYPE_CHECKING:
    from ..bounces import BounceReport


@click.command("bounces")
@click.option("--dry-run", is_flag=True, help="Show what would be recorded; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.option(
    "--limit",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Read at most this many messages.",
)
@pass_state
def bounces_command(state: State, dry_run: bool, as_json: bool, limit: int) -> None:
    """Read unseen messages in the bounce mailbox ([bounces] in mailer.toml, the
    password or whole URL in MAILER_BOUNCE_URL) and record them. DSNs and the common
    non-standard bounces (Postfix, Exim, Gmail, Microsoft) are read: a hard bounce
    (5.x.x) marks the subscriber bounced; a soft one (4.x.x, delayed, a 5.7.x policy
    refusal) is counted, and [bounces] soft_limit of them from different campaigns
    within soft_days suppress the address. Recorded messages are moved to
    [bounces] processed_folder (or flagged seen); one that cannot be read is
    reported and left unseen, and the exit code is 1.

    \b
    Example:
        MAILER_BOUNCE_URL=imaps://bounces:PASSWORD@imap.example.org:993/INBOX \\
            mailer bounces --dry-run
    """
    from .. import db
    from ..bounces import read_bounces

    engine = db.connect(state.config.database_url)
    report = read_bounces(engine, state.config, dry_run=dry_run, limit=limit)
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    elif not state.quiet or report.exit_code:
        _table(report)
    raise SystemExit(report.exit_code)


def _table(report: BounceReport) -> None:
    from rich.table import Table

    out = console()
    verb = "would record" if report.dry_run else "recorded"
    counts = ", ".join(f"{n} {k}" for k, n in sorted(report.counts.items())) or "nothing"
    out.print(f"{report.mailbox}: {report.messages} message(s) read; {verb}: {counts}")
    if not report.rows:
        return
    table = Table(show_lines=False)
    for name in ("message", "outcome", "kind", "address", "campaign", "status", "note"):
        table.add_column(name)
    for r in report.rows:
        table.add_row(
            r.uid,
            r.outcome,
            r.kind,
            r.email or "",
            "" if r.campaign_id is None else str(r.campaign_id),
            r.status or "",
            f"{r.note}: {r.diagnostic}" if r.diagnostic else r.note,
        )
    out.print(table)
    if any(r.outcome == "unparseable" for r in report.rows):
        click.echo(
            "some messages could not be read: they stay unseen in the mailbox; look at them "
            "by hand (they may be auto-replies, not bounces)",
            err=True,
        )


def register(group: click.Group) -> None:
    """Add this module's commands to *group*."""
    group.add_command(bounces_command)
