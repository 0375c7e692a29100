"""Helpers that run the outside judges of a built newsletter (tools nobody here wrote).

Each helper runs one tool and returns plain data; the tests in ``test_judges.py`` decide.
Every helper calls ``require()`` first, so a missing tool skips (or fails under
``MAILER_TEST_REQUIRE_ALL=1``). Node judges are small scripts in ``tests/js/``, each started
once per call with every document to judge, so a session starts node and Chromium a few
times, not once per check.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import CHROMIUM_FLAGS, NODE_MODULES, ROOT, chromium, require

JS = ROOT / "tests" / "js"
VNU_JAR = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"


def _node() -> str:
    node = shutil.which("node")
    require(node, "node not installed (apt-get install nodejs)")
    assert node
    return node


def run_node(script: str, payload: dict[str, Any], *, timeout: float = 120) -> Any:
    """Run ``tests/js/<script>`` with *payload* as JSON on stdin; its stdout parsed as JSON."""
    node = _node()
    proc = subprocess.run(
        [node, str(JS / script)],
        input=json.dumps(payload).encode(),
        capture_output=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{script} failed ({proc.returncode}):\n{proc.stderr.decode()[-3000:]}"
        )
    return json.loads(proc.stdout)


# --- 1. the MJML reference ---------------------------------------------------------------


@dataclass
class MjmlResult:
    """What npm mjml@5 made of one document: the HTML (None when rejected) and its errors."""

    html: str | None
    errors: list[dict[str, Any]]

    def describe(self) -> str:
        return "\n".join(f"line {e['line']} <{e['tagName']}>: {e['message']}" for e in self.errors)


def mjml_reference(docs: dict[str, tuple[str, str]]) -> dict[str, MjmlResult]:
    """Compile each ``name -> (mjml, validationLevel)`` with npm mjml@5 (one node process)."""
    require(
        (NODE_MODULES / "mjml").exists(), "npm mjml not installed: run `cd node && npm install`"
    )
    jobs = [{"name": n, "mjml": m, "validationLevel": lvl} for n, (m, lvl) in docs.items()]
    out = run_node("mjml_compile.js", {"jobs": jobs})
    return {name: MjmlResult(r["html"], r["errors"]) for name, r in out.items()}


# --- 2, 3, 5. Chromium (playwright-core driving Debian's chromium) -----------------------


@dataclass
class PageJob:
    """One HTML file to open at each width: probes are texts whose card boxes are measured."""

    name: str
    path: Path
    widths: tuple[int, ...] = (600, 375)
    probes: tuple[str, ...] = ()
    axe: bool = False


def browser(pages: list[PageJob], shot_dir: Path, routes: dict[str, Path] | None = None) -> Any:
    """Open every page at every width in one Chromium; measure, screenshot, optionally run axe.

    Returns ``{name: {str(width): {scrollWidth, clientWidth, probes, shot, axe?}}}``.
    *routes* maps URL prefixes (e.g. the config's ``assets_url``) to local directories; any
    other network request is aborted.
    """
    exe = chromium()
    require(
        (NODE_MODULES / "playwright-core").exists(),
        "npm playwright-core not installed: run `cd node && npm install`",
    )
    payload = {
        "executablePath": exe,
        "args": [f for f in CHROMIUM_FLAGS if f != "--headless"],
        "routes": {prefix: str(d) for prefix, d in (routes or {}).items()},
        "pages": [
            {
                "name": p.name,
                "path": str(p.path),
                "widths": list(p.widths),
                "shotDir": str(shot_dir),
                "probes": list(p.probes),
                "axe": p.axe,
            }
            for p in pages
        ],
    }
    return run_node("browser.js", payload, timeout=180)


def pixel_diff(a: Path, b: Path, *, tolerance: int = 16) -> float:
    """Fraction of pixels that differ (any channel by more than *tolerance*) between two
    screenshots; the smaller one is padded with white, so a height difference counts."""
    from PIL import Image, ImageChops

    with Image.open(a) as ia, Image.open(b) as ib:
        w, h = max(ia.width, ib.width), max(ia.height, ib.height)
        ca = Image.new("RGB", (w, h), "white")
        cb = Image.new("RGB", (w, h), "white")
        ca.paste(ia.convert("RGB"), (0, 0))
        cb.paste(ib.convert("RGB"), (0, 0))
    diff = ImageChops.difference(ca, cb).convert("L").point(lambda v: 255 if v > tolerance else 0)
    differing = diff.histogram()[255]
    return differing / float(w * h)


_MSO = re.compile(r"<!--\[if mso \| IE\]>(.*?)<!\[endif\]-->", re.S)
_MSO_TD_WIDTH = re.compile(r'<td\b[^>]*?style="[^"]*?\bwidth:(\d+)px')
_IMG_WIDTH = re.compile(r'<img\b[^>]*?\bwidth="(\d+)"')


def fixed_widths(html: str) -> dict[str, list[int]]:
    """The widths Outlook for Windows lays out by (``width:Npx`` of the cells inside MSO
    conditional comments, which Chromium never renders) and every ``<img width>``, in order."""
    cells = [int(w) for c in _MSO.findall(html) for w in _MSO_TD_WIDTH.findall(c)]
    return {"outlook cells": cells, "images": [int(w) for w in _IMG_WIDTH.findall(html)]}


# --- 4. the W3C Nu validator ---------------------------------------------------------------

#: Nu validator errors that email HTML carries on purpose, each with why it is accepted.
#: Everything else the validator calls an error fails the judge.
VNU_EMAIL_FILTER: tuple[tuple[str, str], ...] = (
    (
        r"^Attribute “xmlns:(v|o)” not allowed here",
        "VML/Office namespaces on <html>: Outlook for Windows needs them for MSO conditionals",
    ),
    (
        r"^Bad value “auto” for attribute “height” on element “img”",
        'MJML writes height="auto" on images so Outlook keeps the aspect ratio',
    ),
    (
        r"^CSS: “(mso|-ms)-[a-z-]+”: Property “(mso|-ms)-[a-z-]+” doesn't exist",
        "Outlook/Windows-only CSS properties (mso-table-lspace, -ms-interpolation-mode)",
    ),
    (r"^CSS: “-webkit-text-size-adjust”", "vendor property that stops iOS Mail enlarging text"),
    (
        r"^Attribute “vertical-align” not allowed on element “td”",
        "mjml-python (MRML 6) writes mj-button's vertical-align as a <td> attribute (MJML 5 puts"
        " it in CSS); clients ignore the unknown attribute",
    ),
    (
        r"^Bad value “%%(unsubscribe_url|view_url)%%” for attribute “href” on element “a”",
        "the unsent build's documented tokens (docs/ARCHITECTURE.md), filled by the sender",
    ),
)

#: Errors at the level of the document's tree: these are never filtered.
VNU_PARSE_LEVEL = re.compile(
    r"Unclosed element|End tag .* seen|Stray (end|start) tag|Duplicate ID|misnested|"
    r"not allowed as child of|Saw “<” when expecting|Unclosed children|No “p” element in scope|"
    r"Element .* not allowed|Premature end of file|Bad character|End of file seen",
    re.IGNORECASE,
)


def vnu(paths: list[Path]) -> dict[Path, list[dict[str, Any]]]:
    """Run the Nu validator once over *paths*; its messages (type ``error`` only) per file."""
    java = shutil.which("java")
    require(java, "java not installed (apt-get install default-jre-headless)")
    require(VNU_JAR.exists(), "npm vnu-jar not installed: run `cd node && npm install`")
    assert java
    proc = subprocess.run(
        [
            java,
            "-jar",
            str(VNU_JAR),
            "--format",
            "json",
            "--exit-zero-always",
            *[str(p) for p in paths],
        ],
        capture_output=True,
        timeout=120,
    )
    report = json.loads(proc.stderr or proc.stdout)
    out: dict[Path, list[dict[str, Any]]] = {p: [] for p in paths}
    for msg in report["messages"]:
        if msg.get("type") not in ("error", "non-document-error"):
            continue
        url = str(msg.get("url", ""))
        where = Path("/" + url.split("file:", 1)[-1].lstrip("/")).resolve()
        for p in paths:
            if where == p.resolve():
                out[p].append(msg)
    return out


def vnu_split(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(kept, filtered): errors that fail the judge, and those excused by VNU_EMAIL_FILTER."""
    kept, filtered = [], []
    for msg in messages:
        text = msg["message"]
        if not VNU_PARSE_LEVEL.search(text) and any(
            re.search(pattern, text) for pattern, _ in VNU_EMAIL_FILTER
        ):
            filtered.append(msg)
        else:
            kept.append(msg)
    return kept, filtered


def describe_vnu(messages: list[dict[str, Any]]) -> str:
    return "\n".join(f"line {m.get('lastLine')}: {m['message']}" for m in messages)


# --- 6. SpamAssassin -------------------------------------------------------------------------


@dataclass
class SpamReport:
    """SpamAssassin's verdict: total score and the rules that fired (name, points, description)."""

    score: float
    rules: list[tuple[str, float, str]] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"score {self.score}"]
        lines += [f"  {pts:+5.1f} {name}: {desc}" for name, pts, desc in self.rules]
        return "\n".join(lines)


