"""`mailer send`, `mailer send-test` and `mailer campaigns`: thin commands over mailer.send."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import PreflightError
from . import State, console, pass_state, progress_bar, stop_on_signals

if TYPE_CHECKING:  # each command imports what it runs: `campaigns` needs no build or sender
    from ..delivery.campaigns import CampaignResult
    from ..delivery.preflight import Preflight

BACKENDS = click.Choice(["outbox", "smtp", "sendgrid"])


@contextmanager
def _progress(enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on a terminal; nothing otherwise."""
    if not enabled:
        yield None
        return
    with progress_bar() as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _interactive() -> bool:
    """Whether someone can answer a confirmation (stdin is a terminal)."""
    return sys.stdin.isatty()


def _summary(result: CampaignResult, as_json: bool, quiet: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
        return
    out = console()
    if result.dry_run:
        out.print(f"dry run: {result.total} recipient(s) would get it; nothing was written.")
        for lang, n in result.by_language.items():
            out.print(f"  {lang}: {n}")
        for warning in result.warnings:
            out.print(f"warning: {warning}", markup=False)
        return
    if result.already_sent:
        out.print(f"campaign {result.campaign_id} was already sent; nothing to do.")
    if quiet and result.ok:
        return
    out.print(
        f"campaign {result.campaign_id}: {result.status}: {result.accepted} accepted, "
        f"{result.failed} failed, {result.unknown} unknown, {result.pending} pending, "
        f"{result.skipped} skipped (of {result.total})"
    )
    if result.error:
        click.echo(f"\n{result.error}", err=True)


@click.command("send")
@click.argument("issue", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--list", "list_name", required=True, help="The list to send to.")
@click.option("--backend", type=BACKENDS, default=None, help="Override `backend` in mailer.toml.")
@click.option("--dry-run", is_flag=True, help="Show the recipients per language; send nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--retry-unknown", is_flag=True, help="Send again to recipients held as unknown (see docs)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_state
def send_command(
    state: State,
    issue: Path,
    list_name: str,
    backend: str | None,
    dry_run: bool,
    yes: bool,
    retry_unknown: bool,
    as_json: bool,
) -> None:
    """Send ISSUE to a list, or resume its unfinished send.

    Every recipient is recorded before the request leaves and marked accepted only
    when the provider accepts it, so running the same command again after a crash
    resumes without sending anyone the issue twice. Recipients whose request got no
    answer are held as "unknown" and re-sent only with --retry-unknown. Exits 1 when
    the send did not finish (paused, failed, stopped, or recipients held unknown).

    Before anything is stored the issue is built and checked as `mailer check` does
    (errors refuse the send, warnings are shown), and the secret key, the backend's
    credentials and the list are checked. Without a terminal, --yes is required.
    SIGTERM or Ctrl-C stops after the batch in flight; the same command resumes.

    \b
    Example:
        mailer send issues/2018-03-iom-turkey.yaml --list partners --backend outbox --yes
    """
    from .. import db
    from ..build.issue import issue_slug
    from ..delivery.send import send_issue

    config = state.config
    engine = db.connect(config.database_url)
    if dry_run:
        _summary(send_issue(engine, config, issue, list_name, dry_run=True), as_json, False)
        return
    name = backend or config.settings.backend

    def confirm(checked: Preflight) -> None:
        """Show the warnings; ask on a terminal; without one, only --yes sends."""
        for warning in checked.warnings:
            click.echo(f"warning: {warning}", err=True)
        if yes:
            return
        if not _interactive():
            raise PreflightError(
                "no terminal to confirm the send, so nothing was sent",
                hint="add --yes to send without asking (after `--dry-run` to see who gets it).",
            )
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C aborts
        try:
            _ask(checked)
        finally:
            signal.signal(signal.SIGINT, previous)

    def _ask(checked: Preflight) -> None:
        click.confirm(
            f"Send {issue_slug(issue)} to {checked.recipients} recipient(s) of list "
            f"'{list_name}' with the {name} backend"
            + (f" ({len(checked.warnings)} warning(s) above)" if checked.warnings else "")
            + "?",
            abort=True,
            err=True,
        )

    def confirm_resume(reason: str) -> None:
        """A campaign paused on bad signals: name the reason; only the operator resumes it."""
        click.echo(f"This campaign was {reason}", err=True)
        if yes:
            return
        if not _interactive():
            raise PreflightError(
                "the campaign was paused on bad signals and there is no terminal to confirm "
                "the resume, so nothing was sent",
                hint="add --yes to resume it after checking the reason above.",
            )
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C aborts
        try:
            click.confirm("Resume it anyway?", abort=True, err=True)
        finally:
            signal.signal(signal.SIGINT, previous)

    show = sys.stderr.isatty() and not state.quiet and not as_json
    with stop_on_signals() as stop, _progress(show, f"sending to {list_name}") as progress:
        result = send_issue(
            engine,
            config,
            issue,
            list_name,
            backend=backend,
            retry_unknown=retry_unknown,
            progress=progress,
            confirm=confirm,
            should_stop=stop.is_set,
            confirm_resume=confirm_resume,
        )
    if stop.is_set() and result.status == "sending" and not as_json:
        click.echo(
            "stopped by a signal after the batch in flight; run the same command again "
            "to resume (nobody gets the issue twice)",
            err=True,
        )
    _summary(result, as_json, state.quiet)
    if result.unknown and not as_json:
        click.echo(
            f"After checking the provider's activity log, send them again with:\n"
            f"  mailer send {issue} --list {list_name} --retry-unknown",
            err=True,
        )
    if not result.ok:
        sys.exit(1)


@click.command("send-test")
@click.argument("issue", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--to", "to", required=True, help="Comma-separated addresses.")
@click.option("--backend", type=BACKENDS, default=None, help="Override `backend` in mailer.toml.")
@click.option("--lang", default=None, help="Language variant to send (default: the default).")
@pass_state
def send_test_command(
    state: State, issue: Path, to: str, backend: str | None, lang: str | None
) -> None:
    """Send ISSUE to a few addresses with the subject prefixed "[TEST]".

    The message is what a reader gets: with [tracking] base_url set, links go through
    the tracking redirect, the open pixel is there when tracking.opens is on, and the
    one-click List-Unsubscribe headers point at a /u/ page that unsubscribes nobody.
    Nothing is recorded as a delivery: the test is no campaign in `mailer campaigns`,
    schedules or stats, and a later `mailer send` of the issue still goes to everyone.

    \b
    Example:
        mailer send-test issues/2018-03-iom-turkey.yaml --to editor@example.org,me@example.org
    """
    addresses = [a.strip() for a in to.split(",") if a.strip()]
    if not addresses:
        raise click.BadParameter("give at least one address", param_hint="--to")
    from ..delivery.trial import send_test

    results = send_test(state.config, issue, addresses, backend=backend, lang=lang)
    bad = False
    for r in results:
        line = f"{r.email}: {r.outcome}" + (f" ({r.error})" if r.error else "")
        bad = bad or r.outcome != "accepted"
        if not state.quiet or r.outcome != "accepted":
            click.echo(line, err=r.outcome != "accepted")
    if bad:
        sys.exit(1)


@click.command("campaigns")
@click.argument("campaign_id", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_state
def campaigns_command(state: State, campaign_id: int | None, as_json: bool) -> None:
    """Show sends: status, counts by delivery state, progress and errors.

    \b
    Example:
        mailer campaigns 3 --json
    """
    from .. import db
    from ..delivery.campaigns import list_campaigns

    engine = db.connect(state.config.database_url)
    rows = list_campaigns(engine, campaign_id)
    if as_json:
        click.echo(json.dumps(rows[0] if campaign_id is not None else rows, indent=2))
        return
    out = console()
    if not sys.stdout.isatty():
        for r in rows:
            out.print(_plain(r))
        return
    from rich.table import Table

    table = Table(title="campaigns")
    for col in (
        "id",
        "issue",
        "list",
        "status",
        "backend",
        "accepted",
        "pending",
        "failed",
        "unknown",
    ):
        right = col in ("id", "accepted", "pending", "failed", "unknown")
        table.add_column(col, justify="right" if right else "left", overflow="fold")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["issue"],
            r["list"],
            r["status"],
            r["backend"],
            f"{r['accepted']}/{r['recipients']} ({r['progress']:g}%)",
            str(r["pending"]),
            str(r["failed"]),
            str(r["unknown"]),
        )
    out.print(table)
    for r in rows:
        if r["error"]:
            out.print(f"campaign {r['id']}: {r['error']}")


def _plain(r: dict[str, Any]) -> str:
    text = (
        f"{r['id']}\t{r['issue']}\t{r['list']}\t{r['status']}\t{r['backend']}\t"
        f"recipients={r['recipients']} accepted={r['accepted']} pending={r['pending']} "
        f"failed={r['failed']} unknown={r['unknown']} progress={r['progress']}%"
    )
    if r["error"]:
        text += f"\n\terror: {r['error']}"
    return text


def register(group: click.Group) -> None:
    """Add this module's commands to *group*."""
    group.add_command(send_command)
    group.add_command(send_test_command)
    group.add_command(campaigns_command)
