"""Process identity and liveness, shared by the sender (outbox files, campaign locks) and the
scheduler's claims: which runner this is, and whether a runner that claimed work is gone."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

#: a claim not refreshed for this long is taken over by the next run
LEASE = timedelta(minutes=10)


def pid_alive(pid: int) -> bool:
    """Whether process *pid* exists on this host (a process we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _host() -> str:
    """This host's name, plus the PID namespace when there is one (containers may share a
    host name while their PIDs mean different processes)."""
    name = socket.gethostname()
    try:
        ns = os.readlink("/proc/self/ns/pid")  # e.g. "pid:[4026531836]"
    except OSError:
        return name
    digits = "".join(ch for ch in ns if ch.isdigit())
    return f"{name}/{digits}" if digits else name


def runner_id() -> str:
    """This process's claim name: ``host[/pid-namespace]:pid``."""
    return f"{_host()}:{os.getpid()}"


def claim_is_stale(
    claimed_by: str, claimed_at: datetime | None, now: datetime, lease: timedelta = LEASE
) -> bool:
    """True when the runner named *claimed_by* is gone or has not refreshed its claim."""
    if claimed_at is None or claimed_at < now - lease:
        return True
    host, _, pid = claimed_by.rpartition(":")
    if host == _host() and pid.isdigit():
        return not pid_alive(int(pid))
    return False
