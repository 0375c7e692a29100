"""Process helpers shared by the sender's outbox and the scheduler's claims."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Whether process *pid* exists on this host (a process we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
