"""`mailer schedule …`, `mailer run-due`, `mailer worker`: scheduled sends."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from . import console, pass_state, progress_bar, stop_on_signals

BACKENDS = ("outbox", "smtp", "sendgrid")


def _engine(state: Any) -> Any:
    from ..db import connect

    return connect(state.config.database_url)


def _when(utc: Any, local: Any) -> tuple[str, str]:
    return local.strftime("%Y-%m-%d %H:%M %Z"), utc.strftime("%Y-%m-%d %H:%M UTC")


class ScheduleGroup(click.Group):
    """A group whose first argument may be an issue file: ``schedule ISSUE …`` means
    ``schedule create ISSUE …``; ``schedule list`` and ``schedule cancel ID`` are subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


@click.group(cls=ScheduleGroup, no_args_is_help=True)
def schedule() -> None:
    """Schedule an issue for a list at a time; list and cancel schedules.

    \b
      mailer schedule ISSUE --list NAME --at WHEN [--tz ZONE]   (same as `schedule create …`)
      mailer schedule list [--all] [--json]
      mailer schedule cancel ID

    WHEN is ISO 8601 with an offset (2026-12-01T09:00+03:00) or a local time
    (2026-12-01 09:00) read in --tz (default: [schedule] timezone in mailer.toml).
    `mailer run-due` (cron, systemd timer) or `mailer worker` sends what is due.

    \b
    Example:
        mailer schedule issues/2018-03-iom-turkey.yaml --list partners --at "2026-12-01 09:00"
    """


@schedule.command("create")
@click.argument("issue", type=click.Path(dir_okay=False))
@click.option("--list", "list_name", required=True, metavar="NAME", help="Subscriber list.")
@click.option(
    "--at",
    "at",
    required=True,
    metavar="WHEN",
    help="2026-12-01T09:00+03:00, or 2026-12-01 09:00 read in --tz.",
)
@click.option("--tz", "tz", metavar="ZONE", help="IANA zone for a local WHEN, e.g. Europe/Berlin.")
@click.option("--backend", type=click.Choice(BACKENDS), help="Backend (default: config).")
@click.option(
    "--send-late",
    is_flag=True,
    help="Send even if run-due gets to it later than [schedule] max_delay.",
)
@click.option(
    "--provider-schedule",
    is_flag=True,
    help="SendGrid only: hand it to SendGrid now with send_at (at most 72 h ahead).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def create(
    state: Any,
    issue: str,
    list_name: str,
    at: str,
    tz: str | None,
    backend: str | None,
    send_late: bool,
    as_json: bool,
    provider_schedule: bool,
) -> None:
    """Validate ISSUE now (build every language, run the checks) and schedule it.

    Errors found by the checks abort scheduling (exit 1); warnings are shown.
    With --provider-schedule (sendgrid backend) the messages go to SendGrid now
    with send_at and a batch id, and `schedule cancel` cancels them there.

    \b
    Example:
        mailer schedule create issues/2018-03-iom-turkey.yaml --list partners \\
            --at 2026-12-01T09:00+03:00
    """
    from ..schedule.schedules import schedule_issue

    done = schedule_issue(
        _engine(state),
        state.config,
        issue,
        list_name,
        at=at,
        tz=tz,
        backend=backend,
        send_late=send_late,
        provider_schedule=provider_schedule,
    )
    local, utc = _when(done.when.utc, done.when.local)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "id": done.campaign_id,
                    "zone": done.when.zone,
                    "scheduled_at_local": done.when.local.isoformat(),
                    "scheduled_at_utc": done.when.utc.isoformat() + "+00:00",
                    "warnings": [str(w) for w in done.warnings],
                }
            )
        )
        return
    out = console()
    for warning in done.warnings:
        console(stderr=True).print(f"warning: {warning}", markup=False)
    out.print(
        f"Scheduled campaign {done.campaign_id}: {issue} → {list_name} at {local} "
        f"({done.when.zone}) = {utc}",
        markup=False,
    )
    if provider_schedule:
        out.print(
            "Handed to SendGrid with send_at; it holds the messages until then "
            f"(cancel with `mailer schedule cancel {done.campaign_id}`).",
            markup=False,
        )


@schedule.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also sent, cancelled and failed ones.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_state
def list_(state: Any, show_all: bool, as_json: bool) -> None:
    """Scheduled campaigns, soonest first: time in its zone and in UTC, status, list, issue.

    \b
    Example:
        mailer schedule list --json
    """
    from ..schedule.schedules import list_schedules

    rows = list_schedules(
        _engine(state), statuses=None if show_all else ("scheduled", "sending", "paused")
    )
    if as_json:
        click.echo(json.dumps([r.as_json() for r in rows], indent=2))
        return
    out = console()
    if not rows:
        out.print("No scheduled campaigns.")
        return
    header = ("ID", "When (zone)", "UTC", "Status", "List", "Issue", "Backend")
    cells = []
    for r in rows:
        local, utc = _when(r.scheduled_at, r.local)
        status = r.status + (" (late, held)" if r.late and not r.send_late else "")
        cells.append((str(r.id), local, r.zone, utc, status, r.list_name, r.issue, r.backend))
    if not out.is_terminal:  # plain, one line per campaign, for pipes and logs
        click.echo("\t".join(header))
        for c in cells:
            click.echo("\t".join((c[0], f"{c[1]} ({c[2]})", *c[3:])))
        return
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("ID", justify="right", min_width=2)
    table.add_column("When (zone)", no_wrap=True)
    table.add_column("UTC", no_wrap=True)
    table.add_column("Status", min_width=9)
    table.add_column("List", min_width=8, overflow="ellipsis")
    table.add_column("Issue", min_width=10, overflow="ellipsis", no_wrap=True)
    for c in cells:
        table.add_row(c[0], f"{c[1]}\n{c[2]}", c[3].removesuffix(" UTC"), c[4], c[5], c[6])
    out.print(table)


