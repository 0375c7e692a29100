"""`mailer subscribers import|export|add|unsubscribe` and `mailer lists`: thin commands."""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from .. import db
from ..audience.csvimport import ImportFailed, ImportReport, import_file
from ..audience.sources import TOOLS
from ..audience.subscribers import add, export_csv, lists_with_counts, unsubscribe
from ..config import Config
from . import State, console, pass_state

_PROGRESS_MIN_BYTES = 1_000_000


def _engine(state: State) -> Any:
    return db.connect(state.config.database_url)


def _case_sensitive(config: Config) -> bool:
    """``email_case_sensitive`` in mailer.toml (set it before the first import, not after)."""
    return config.settings.email_case_sensitive


@click.group("subscribers")
def subscribers_group() -> None:
    """Import, export, add and unsubscribe subscribers.

    \b
    Example:
        mailer subscribers import subscribers.csv.example --list partners
    """


@subscribers_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--list", "list_name", required=True, help="List to add the subscribers to.")
@click.option(
    "--from",
    "source",
    type=click.Choice(TOOLS),
    default=None,
    help="The tool that exported FILE (by default recognised by its header).",
)
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def import_command(
    state: State, file: Path, list_name: str, source: str | None, dry_run: bool, as_json: bool
) -> None:
    """Import subscribers from a CSV FILE (or a ZIP of CSV files) into a list.

    UTF-8 (with or without BOM), comma or semicolon separated, with a header line
    naming the columns: email (or e-mail, Email Address), name (or first_name and
    last_name), language (or lang, locale), status, tags; other columns become attributes.
    The exports of Mailchimp (the audience ZIP or its CSV files), listmonk, Substack,
    Buttondown and Ghost are recognised: their statuses, unsubscribe times and reasons,
    consent and tags are kept. No import ever subscribes an address a file or the database
    says unsubscribed, bounced, complained or never confirmed (pending), in any file order;
    a file with opt-out columns mailer does not understand is refused.
    Rejected rows are listed with their line number and do not stop the import;
    it fails (exit 1) only if the file is unreadable or no row could be imported.
    The import is one transaction: interrupted, it leaves the database unchanged.

    \b
    Example:
        mailer subscribers import partners.csv --list partners --dry-run
        mailer subscribers import mailchimp_export.zip --list partners
    """
    engine = _engine(state)
    # what start-up built (SQLAlchemy's module objects, the config) lives as long as this
    # one-shot process: out of the collector's way, so the import's full collections do not
    # walk it again and again (about 10% of a 200k-row import's CPU)
    gc.freeze()
    try:
        reports = _run_import(state, engine, file, list_name, dry_run, source)
    except ImportFailed as exc:
        _print_reports([exc.report], as_json, state.quiet)
        raise
    _print_reports(reports, as_json, state.quiet)


def _run_import(
    state: State, engine: Any, file: Path, list_name: str, dry_run: bool, source: str | None
) -> list[ImportReport]:
    kwargs: dict[str, Any] = {
        "dry_run": dry_run,
        "case_sensitive_local": _case_sensitive(state.config),
        "source": source,
    }
    size = file.stat().st_size if file.is_file() else 0
    is_zip = file.suffix.lower() == ".zip"
    if not sys.stderr.isatty() or state.quiet or size < _PROGRESS_MIN_BYTES or is_zip:
        return import_file(engine, file, list_name, **kwargs)
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(f"importing {file.name}", total=size)
        return import_file(
            engine,
            file,
            list_name,
            progress=lambda done: bar.update(task, completed=done),
            **kwargs,
        )


def _print_reports(reports: list[ImportReport], as_json: bool, quiet: bool) -> None:
    """One report per file read; JSON: the report, or a list of them for a ZIP."""
    if as_json:
        data: Any = [r.as_dict() for r in reports] if len(reports) > 1 else reports[0].as_dict()
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for report in reports:
        if sys.stdout.isatty():
            _print_report(report, quiet)
        else:
            _print_report_plain(report, quiet)


def _tool(report: ImportReport) -> str:
    return f" ({report.tool_label})" if report.tool != "csv" else ""


