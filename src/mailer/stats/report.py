"""``mailer stats --html``: one self-contained HTML file (inline CSS and SVG, no
script, nothing fetched) with the figures of :class:`~mailer.stats.Stats` and bar charts
of clicks per story and share clicks per network."""

from __future__ import annotations

from html import escape

from .collect import Stats

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem;
color:#1f2933;max-width:60rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}
th,td{padding:.3rem .8rem;border-bottom:1px solid #d9dee5;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
svg text{font-size:12px;fill:#1f2933}
.muted{color:#4a5560}
"""


def bar_chart(title: str, rows: list[tuple[str, int]], colour: str = "#0033A0") -> str:
    """A horizontal bar chart as inline SVG (an accessible image with a title)."""
    if not rows:
        return f'<p class="muted">{escape(title)}: none.</p>'
    label_w, bar_w, row_h = 180, 360, 26
    top = max(n for _, n in rows) or 1
    height = row_h * len(rows) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 60}" '
        f'height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, n) in enumerate(rows):
        y = 5 + i * row_h
        w = round(bar_w * n / top)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{escape(label[:28])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{row_h - 8}" fill="{colour}">'
            f"<title>{escape(label)}: {n}</title></rect>"
            f'<text x="{label_w + w + 6}" y="{y + 16}">{n}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(head: list[str], rows: list[list[object]]) -> str:
    th = "".join(
        f'<th scope="col"{" class=n" if i else ""}>{escape(h)}</th>' for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=n' if isinstance(c, int) else ''}>{escape(str(c))}</td>" for c in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def render_html(stats: Stats) -> str:
    """The whole report for *stats*."""
    s = stats
    summary = _table(
        ["figure", "count"],
        [
            ["sent", s.sent],
            ["accepted", s.accepted],
            ["delivered", s.delivered],
            ["bounced", s.bounced],
            ["unique opens", s.unique_opens],
            ["clicks", s.clicks],
            ["unique clickers", s.unique_clickers],
            ["unsubscribes", s.unsubscribes],
            ["complaints", s.complaints],
        ],
    )
    networks = sorted({n for story in s.stories for n in story.shares})
    stories = _table(
        ["story", "clicks", "unique clickers", *[f"share: {n}" for n in networks]],
        [
            [st.block or "(none)", st.clicks, st.unique_clickers]
            + [st.shares.get(n, 0) for n in networks]
            for st in s.stories
        ],
    )
    share_totals = [(n, sum(st.shares.get(n, 0) for st in s.stories)) for n in networks]
    follows = _table(["network", "follow clicks"], [[n, c] for n, c in s.follows.items()])
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Stats: {escape(s.slug)}</title><style>{_CSS}</style></head>
<body>
<main>
<h1>Stats: {escape(s.slug)}</h1>
<p class="muted">Campaigns {", ".join(str(c) for c in s.campaigns)}. Scanner clicks
(security scanners, left out of every figure): {s.scanner_clicks}; scanner opens:
{s.scanner_opens}.</p>
<h2>Summary</h2>{summary}
<h2>Clicks per story</h2>
{bar_chart("Clicks per story", [(st.block or "(none)", st.clicks) for st in s.stories])}
{stories}
<h2>Share clicks per network</h2>
{bar_chart("Share clicks per network", share_totals, "#0072BC")}
<h2>Follow clicks per network</h2>
{follows if s.follows else '<p class="muted">none.</p>'}
</main>
</body>
</html>
"""
