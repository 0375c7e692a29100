"""`mailer serve` (the web endpoint) and `mailer stats`: thin commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ..stats.collect import Stats
from . import State, console, pass_state


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to bind.")
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Processes."
)
@pass_state
def serve_command(state: State, host: str, port: int, workers: int) -> None:
    """Run the web endpoint: click redirects (/c/), the open pixel (/o/), one-click
    unsubscribe (/u/), "view in browser" (/v/) and the SendGrid Event Webhook
    (/webhooks/sendgrid). Needs MAILER_SECRET_KEY; the webhook needs
    MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY. Put it behind an HTTPS reverse proxy at
    tracking.base_url.

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
    help="Write a self-contained HTML report with charts to FILE.",
)
@pass_state
def stats_command(
    state: State, issue: str, campaign_id: int | None, as_json: bool, html_file: Path | None
) -> None:
    """Show what readers did with ISSUE (an issue file or its slug), adding up every
    campaign that sent it (or only --campaign ID): sent, accepted, delivered, bounced,
    unique opens, clicks and unique clickers per story, share clicks per network, follow
    clicks, unsubscribes, complaints. Security-scanner clicks are counted apart.

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
        click.echo(json.dumps(stats.as_dict(), indent=2))
        return
    if html_file is not None:
        from ..stats.report import render_html

        html_file.write_text(render_html(stats), encoding="utf-8")
        if not state.quiet:
            click.echo(f"wrote {html_file}")
        return
    _print_tables(stats)


def _print_tables(stats: Stats) -> None:
    from rich.table import Table

    out = console()
    campaigns = ", ".join(str(c) for c in stats.campaigns)
    summary = Table(title=f"{stats.slug} (campaigns {campaigns})")
    summary.add_column("figure")
    summary.add_column("count", justify="right")
    for label, value in (
        ("sent", stats.sent),
        ("accepted", stats.accepted),
        ("delivered", stats.delivered),
        ("bounced", stats.bounced),
        ("unique opens", stats.unique_opens),
        ("clicks", stats.clicks),
        ("unique clickers", stats.unique_clickers),
        ("unsubscribes", stats.unsubscribes),
        ("complaints", stats.complaints),
        ("scanner clicks (left out)", stats.scanner_clicks),
    ):
        summary.add_row(label, str(value))
    out.print(summary)
    networks = sorted({n for story in stats.stories for n in story.shares})
    stories = Table(title="clicks per story")
    for col in ("story", "clicks", "unique clickers", *[f"share {n}" for n in networks]):
        stories.add_column(col, justify="left" if col == "story" else "right")
    for st in stats.stories:
        stories.add_row(
            st.block or "(none)",
            str(st.clicks),
            str(st.unique_clickers),
            *[str(st.shares.get(n, 0)) for n in networks],
        )
    out.print(stories)
    if stats.follows:
        follows = Table(title="follow clicks per network")
        follows.add_column("network")
        follows.add_column("clicks", justify="right")
        for net, n in stats.follows.items():
            follows.add_row(net, str(n))
        out.print(follows)


def register(group: click.Group) -> None:
    """Add this module's commands to *group*."""
    group.add_command(serve_command)
    group.add_command(stats_command)
