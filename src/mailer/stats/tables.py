"""``mailer stats`` for people: rich tables of :class:`~mailer.stats.model.Stats`, clicks
first, the privacy-proxy warning beside the opens, the stories by title, the networks and
the comparison with the previous issues of the same lists."""

from __future__ import annotations

from typing import Any

from .model import Stats, percent, summary_rows, when_line


def print_tables(stats: Stats, out: Any) -> None:
    """Print every table of *stats* on the rich console *out*."""
    from rich.markup import escape
    from rich.table import Table

    campaigns = ", ".join(str(c) for c in stats.campaigns)
    out.print(f"[bold]{escape(stats.slug)}[/bold]: {escape(stats.subject)}", highlight=False)
    out.print(f"{when_line(stats)} (campaigns {campaigns})", markup=False)
    summary = Table(title="summary (clicks first)")
    summary.add_column("figure")
    summary.add_column("count", justify="right")
    summary.add_column("rate", justify="right")
    for label, value, shown in summary_rows(stats):
        summary.add_row(label, str(value), shown)
    out.print(summary)
    if stats.opens_note:
        out.print(
            f"* {stats.opens_note} {stats.proxy_opens} open(s) look made by a proxy.",
            markup=False,
        )
    networks = sorted({n for story in stats.stories for n in story.shares})
    stories = Table(title="clicks per story")
    for col in ("story", "clicks", "unique clickers", "click rate"):
        stories.add_column(col, justify="left" if col == "story" else "right")
    for n in networks:
        stories.add_column(f"share {n}", justify="right")
    for st in stats.stories:
        stories.add_row(
            st.title or st.block or "(none)",
            str(st.clicks),
            str(st.unique_clickers),
            percent(st.click_rate),
            *[
                f"{st.shares[n]} ({percent(st.share_rates.get(n))})" if n in st.shares else "0"
                for n in networks
            ],
        )
    out.print(stories)
    if stats.networks:
        nets = Table(title="clicks per network")
        for col in ("network", "clicks", "unique clickers", "click rate"):
            nets.add_column(col, justify="left" if col == "network" else "right")
        for net in stats.networks:
            nets.add_row(
                f"{net.kind}:{net.network}",
                str(net.clicks),
                str(net.unique_clickers),
                percent(net.click_rate),
            )
        out.print(nets)
    compare = Table(title="this issue and the previous ones of the same list")
    right = {"recipients", "open rate*", "click rate", "unsub"}
    for col in ("", "date", "list", "subject", "recipients", "open rate*", "click rate", "unsub"):
        compare.add_column(col, justify="right" if col in right else "left")
    for row in stats.comparison:
        compare.add_row(
            "this" if row.current else "",
            (row.date or "")[:10],
            row.list,
            row.subject,
            str(row.recipients),
            percent(row.unique_open_rate),
            percent(row.click_rate),
            percent(row.unsubscribe_rate),
        )
    out.print(compare)