_SA_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*)$")


def spamassassin(eml: bytes) -> SpamReport:
    """``spamassassin -L -t`` (local tests only, Debian's shipped rules) on one message."""
    sa = shutil.which("spamassassin")
    require(sa, "spamassassin not installed (apt-get install spamassassin)")
    assert sa
    proc = subprocess.run([sa, "-L", "-t"], input=eml, capture_output=True, timeout=120)
    out = proc.stdout.decode("utf-8", "replace")
    status = re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", out, re.M)
    if not status:
        raise AssertionError(
            f"no X-Spam-Status in spamassassin output:\n{proc.stderr.decode()[-2000:]}"
        )
    report = SpamReport(float(status.group(1)))
    table = out.split("Content analysis details:", 1)[-1]
    in_rules = False
    for line in table.splitlines():
        if line.startswith("---- "):
            in_rules = True
            continue
        if in_rules:
            m = _SA_RULE.match(line)
            if m:
                report.rules.append((m.group(2), float(m.group(1)), m.group(3).strip()))
            elif line.strip() and report.rules and line.startswith("   "):
                name, pts, desc = report.rules[-1]
                report.rules[-1] = (name, pts, f"{desc} {line.strip()}")
            elif not line.strip():
                break
    return report


# --- 7. caniemail ----------------------------------------------------------------------------

