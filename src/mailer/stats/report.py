"""``mailer stats --html``: one self-contained HTML file (inline CSS and SVG, no script,
nothing fetched) with the figures of :class:`~mailer.stats.model.Stats`: the summary
(clicks first, the privacy-proxy warning beside the opens), the stories by title, the
networks, the comparison with the previous issues of the same lists, and bar charts.

It is readable on a phone: a viewport meta, charts that scale to the width (``viewBox``),
and the wide tables become one card per row below 40rem, so nothing is wider than 375 px.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from ..errors import MailerError
from .model import Stats, percent, summary_rows, when_line

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;
padding:1rem;color:#1f2933;line-height:1.4;overflow-wrap:anywhere}
main{max-width:60rem;margin:0 auto}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0;width:100%}
th,td{padding:.3rem .6rem;border-bottom:1px solid #d9dee5;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.current td{font-weight:600;background:#eef3fb}
.chart{width:100%;max-width:36rem;height:auto;display:block}
.chart text{font-size:13px;fill:#1f2933}
.muted{color:#4a5560}
.note{border-left:4px solid #b45309;background:#fff7ed;padding:.5rem .8rem}
@media (max-width:40rem){
 .cards,.cards thead,.cards tbody,.cards tr,.cards th,.cards td{display:block;width:100%}
 .cards thead{position:absolute;left:-9999px;top:0;width:1px;height:1px;overflow:hidden}
 .cards tr{border:1px solid #d9dee5;border-radius:4px;margin:0 0 .6rem;padding:.2rem 0}
 .cards td,.cards td.n{border:0;display:flex;justify-content:space-between;gap:1rem;
  text-align:right;white-space:normal}
 .cards td::before{content:attr(data-label);font-weight:600;text-align:left;color:#4a5560}
}
"""


def bar_chart(title: str, rows: list[tuple[str, int]], colour: str = "#0033A0") -> str:
    """A horizontal bar chart as inline SVG (an accessible image with a title) that
    scales to the page: each label on its own line above its bar."""
    if not rows:
        return f'<p class="muted">{escape(title)}: none.</p>'
    width, row_h = 360, 40
    top = max(n for _, n in rows) or 1
    height = row_h * len(rows) + 4
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, n) in enumerate(rows):
        y = 2 + i * row_h
        w = max(round((width - 40) * n / top), 1 if n else 0)
        short = label if len(label) <= 48 else label[:47] + "…"
        parts.append(
            f'<text x="0" y="{y + 13}">{escape(short)}</text>'
            f'<rect x="0" y="{y + 18}" width="{w}" height="14" fill="{colour}">'
            f"<title>{escape(label)}: {n}</title></rect>"
            f'<text x="{w + 6}" y="{y + 30}">{n}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _cell(label: str, value: object) -> str:
    numeric = isinstance(value, int) or str(value).endswith("%") or value == "–"
    cls = " class=n" if numeric else ""
    return f'<td{cls} data-label="{escape(label)}">{escape(str(value))}</td>'


def _table(
    head: list[str],
    rows: list[list[object]],
    current: list[bool] | None = None,
    *,
    cards: bool = True,
) -> str:
    """A table; with *cards*, one card per row on a narrow screen."""
    th = "".join(
        f'<th scope="col"{" class=n" if i else ""}>{escape(h)}</th>' for i, h in enumerate(head)
    )
    body = "".join(
        ("<tr class=current>" if current and current[i] else "<tr>")
        + "".join(_cell(h, c) for h, c in zip(head, row, strict=True))
        + "</tr>"
        for i, row in enumerate(rows)
    )
    cls = ' class="cards"' if cards else ""
    return f"<table{cls}><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def render_html(stats: Stats) -> str:
    """The whole report for *stats*."""
    s = stats
    summary = _table(["figure", "count", "rate"], [list(r) for r in summary_rows(s)], cards=False)
    networks = sorted({n for story in s.stories for n in story.shares})
    stories = _table(
        ["story", "clicks", "unique clickers", "click rate", *[f"share: {n}" for n in networks]],
        [
            [
                st.title or st.block or "(none)",
                st.clicks,
                st.unique_clickers,
                percent(st.click_rate),
            ]
            + [
                f"{st.shares[n]} ({percent(st.share_rates.get(n))})" if n in st.shares else 0
                for n in networks
            ]
            for st in s.stories
        ],
    )
    nets = _table(
        ["network", "clicks", "unique clickers", "click rate"],
        [
            [f"{n.kind}: {n.network}", n.clicks, n.unique_clickers, percent(n.click_rate)]
            for n in s.networks
        ],
    )
    share_totals = [(n, sum(st.shares.get(n, 0) for st in s.stories)) for n in networks]
    compare = _table(
        [
            "issue",
            "date",
            "list",
            "subject",
            "recipients",
            "open rate*",
            "click rate",
            "unsub rate",
        ],
        [
            [
                "this issue" if r.current else r.slug,
                (r.date or "").replace("T", " "),
                r.list,
                r.subject,
                r.recipients,
                percent(r.unique_open_rate),
                percent(r.click_rate),
                percent(r.unsubscribe_rate),
            ]
            for r in s.comparison
        ],
        [r.current for r in s.comparison],
    )
    note = (
        f'<p class="note">* {escape(s.opens_note)} {s.proxy_opens} open(s) look made by a '
        f"proxy; {s.proxy_openers} opener(s) have no other open.</p>"
        if s.opens_note
        else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stats: {escape(s.slug)}</title><style>{_CSS}</style></head>
<body>
<main>
<h1>Stats: {escape(s.slug)}</h1>
<p><strong>{escape(s.subject)}</strong></p>
<p class="muted">{escape(when_line(s))}. Campaigns {", ".join(str(c) for c in s.campaigns)}.
Rates are of the {s.recipients} recipients ({escape(s.recipients_are)}). Security-scanner
clicks ({s.scanner_clicks}) and scanner or machine opens ({s.scanner_opens}) are left out of
every figure.</p>
<h2>Summary: clicks first</h2>{summary}
{note}
<h2>Clicks per story</h2>
{bar_chart("Clicks per story", [(st.title or st.block or "(none)", st.clicks) for st in s.stories])}
{stories}
<h2>Clicks per network</h2>
{bar_chart("Share clicks per network", share_totals, "#0072BC")}
{nets if s.networks else '<p class="muted">none.</p>'}
<h2>This issue and the previous ones of the same list</h2>
{compare}
</main>
</body>
</html>
"""


def write_report(stats: Stats, path: Path) -> None:
    """Write the report of *stats* to *path*; a path that cannot be written is a
    :class:`MailerError` naming it."""
    try:
        path.write_text(render_html(stats), encoding="utf-8")
    except OSError as exc:
        raise MailerError(
            f"cannot write the report to {path}: {exc.strerror or exc}",
            hint="give --html a file in a folder that exists and that you may write to.",
        ) from None
