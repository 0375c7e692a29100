"""A fault-injecting stand-in for SendGrid's ``POST /v3/mail/send`` on 127.0.0.1.

Each request takes the next action from a script (``ok`` once the script is used up):

* ``ok``: records every personalization's address in ``accepted`` and answers 202;
* ``429``: answers 429 with ``X-RateLimit-Reset`` (epoch seconds, as SendGrid does);
* ``500`` / ``503``: answers that status with a SendGrid-style error body;
* ``drop``: closes the connection without reading the body or answering;
* ``hang``: reads the request, records it in ``hung`` (not accepted) and says nothing
  until well after the client's timeout;
* ``garble``: reads the request, records it in ``hung`` and sends a 202 cut short.

``accepted`` is the server's log: a test checks that every address appears in it once.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FaultServer:
    """Start with ``with FaultServer(["429", "ok"]) as server: server.url``."""

    def __init__(
        self, script: Iterable[str] = (), *, hang_seconds: float = 3.0, delay: float = 0.0
    ) -> None:
        self.script: deque[str] = deque(script)
        self.hang_seconds = hang_seconds
        self.delay = delay
        self.accepted: list[str] = []
        self.custom_args: list[dict[str, str]] = []
        self.hung: list[str] = []
        self.actions: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self.keep_bodies = False
        self.lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _reply(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                with server.lock:
                    action = server.script.popleft() if server.script else "ok"
                    server.actions.append(action)
                if action == "drop":
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                if server.delay:
                    time.sleep(server.delay)
                if action == "hang":
                    data = json.loads(raw)
                    with server.lock:
                        server.hung.extend(p["to"][0]["email"] for p in data["personalizations"])
                    server._stop.wait(server.hang_seconds)
                    self.close_connection = True
                    return
                if action == "garble":  # an answer cut short: the request did arrive
                    data = json.loads(raw)
                    with server.lock:
                        server.hung.extend(p["to"][0]["email"] for p in data["personalizations"])
                    self.wfile.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 50\r\n\r\nshort")
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if action == "429":
                    reset = str(int(time.time()) + 1)
                    body = b'{"errors":[{"message":"too many requests"}]}'
                    self._reply(429, body, {"X-RateLimit-Reset": reset})
                    return
                if action in ("500", "503"):
                    body = b'{"errors":[{"message":"internal error"}]}'
                    self._reply(int(action), body)
                    return
                data = json.loads(raw)
                with server.lock:
                    for p in data["personalizations"]:
                        server.accepted.append(p["to"][0]["email"])
                        server.custom_args.append(p.get("custom_args", {}))
                    if server.keep_bodies:
                        server.bodies.append(data)
                self._reply(202, b"", {"X-Message-Id": f"fault-{len(server.actions)}"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