#: The clients of DESIGN.md's target: Gmail (web, iOS and Android apps), Apple Mail (macOS, iOS),
#: Outlook.com. Left out on purpose: ``gmail.mobile-webmail`` (Gmail's website in a phone's
#: browser, not the app), which supports no ``<style>`` element at all, so no responsive email
#: passes there; what it shows is judged instead by test_fits_375_without_style_blocks (the
#: inlined HTML with every <style> removed still fits 375 px). What is checked: every HTML
#: element and attribute, every CSS property, value, unit, function, selector, pseudo-class and
#: at-rule in <style> blocks and style="" attributes, each at the client's latest tested version
#: in caniemail's data (see tests/js/caniemail_check.mjs); "n" (unsupported) fails the judge,
#: partial support is reported but allowed.
CANIEMAIL_CLIENTS = (
    "gmail.desktop-webmail",
    "gmail.ios",
    "gmail.android",
    "apple-mail.macos",
    "apple-mail.ios",
    "outlook.outlook-com",
)


def caniemail(html: str, clients: tuple[str, ...] = CANIEMAIL_CLIENTS) -> Any:
    """Features of *html* that caniemail's data marks unsupported/partial in *clients*.

    caniemail's checker matches CSS property names by substring, so ``text-transform`` is
    reported as ``transform``. A reported CSS property that *html* never declares by its own
    name (``(?<![\\w-])name\\s*:``) is such a false positive: it is moved from ``unsupported``
    to ``false_positives``, so a real ``transform:`` still fails.
    """
    require(
        (NODE_MODULES / "caniemail").exists(),
        "npm caniemail not installed: run `cd node && npm install`",
    )
    result = run_node("caniemail_check.mjs", {"html": html, "clients": list(clients)})
    declared: dict[str, bool] = {}

    def real(title: str) -> bool:
        if not re.fullmatch(r"[a-z-]+", title):
            return True  # not a CSS property title: elements, attributes, selectors, at-rules
        if title not in declared:
            declared[title] = bool(re.search(rf"(?<![\w-]){re.escape(title)}\s*:", html))
        return declared[title]

    result["false_positives"] = [u for u in result["unsupported"] if not real(u["title"])]
    result["unsupported"] = [u for u in result["unsupported"] if real(u["title"])]
    return result


