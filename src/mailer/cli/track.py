"""`mailer serve` (the web endpoint) and `mailer stats`: thin commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from . import State, console, pass_state


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to bind.")
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Processes."
)
@pass_state
def serve_command(state: State, host: str, port: int, workers: int) -> None:
    """Run the web endpoint of tracking and the readers' pages. Needs MAILER_SECRET_KEY;
    the webhook needs MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY. Put it behind an HTTPS reverse
    proxy at tracking.base_url.

    \b
    Routes:
      /c/<link>[/<recipient>]   click redirect to the link's stored target
      /o/<recipient>            the open pixel
      /u/<recipient>            one-click unsubscribe from the campaign's list
      /p/<token>                the reader's preferences: lists, language, leave all
      /v/<token>                "view in browser", without personal data
      /subscribe?list=NAME      the sign-up form ([subscribe] lists)
      /confirm/<token>          double opt-in: a button that POSTs the confirmation
      /archive                  the public archive of sent issues ([archive] lists)
      /archive/feed.xml         its Atom feed
      /assets/<campaign>/...    each campaign's images as sent
      /leave                    how to unsubscribe (the view page's link)
      /webhooks/sendgrid        SendGrid's signed Event Webhook
      /healthz                  "ok"

    \b
    Example:
        MAILER_SECRET_KEY=... mailer serve --port 8080 --workers 2
    """
    import uvicorn

    from .. import db
    from ..tracking.rewrite import base_url, signer

    config = state.config
    signer(config)  # a missing or short MAILER_SECRET_KEY is reported before binding
    db.connect(config.database_url)
    if not base_url(config):
        click.echo("warning: tracking.base_url is not set; links will not be tracked", err=True)
    if config.path is not None:
        os.environ["MAILER_CONFIG"] = str(config.path)
    if not state.quiet:
        click.echo(f"serving on http://{host}:{port} ({workers} worker(s))", err=True)
    uvicorn.run(
        "mailer.web.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="debug" if state.debug else "warning",
        access_log=state.debug,
    )


@click.command("stats")
@click.argument("issue")
@click.option("--campaign", "campaign_id", type=int, default=None, help="Only this campaign.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write a self-contained HTML report with charts to FILE (readable on a phone).",
)
@pass_state
def stats_command(
    state: State, issue: str, campaign_id: int | None, as_json: bool, html_file: Path | None
) -> None:
    """Show what readers did with ISSUE (an issue file or its slug), adding up every
    campaign that sent it (or only --campaign ID): the subject and send times; clicks
    first, with the click rate, click-to-open and unsubscribe rate beside the counts;
    unique opens and the open rate, with the opens that look made by a privacy proxy
    (Apple Mail Privacy Protection inflates opens: read clicks first); clicks per story
    by title and per network; and this issue beside the previous ones of the same list.
    Security-scanner clicks are left out and counted apart. The JSON keys are listed in
    the docstring of mailer.stats.model.

    \b
    Example:
        mailer stats issues/2018-03-iom-turkey.yaml
        mailer stats 2018-03-iom-turkey --json
        mailer stats 2018-03-iom-turkey --html report.html
    """
    from .. import db
    from ..stats.collect import issue_stats

    engine = db.connect(state.config.database_url)
    stats = issue_stats(engine, issue, campaign_id=campaign_id)
    if as_json:
        click.echo(json.dumps(stats.as_dict(), indent=2, ensure_ascii=False))
        return
    if html_file is not None:
        from ..stats.report import write_report

        write_report(stats, html_file)
        if not state.quiet:
            click.echo(f"wrote {html_file}")
        return
    from ..stats.tables import print_tables

    print_tables(stats, console())


def register(group: click.Group) -> None:
    """Add this module's commands to *group*."""
    group.add_command(serve_command)
    group.add_command(stats_command)
