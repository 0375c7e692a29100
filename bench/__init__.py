"""Benchmarks (`make bench`): figures printed, never asserted."""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """This process's own peak RSS in MB.

    ``VmHWM`` from /proc is per address space and starts again at exec; ``ru_maxrss`` is not:
    Linux carries it across fork+exec, so a child of a large parent would report the parent's.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