def _print_report(report: ImportReport, quiet: bool) -> None:
    from rich.table import Table

    out = console()
    title = f"{report.file}{_tool(report)} → list {report.list_name}" + (
        " (dry run: nothing written)" if report.dry_run else ""
    )
    summary = Table(title=title, show_header=True)
    summary.add_column("outcome")
    summary.add_column("rows", justify="right")
    summary.add_row("added", str(report.added))
    summary.add_row("updated", str(report.updated))
    summary.add_row("unchanged", str(report.unchanged))
    for reason, count in sorted(report.skipped.items()):
        summary.add_row(f"skipped: {reason}", str(count))
    summary.add_row("rejected", str(len(report.rejected)))
    summary.add_row("rows read", str(report.rows))
    for status, count in sorted(report.statuses.items()):
        summary.add_row(f"in the file: {status}", str(count))
    if report.consents:
        summary.add_row("consent records", str(report.consents))
    out.print(summary)
    for note, count in sorted(report.notes.items()):
        out.print(f"note: {note} ({count} row{'s' if count != 1 else ''})")
    if report.rejected:
        out.print(_rows_table("rejected rows", "value", report.rejected))
    if report.skipped_rows and not quiet and len(report.skipped_rows) <= 100:
        out.print(_rows_table("skipped rows", "email", report.skipped_rows))


def _rows_table(title: str, what: str, rows: Any) -> Any:
    """A table of report rows: line, address (or raw value), why."""
    from rich.table import Table

    table = Table(title=title, show_header=True)
    table.add_column("line", justify="right")
    table.add_column(what)
    table.add_column("why")
    for row in rows:
        table.add_row(str(row.line), row.email, row.reason)
    return table


def _print_report_plain(report: ImportReport, quiet: bool) -> None:
    """The report as plain lines (not a terminal: logs, pipes, cron mail)."""
    dry = " (dry run: nothing written)" if report.dry_run else ""
    click.echo(f"{report.file}{_tool(report)} -> list {report.list_name}{dry}")
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(report.skipped.items()))
    click.echo(
        f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
        f"skipped {sum(report.skipped.values())}{f' ({skipped})' if skipped else ''}, "
        f"rejected {len(report.rejected)}, rows read {report.rows}"
    )
    statuses = ", ".join(f"{status} {n}" for status, n in sorted(report.statuses.items()))
    consents = f"; consent records {report.consents}" if report.consents else ""
    click.echo(f"in the file: {statuses or 'no rows'}{consents}")
    for note, count in sorted(report.notes.items()):
        click.echo(f"note: {note} ({count} row{'s' if count != 1 else ''})")
    for r in report.rejected:
        click.echo(f"rejected: line {r.line}: {r.email}: {r.reason}")
    if not quiet:
        for s in report.skipped_rows[:100]:
            click.echo(f"skipped: line {s.line}: {s.email}: {s.reason}")


@subscribers_group.command("export")
@click.option("--list", "list_name", default=None, help="Only members of this list.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to FILE (UTF-8 with BOM, for spreadsheets) instead of standard output.",
)
@pass_state
def export_command(state: State, list_name: str | None, output: Path | None) -> None:
    """Export subscribers as CSV: email,name,language,status,lists, attributes, timestamps.

    Cells a spreadsheet would run as a formula (starting with = + - @) get a leading '.
    The file imports back with `mailer subscribers import`.

    \b
    Example:
        mailer subscribers export --list partners -o partners.csv
    """
    engine = _engine(state)
    with db.read(engine) as conn:
        if output is None:
            export_csv(conn, sys.stdout, list_name=list_name)
            return
        tmp = output.with_name(output.name + ".part")
        try:
            with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
                count = export_csv(conn, fh, list_name=list_name)
            os.replace(tmp, output)
        finally:
            tmp.unlink(missing_ok=True)
    if not state.quiet:
        click.echo(f"exported {count} subscribers to {output}", err=True)