# --- what is judged ----------------------------------------------------------------------------


@dataclass
class Sample:
    """One built issue: the output directory of ``mailer build`` and what the judges need."""

    dir: Path
    mjml: str
    html: str
    text: str
    eml: bytes
    highlight_titles: list[str]
    routes: dict[str, Path]
    #: where each variant was written: "en", each translation, "premailer" (when installed)
    variants: dict[str, Path] = field(default_factory=dict)

    @property
    def html_path(self) -> Path:
        return self.dir / "index.html"


# --- 8. size, MIME structure, images and links -------------------------------------------------


def mime_problems(eml: bytes) -> list[str]:
    """What DESIGN.md's message contract finds wrong with one serialised message (empty: fine)."""
    from email import message_from_bytes, policy
    from email.message import EmailMessage

    problems: list[str] = []
    head = eml.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in eml else eml.split(b"\n\n", 1)[0]
    raw_headers: dict[str, str] = {}
    for line in re.split(rb"\r?\n(?![ \t])", head):
        name, _, value = line.decode("ascii", "replace").partition(":")
        raw_headers[name.strip().lower()] = value.strip()
    msg = message_from_bytes(eml, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    if msg.get_content_type() != "multipart/alternative":
        problems.append(f"top-level type is {msg.get_content_type()}, not multipart/alternative")
    parts = [p.get_content_type() for p in msg.iter_parts()] if msg.is_multipart() else []
    if parts != ["text/plain", "text/html"]:
        problems.append(f"parts are {parts}, expected text/plain then text/html")
    for part in msg.iter_parts() if msg.is_multipart() else []:
        if (part.get_content_charset() or "").lower() != "utf-8":
            problems.append(
                f"{part.get_content_type()} charset is {part.get_content_charset()}, not utf-8"
            )
    for name in ("message-id", "date", "from", "subject"):
        if name not in raw_headers:
            problems.append(f"no {name} header")
    from_header = msg.get("From")
    if (
        from_header is None
        or not from_header.addresses
        or not from_header.addresses[0].display_name
    ):
        problems.append(f"From has no display name: {raw_headers.get('from')!r}")
    unsub = raw_headers.get("list-unsubscribe", "")
    if not re.search(r"<https://[^>]+>", unsub) and "%%unsubscribe_url%%" not in unsub:
        problems.append(f"List-Unsubscribe has no https URL: {unsub!r}")
    if not re.search(r"<mailto:[^>]+>", unsub):
        problems.append(f"List-Unsubscribe has no mailto: {unsub!r}")
    if raw_headers.get("list-unsubscribe-post") != "List-Unsubscribe=One-Click":
        problems.append(f"List-Unsubscribe-Post is {raw_headers.get('list-unsubscribe-post')!r}")
    for name in ("list-unsubscribe", "list-unsubscribe-post"):
        if "=?" in raw_headers.get(name, ""):
            problems.append(f"{name} is RFC 2047 encoded: {raw_headers[name]!r}")
    if re.search(rb"\r?\nList-Unsubscribe:[^\r\n]*\r?\n[ \t]", eml, re.I):
        problems.append("List-Unsubscribe is folded over several lines")
    return problems


def longest_body_line(eml: bytes) -> int:
    """Length of the longest line after the headers (RFC 2045: quoted-printable lines ≤ 76)."""
    sep = re.search(rb"\r?\n\r?\n", eml)
    body = eml[sep.end() :] if sep else b""
    return max((len(line) for line in re.split(rb"\r?\n", body)), default=0)


def html_problems(html: str, *, allowed_tokens: frozenset[str] = frozenset()) -> list[str]:
    """Images without alt or width, links that are not absolute https or mailto.

    ``allowed_tokens`` are whole-href substitution tokens (e.g. ``%%unsubscribe_url%%``) that
    the unsent build may carry; the sender replaces them with https URLs.
    """
    from html.parser import HTMLParser

    problems: list[str] = []

    class Walk(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            line = self.getpos()[0]
            if tag == "img":
                if a.get("alt") is None:
                    problems.append(f"line {line}: <img src={a.get('src')!r}> has no alt")
                if not (a.get("width") or "").isdigit():
                    problems.append(f"line {line}: <img src={a.get('src')!r}> has no numeric width")
            if tag == "a":
                href = (a.get("href") or "").strip()
                if href in allowed_tokens:
                    return
                if not (href.startswith("https://") or href.startswith("mailto:")):
                    problems.append(
                        f"line {line}: <a href={href!r}> is not absolute https or mailto"
                    )

    Walk(convert_charrefs=True).feed(html)
    return problems


# --- the message as a reader receives it ---------------------------------------------------------


def copy_project(dest: Path, **settings: str) -> Path:
    """A copy of the sample project (mailer.toml, templates, issues) in *dest*, with top-level
    or ``[tracking]`` settings of mailer.toml changed: ``inliner="premailer"``, ``base_url=...``."""
    dest.mkdir(parents=True)
    for name in ("templates", "issues"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, dest / name)
    toml = (ROOT / "mailer.toml").read_text(encoding="utf-8")
    for key, value in settings.items():
        toml, n = re.subn(rf"(?m)^#?\s*{key}\s*=.*$", f'{key} = "{value}"', toml, count=1)
        assert n == 1, f"mailer.toml has no `{key} = ...` line (even commented) to set"
    (dest / "mailer.toml").write_text(toml, encoding="utf-8")
    return dest


def run_mailer(project: Path, *args: str, env: dict[str, str] | None = None) -> None:
    """Run the installed ``mailer`` CLI in *project*; fail with its output when it fails."""
    import sys

    mailer = str(Path(sys.executable).with_name("mailer"))
    proc = subprocess.run([mailer, *args], cwd=project, env=env, capture_output=True, timeout=120)
    assert proc.returncode == 0, (
        f"mailer {' '.join(args)} failed:\n{proc.stdout.decode()}\n{proc.stderr.decode()}"
    )


#: one reader per language of the sample (address, name)
READERS = {
    "en": ("emma.clarke@example.org", "Emma Clarke"),
    "tr": ("ayse.yilmaz@example.org", "Ayşe Yılmaz"),
    "ar": ("omar.haddad@example.org", "عمر حداد"),
}


def send_sample(
    issue: Path, work: Path, langs: tuple[str, ...], *, base: str = "https://news.turkey.iom.int"
) -> dict[str, bytes]:
    """The sample as readers receive it, made by mailer itself: a copy of the project with
    ``tracking.base_url`` set, one subscriber per language in *langs*, ``mailer send --backend
    outbox``; returns each language's .eml from the outbox (links rewritten by
    ``tracking.prepare``, tokens filled by the sender)."""
    import os
    from email import message_from_bytes, policy

    project = copy_project(work / "project", base_url=base)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILER_", "SENDGRID_"))}
    env |= {
        "MAILER_DATABASE_URL": f"sqlite:///{work / 'mailer.db'}",
        "MAILER_OUTBOX_DIR": str(work / "outbox"),
        "MAILER_SECRET_KEY": "judges-signing-key-0123456789abcdef",
        "NO_COLOR": "1",
    }
    for lang in langs:
        address, name = READERS[lang]
        run_mailer(project, "subscribers", "add", address, "--list", "partners", "--name", name,
                   "--language", lang, env=env)  # fmt: skip
    issue_arg = str(issue.relative_to(ROOT))
    run_mailer(project, "send", issue_arg, "--list", "partners", "--backend", "outbox", "--yes",
               env=env)  # fmt: skip
    by_address: dict[str, bytes] = {}
    for path in sorted((work / "outbox").rglob("*.eml")):
        raw = path.read_bytes()
        to = message_from_bytes(raw, policy=policy.default)["To"]
        by_address[to.addresses[0].addr_spec] = raw
    missing = [lang for lang in langs if READERS[lang][0] not in by_address]
    assert not missing, f"no message in the outbox for {missing}: {sorted(by_address)}"
    return {lang: by_address[READERS[lang][0]] for lang in langs}
