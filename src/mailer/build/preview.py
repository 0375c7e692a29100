"""``mailer preview``: a live-reloading preview of an issue on 127.0.0.1.

A page with the issue in an iframe, a desktop (600 px) / mobile (375 px) toggle and
a language switch when the issue has translations. A watcher thread (watchfiles, a small
debounce) bumps a version number when the issue, its translations, its images, mailer.toml
or the templates change, and the server pushes it at once to every open page over
server-sent events (``/events``); the page then reloads the iframe. Images are
served at versioned addresses (``assets/NAME?v=STAMP``, kept by the browser), so that
reload fetches only the email's HTML. When the connection
drops (the server restarted), the browser's EventSource reconnects by itself and the page
reloads if the version moved meanwhile. ``/version`` still answers the current number.
The issue is rebuilt on the next request after a change, and a broken issue shows its
error message in the page instead of stopping the server.

The email is the editor's copy (:func:`mailer.build.pipeline.for_editor`): merge fields
show the ``[preview] sample`` subscriber (else their fallbacks), "Unsubscribe" opens
``/unsubscribe-preview`` (a page saying what readers get there) and "View in browser"
the email itself.
"""

from __future__ import annotations

import html
import json
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..config import Config, load_config
from ..errors import MailerError
from .preview_page import (
    IMMUTABLE,
    PAGE,
    UNSUBSCRIBE_PAGE,
    UNSUBSCRIBE_PATH,
    asset_stamp,
    versioned_assets,
)


class Preview:
    """The state of one preview: config, builds per language, and the change counter."""

    def __init__(self, issue: Path, config_path: str | None = None) -> None:
        self.issue = Path(issue)
        self.config_path = config_path
        self.version = 0
        self._lock = threading.Lock()
        #: notified (under its own lock) whenever :attr:`version` moves or the preview stops
        self.changed = threading.Condition()
        self._cache: dict[str, tuple[int, str, dict[str, Path]]] = {}
        self._stop = threading.Event()
        #: (version, value) of the config and the language list: read once per version, not
        #: on every request (one tuple assignment: safe without a lock)
        self._config: tuple[int, Config] | None = None
        self._languages: tuple[int, list[str]] | None = None

    def config(self) -> Config:
        """mailer.toml as it is at the current version (read again once something changed)."""
        version, memo = self.version, self._config
        if memo is not None and memo[0] == version:
            return memo[1]
        config = load_config(self.config_path)
        self._config = (version, config)
        return config

    def languages(self) -> list[str]:
        """The issue's languages at the current version (default first)."""
        from .pipeline import issue_languages

        version, memo = self.version, self._languages
        if memo is not None and memo[0] == version:
            return list(memo[1])
        try:
            langs = issue_languages(self.issue, self.config())
        except MailerError:
            langs = ["en"]
        self._languages = (version, langs)
        return list(langs)

    def page(self, lang: str | None = None) -> str:
        langs = self.languages()
        lang = lang if lang in langs else langs[0]
        select = ""
        if len(langs) > 1:
            options = "".join(
                f'<option value="{c}"{" selected" if c == lang else ""}>{c}</option>' for c in langs
            )
            select = f'<label>Language <select id="lang">{options}</select></label>'
        return PAGE.format(
            title=html.escape(self.issue.name), languages=select, lang=lang, version=self.version
        )

    def email(self, lang: str | None) -> str:
        """The built HTML of *lang* (cached until something changes), or an error page."""
        from .pipeline import build_with_assets, for_editor

        langs = self.languages()
        lang = lang if lang in langs else langs[0]
        with self._lock:
            cached = self._cache.get(lang)
            if cached and cached[0] == self.version:
                return cached[1]
            try:
                config = self.config()
                rendered, assets = build_with_assets(self.issue, config, lang=lang, for_send=False)
                shown = for_editor(
                    rendered,
                    config,
                    unsubscribe_url=UNSUBSCRIBE_PATH,
                    view_url=f"/email?lang={lang}",
                )
                body = versioned_assets(shown.html, assets)
            except MailerError as exc:
                assets = {}
                body = (
                    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error'
                    '</title></head><body style="font:15px/1.5 system-ui;padding:24px">'
                    f'<h1 style="color:#b91c1c">The issue does not build</h1><pre style="white-'
                    f'space:pre-wrap">{html.escape(str(exc))}</pre></body></html>'
                )
            self._cache[lang] = (self.version, body, assets)
            return body

    def built(self, lang: str) -> tuple[int, str] | None:
        """(version, HTML) of the last build of *lang*, if there was one."""
        cached = self._cache.get(lang)
        return (cached[0], cached[1]) if cached else None

    def unsubscribe_page(self) -> str:
        """What "Unsubscribe" opens in the preview: where a reader's own link goes."""
        try:
            settings = self.config().settings
        except MailerError as exc:
            return f"<!doctype html><title>Unsubscribe</title><p>{html.escape(str(exc))}</p>"
        base = settings.tracking.base_url
        mailto = settings.sender.unsubscribe_mailto or settings.sender.from_email
        how = (
            f"one click on their own link to {html.escape(base.rstrip('/'))}/u/…, which "
            "unsubscribes them at once (mailer serve)"
            if base
            else f"an email to {html.escape(mailto)} with the subject “unsubscribe”"
        )
        return UNSUBSCRIBE_PAGE.format(how=how)

    def asset(self, name: str) -> Path | None:
        for _version, _body, assets in self._cache.values():
            if name in assets:
                return assets[name]
        return None

    def watch_paths(self) -> list[Path]:
        paths = [self.issue.parent.resolve()]
        try:
            config = self.config()
        except MailerError:
            return paths
        if config.path:
            paths.append(config.path)  # the file, not its folder (which may hold node_modules)
        from .render import template_dirs

        paths.extend(Path(d) for d in template_dirs(config))
        return list(dict.fromkeys(paths))

    def watch(self) -> None:
        """Bump :attr:`version` on every change under the watched folders (until stopped),
        tell the pages (server-sent events), and rebuild at once on this thread the
        languages a page has shown: the page's reload then finds the build done or under
        way instead of starting it."""
        import watchfiles

        for _changes in watchfiles.watch(
            *self.watch_paths(),
            stop_event=self._stop,
            debounce=100,
            step=20,
            yield_on_timeout=False,
        ):
            with self._lock:
                self.version += 1
            with self.changed:
                self.changed.notify_all()
            for lang in list(self._cache):
                if self._stop.is_set():
                    break
                self.email(lang)

    def wait_for_change(self, seen: int, timeout: float) -> int:
        """The version once it differs from *seen*, or the same after *timeout* seconds
        (or when the preview stops)."""
        with self.changed:
            self.changed.wait_for(
                lambda: self.version != seen or self._stop.is_set(), timeout=timeout
            )
        return self.version

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        with self.changed:
            self.changed.notify_all()


