"""A session fixture serving SendGrid's own mail/send contract with Prism on 127.0.0.1.

Prism (npm ``@stoplight/prism-cli`` in node/) validates every request against the
OpenAPI spec vendored in ``tests/sendgrid/`` and answers 202, or 400 with the reasons in
the ``sl-violations`` header. Import the fixture into a test module:
``from prism import prism_url  # noqa: F401``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import free_port, node_tool, require, stop_process, wait_port

SPEC = Path(__file__).resolve().parent / "sendgrid" / "tsg_mail_v3.custom_args-object.json"


@pytest.fixture(scope="session")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a Prism mock of SendGrid's mail/send API (skips when Prism is absent)."""
    prism = node_tool("prism")
    require(SPEC.exists(), f"SendGrid spec not found at {SPEC}")
    port = free_port()
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(prism), "mock", str(SPEC.resolve()), "-h", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_port(port, timeout=60, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
