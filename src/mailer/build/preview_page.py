"""What the ``mailer preview`` server sends besides the email: the page around it, the
"Unsubscribe explains" page, and the versioned image addresses that let the browser keep
the images across reloads (an edit then costs one request, the email's HTML)."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Preview: {title}</title>
<style>
body {{ margin: 0; font: 14px/1.4 system-ui, sans-serif; background: #e5e7eb; }}
header {{ display: flex; gap: 12px; align-items: center; padding: 8px 16px; background: #111827;
  color: #fff; }}
header button, header select {{ font: inherit; padding: 4px 10px; }}
button[aria-pressed=true] {{ background: #2563eb; color: #fff; }}
main {{ display: flex; justify-content: center; padding: 16px; }}
iframe {{ border: 0; background: #fff; height: calc(100vh - 90px); width: 600px;
  box-shadow: 0 1px 6px rgba(0,0,0,.2); transition: width .2s; }}
</style></head>
<body>
<header><strong>{title}</strong>
<button id="desktop" aria-pressed="true">Desktop 600 px</button>
<button id="mobile" aria-pressed="false">Mobile 375 px</button>
{languages}
<span id="status" aria-live="polite"></span></header>
<main><iframe id="email" title="The issue" src="/email?lang={lang}"></iframe></main>
<script>
const frame = document.getElementById("email"), status = document.getElementById("status");
let lang = "{lang}", version = {version};
function width(px, on, off) {{ frame.style.width = px + "px";
  document.getElementById(on).setAttribute("aria-pressed", "true");
  document.getElementById(off).setAttribute("aria-pressed", "false"); }}
document.getElementById("desktop").onclick = () => width(600, "desktop", "mobile");
document.getElementById("mobile").onclick = () => width(375, "mobile", "desktop");
const select = document.getElementById("lang");
if (select) select.onchange = () => {{ lang = select.value; frame.src = "/email?lang=" + lang; }};
function show(v) {{ if (v === version) return; version = v;
  frame.src = "/email?lang=" + lang + "&v=" + v;
  status.textContent = "reloaded"; setTimeout(() => status.textContent = "", 1500); }}
const events = new EventSource("/events");
events.addEventListener("version", (e) => show(JSON.parse(e.data).version));
const lost = "preview server stopped: reconnecting…";
events.onopen = () => {{ if (status.textContent === lost) status.textContent = ""; }};
events.onerror = () => {{ status.textContent = lost; }};
</script></body></html>
"""

#: where the preview's "Unsubscribe" link goes
UNSUBSCRIBE_PATH = "/unsubscribe-preview"
UNSUBSCRIBE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Unsubscribe (preview)</title></head>
<body style="font:15px/1.5 system-ui,sans-serif;padding:24px;max-width:40em">
<h1>This is where readers unsubscribe</h1>
<p>In the issue as sent, each reader's “Unsubscribe” link is their own: {how}.</p>
<p>Nothing happened here: this page belongs to the preview.
<a href="/email">Back to the issue</a></p>
</body></html>
"""


#: an image of the built email: ``src="assets/NAME"``
_ASSET_SRC = re.compile(r'(src=")(assets/[^"?#]+)"')


def asset_stamp(path: Path) -> str:
    """What identifies this version of an image file: its mtime and size ("" if unreadable)."""
    try:
        stat = path.stat()
    except OSError:
        return ""
    return f"{stat.st_mtime_ns:x}-{stat.st_size:x}"


def versioned_assets(body: str, assets: dict[str, Path]) -> str:
    """*body* with each image it serves from *assets* at ``assets/NAME?v=STAMP``: the
    browser keeps those (they never change under that address) and a reload of the
    iframe asks only for the HTML; a changed image gets a new address."""

    def stamp(match: re.Match[str]) -> str:
        path = assets.get(match[2])
        version = asset_stamp(path) if path else ""
        return f'{match[1]}{match[2]}?v={version}"' if version else match[0]

    return _ASSET_SRC.sub(stamp, body)


#: how a versioned image is cached: its address changes with its content
IMMUTABLE = "max-age=31536000, immutable"