def _handler(preview: Preview) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # keep-alive: a reload's images come over the page's open connections
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def send(
            self, status: int, body: bytes, ctype: str, etag: str = "", cache: str = "no-cache"
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if etag:  # an image: revalidated (304 if same) unless its address is versioned
                self.send_header("Cache-Control", cache)
                self.send_header("ETag", etag)
            else:
                self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def send_asset(self, path: Path, asked: str | None) -> None:
            """The image; kept by the browser for good when asked for at its current
            ``?v=`` stamp (the email's own addresses), else revalidated each time."""
            ctype = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml"}.get(
                path.suffix.lower(), "image/jpeg"
            )
            try:
                stamp = asset_stamp(path)
                etag = f'"{stamp}"'
                cache = IMMUTABLE if stamp and asked == stamp else "no-cache"
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Cache-Control", cache)
                    self.end_headers()
                    return
                self.send(200, path.read_bytes(), ctype, etag, cache)
            except OSError:
                self.send(404, b"not found", "text/plain")

        def events(self) -> None:
            """Server-sent events: the version now, then each new one as it happens; a
            comment every few seconds keeps the connection open (and finds a closed one)."""
            self.close_connection = True  # the stream ends when the connection does
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            seen = preview.version
            message = f"retry: 500\nevent: version\ndata: {json.dumps({'version': seen})}\n\n"
            try:
                self.wfile.write(message.encode())
                self.wfile.flush()
                quiet = 0.0
                while not preview.stopped:
                    version = preview.wait_for_change(seen, timeout=1.0)
                    if version != seen:
                        seen, quiet = version, 0.0
                        data = json.dumps({"version": version})
                        self.wfile.write(f"event: version\ndata: {data}\n\n".encode())
                    else:
                        quiet += 1.0
                        if quiet < 10:
                            continue
                        quiet = 0.0
                        self.wfile.write(b": still here\n\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return  # the page went away

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            lang = parse_qs(url.query).get("lang", [None])[0]
            if url.path == "/":
                self.send(200, preview.page(lang).encode(), "text/html; charset=utf-8")
            elif url.path == "/email":
                self.send(200, preview.email(lang).encode(), "text/html; charset=utf-8")
            elif url.path == UNSUBSCRIBE_PATH:
                self.send(200, preview.unsubscribe_page().encode(), "text/html; charset=utf-8")
            elif url.path == "/events":
                self.events()
            elif url.path == "/version":
                body = json.dumps({"version": preview.version}).encode()
                self.send(200, body, "application/json")
            elif url.path.startswith("/assets/") and (path := preview.asset(url.path[1:])):
                self.send_asset(path, parse_qs(url.query).get("v", [None])[0])
            else:
                self.send(404, b"not found", "text/plain")

    return Handler


class PreviewServer:
    """The preview's HTTP server and watcher on 127.0.0.1, run in background threads."""

    def __init__(self, issue: Path, config_path: str | None = None, port: int = 8000) -> None:
        self.preview = Preview(issue, config_path)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self.preview))
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> PreviewServer:
        for target in (self.httpd.serve_forever, self.preview.watch):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.preview.stop()
        self.httpd.shutdown()
        self.httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)


def serve(issue: Path, config_path: str | None, *, port: int, open_browser: bool) -> None:
    """Run the preview until Ctrl+C."""
    import time

    if not Path(issue).is_file():
        from ..errors import IssueError

        raise IssueError("the issue file does not exist", location=str(issue))
    try:
        server = PreviewServer(Path(issue), config_path, port).start()
    except OSError as exc:
        raise MailerError(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror}",
            hint="choose another port with --port N.",
        ) from None
    print(f"previewing {issue} at {server.url} (Ctrl+C to stop)", flush=True)
    if open_browser:
        webbrowser.open(server.url)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()