@schedule.command("cancel")
@click.argument("campaign_id", metavar="ID", type=int)
@pass_state
def cancel(state: Any, campaign_id: int) -> None:
    """Cancel a scheduled campaign, or one stuck sending/paused with nobody sending it.

    A campaign a live process is sending is refused (stop that process first); what
    was sent stays sent, and recipients not yet sent to are never sent to.

    \b
    Example:
        mailer schedule cancel 7
    """
    from ..schedule.schedules import ScheduleRow, cancel_schedule

    row = cancel_schedule(_engine(state), campaign_id, config=state.config)
    if not isinstance(row, ScheduleRow):  # a stuck send: sending, paused, draft or failed
        note = (
            f"; {row.accepted} recipient(s) had already got it, and a new send of the same "
            "issue to the list would reach them again"
            if row.accepted
            else "; nobody had got it"
        )
        console().print(
            f"Cancelled campaign {row.campaign_id} (was {row.was}){note}.", markup=False
        )
        return
    local, utc = _when(row.scheduled_at, row.local)
    console().print(
        f"Cancelled campaign {row.id}: {row.issue} → {row.list_name} (was due {local} = {utc})",
        markup=False,
    )


@contextmanager
def _bars(show: bool) -> Iterator[Any]:
    """Per campaign, a rich progress bar on stderr when it is a terminal; else nothing."""
    if not show:
        yield None
        return
    with progress_bar() as bar:

        def for_campaign(campaign_id: int) -> Any:
            task = bar.add_task(f"campaign {campaign_id}", total=None)
            return lambda done, total: bar.update(task, completed=done, total=total)

        yield for_campaign


def _print_report(report: Any, as_json: bool, quiet: bool) -> None:
    """Plain lines (click, not rich: a run-due from cron should not load a terminal library)."""
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
        return
    for o in report.outcomes:
        what = "resumed and " if o.resumed else "helped; " if o.helped else ""
        if o.ok:
            if not quiet:
                click.echo(f"campaign {o.campaign_id}: {what}sent")
        else:
            click.echo(f"campaign {o.campaign_id}: {o.status}: {o.error}", err=True)
    for r in report.held_late:
        local, utc = _when(r.scheduled_at, r.local)
        click.echo(
            f"campaign {r.id} ({r.issue} → {r.list_name}) was due {local} = {utc}: later "
            "than [schedule] max_delay, held; send it with `mailer run-due --send-late` "
            f"or cancel it with `mailer schedule cancel {r.id}`",
            err=True,
        )
    if report.stopped:
        click.echo("stopped by a signal; the next run resumes what is left", err=True)
    elif not report.outcomes and not report.held_late and not quiet:
        click.echo("Nothing is due.")


def _started(state: Any) -> Any:
    """The engine (configuration, SQLAlchemy and the driver loaded, the schema checked).

    What start-up builds lives as long as the process: the collector is kept out of the
    imports (each full collection there walks every module object made so far) and what
    they made is frozen, so the collections a long send triggers do not walk it again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _engine(state)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


@click.command("run-due")
@click.option("--send-late", is_flag=True, help="Also send campaigns held as later than max_delay.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report for scripts.")
@pass_state
@click.pass_context
def run_due_cmd(ctx: click.Context, state: Any, send_late: bool, as_json: bool) -> None:
    """Send every scheduled campaign that is due, resume interrupted ones, then exit.

    Safe to run every minute from cron or a systemd timer, even on several machines
    sharing one PostgreSQL: each campaign is claimed by one runner. Exit 0 when all
    is well, 1 when a send failed or a campaign is held because it is late.

    \b
    Example:
        * * * * *  cd /srv/newsletter && mailer -q run-due
    """
    from ..schedule.worker import run_due

    engine = _started(state)
    show = not (as_json or state.quiet) and sys.stderr.isatty()
    with stop_on_signals() as stop, _bars(show) as bars:
        report = run_due(
            engine,
            state.config,
            send_late=send_late,
            should_stop=stop.is_set,
            progress=bars,
        )
    _print_report(report, as_json, state.quiet)
    gc.freeze()  # the process ends now: spare the collector a last walk over what the run built
    ctx.exit(report.exit_code)


@click.command("worker")
@click.option("--send-late", is_flag=True, help="Also send campaigns held as later than max_delay.")
@click.option(
    "--max-sleep",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Longest wait (seconds) between two looks at the schedule.",
)
@pass_state
def worker_cmd(state: Any, send_late: bool, max_sleep: float) -> None:
    """Run `run-due` in a loop, sleeping until the next due time; for hosts without cron.

    SIGTERM or Ctrl-C stops it cleanly between batches; the next start resumes.

    \b
    Example:
        mailer worker --max-sleep 30
    """
    from ..schedule.worker import run_worker

    engine = _started(state)
    err = console(stderr=True)
    with stop_on_signals() as stop:
        err.print(
            f"worker started (max sleep {max_sleep:g}s); stop with SIGTERM or Ctrl-C", markup=False
        )
        run_worker(
            engine,
            state.config,
            stop,
            send_late=send_late,
            max_sleep=max_sleep,
            on_report=lambda r: _print_report(r, False, state.quiet),
            on_error=lambda e: err.print(f"error: {e}", markup=False),
        )
    err.print("worker stopped", markup=False)


def register(group: click.Group) -> None:
    """Add `schedule`, `run-due` and `worker` to *group*."""
    group.add_command(schedule)
    group.add_command(run_due_cmd)
    group.add_command(worker_cmd)