@subscribers_group.command("add")
@click.argument("email")
@click.option("--list", "list_name", required=True, help="List to add the subscriber to.")
@click.option("--name", default=None, help="Full name.")
@click.option("--language", default=None, help="BCP 47 language code, e.g. en, tr, ar.")
@click.option(
    "--resubscribe",
    is_flag=True,
    help="Subscribe again someone who unsubscribed, bounced or complained (only on their word).",
)
@pass_state
def add_command(
    state: State,
    email: str,
    list_name: str,
    name: str | None,
    language: str | None,
    resubscribe: bool,
) -> None:
    """Add EMAIL to a list, or update the subscriber's name and language.

    \b
    Example:
        mailer subscribers add ayse@example.org --list partners --name "Ayşe Demir" --language tr
    """
    engine = _engine(state)
    with db.transaction(engine) as conn:
        result = add(
            conn,
            email,
            list_name,
            name=name,
            language=language,
            resubscribe=resubscribe,
            case_sensitive_local=_case_sensitive(state.config),
        )
    if not state.quiet:
        click.echo(f"{result.outcome}: {result.email} (list {list_name})")


@subscribers_group.command("unsubscribe")
@click.argument("email")
@pass_state
def unsubscribe_command(state: State, email: str) -> None:
    """Unsubscribe EMAIL: it gets no newsletter again and no import re-subscribes it.

    \b
    Example:
        mailer subscribers unsubscribe ayse@example.org
    """
    engine = _engine(state)
    with db.transaction(engine) as conn:
        previous = unsubscribe(conn, email, case_sensitive_local=_case_sensitive(state.config))
    if not state.quiet:
        if previous == db.SubscriberStatus.SUBSCRIBED:
            click.echo(f"unsubscribed: {email.strip()}")
        else:
            click.echo(f"{email.strip()} was already {previous}; nothing changed")


@subscribers_group.command("form")
@click.option("--list", "list_name", required=True, help="A list named in [subscribe] lists.")
@pass_state
def form_command(state: State, list_name: str) -> None:
    """Print an HTML sign-up form for the organisation's website: it posts to
    <tracking.base_url>/subscribe (mailer serve), which sends the confirmation email.
    Works without JavaScript; style it with your site's CSS.

    \b
    Example:
        mailer subscribers form --list partners > signup-snippet.html
    """
    from ..web.readerpages import form_html

    settings = state.config.settings
    if list_name not in settings.subscribe.lists:
        known = ", ".join(settings.subscribe.lists) or "none yet"
        raise click.ClickException(
            f"list {list_name!r} takes no sign-ups (lists in [subscribe] lists: {known}); "
            f'add it to mailer.toml: [subscribe] lists = ["{list_name}"]'
        )
    base = (settings.tracking.base_url or "").rstrip("/")
    if not base:
        raise click.ClickException(
            "tracking.base_url is not set: the form must post to the public address of "
            'mailer serve; set [tracking] base_url = "https://news.example.org" in mailer.toml'
        )
    click.echo(form_html(settings, list_name, action=f"{base}/subscribe"))


@click.command("lists")
@click.option("--json", "as_json", is_flag=True, help="Print the lists as JSON.")
@pass_state
def lists_command(state: State, as_json: bool) -> None:
    """Show every list with its members counted by status.

    \b
    Example:
        mailer lists --json
    """
    engine = _engine(state)
    with db.read(engine) as conn:
        rows = lists_with_counts(conn)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no lists yet: `mailer subscribers import FILE --list NAME` creates one")
        return
    statuses = [s.value for s in db.SubscriberStatus]
    if not sys.stdout.isatty():
        click.echo("\t".join(["list", *statuses, "total"]))
        for r in rows:
            click.echo("\t".join([r.name, *(str(r.counts[s]) for s in statuses), str(r.total)]))
        return
    from rich.table import Table

    table = Table(show_header=True)
    table.add_column("list")
    for s in statuses:
        table.add_column(s, justify="right")
    table.add_column("total", justify="right")
    for r in rows:
        table.add_row(r.name, *(str(r.counts[s]) for s in statuses), str(r.total))
    console().print(table)


def register(group: click.Group) -> None:
    """Add this module's commands to *group*."""
    from . import privacy

    privacy.register(subscribers_group)  # forget, show
    group.add_command(subscribers_group)
    group.add_command(lists_command)
