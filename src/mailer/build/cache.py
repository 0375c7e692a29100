"""What a build keeps between runs in the user's cache folder (``$XDG_CACHE_HOME/mailer``).

Two things live there: Jinja2's compiled templates (``jinja/``, see
:func:`mailer.build.jinja_env.environment`) and :class:`TextCache` files, small JSON maps
from a text to what a pure function made of it (Markdown → sanitised HTML, see
:mod:`mailer.build.markdown`), so a second ``mailer build`` of an issue whose texts did
not change never imports markdown-it. A cache file's name carries a *version* key (the
producing code and the libraries it used): when either changes, a new file is used and
nothing stale is ever read. Nothing is cached when the folder cannot be written, and a
cache file that cannot be read is ignored (and rewritten).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

#: a TextCache keeps at most this many entries (the oldest written are dropped first)
MAX_ENTRIES = 4096
#: the compiled-template folder keeps at most this many files: each template file path has
#: its own entry, so projects moved, copied or built from temporary folders would otherwise
#: add files forever (the least recently written are removed first)
MAX_TEMPLATES = 2000


def cache_folder(*parts: str) -> str | None:
    """``$XDG_CACHE_HOME/mailer/<parts>`` (default ``~/.cache``), created; None when it
    cannot be created or written."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "mailer", *parts)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def jinja_bytecode_cache() -> Any:
    """Jinja2's compiled templates kept in ``jinja/`` (Jinja2 checks each source's checksum);
    None when that folder cannot be written. A damaged file is ignored (and rewritten)."""
    folder = cache_folder("jinja")
    if folder is None:
        return None
    import jinja2

    class _Tolerant(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception as exc:  # a truncated pickle raises any of several types
                log.debug("ignoring the compiled template %s: %s", bucket.key, exc)
                bucket.reset()

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            super().dump_bytecode(bucket)  # only when a template was compiled anew
            prune(self.directory, MAX_TEMPLATES)

    return _Tolerant(folder)


def prune(folder: str, keep: int) -> int:
    """Remove the least recently written files of *folder* beyond the newest *keep*;
    the number removed. Files that vanish or cannot be removed meanwhile are skipped."""
    try:
        entries = [e for e in os.scandir(folder) if e.is_file(follow_symlinks=False)]
    except OSError:
        return 0
    if len(entries) <= keep:
        return 0
    aged = []
    for entry in entries:
        with contextlib.suppress(OSError):
            aged.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.path))
    aged.sort()
    removed = 0
    for _, path in aged[: max(0, len(aged) - keep)]:
        with contextlib.suppress(OSError):
            os.unlink(path)
            removed += 1
    return removed


def digest(text: str) -> str:
    """The key of *text* in a :class:`TextCache`."""
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


class TextCache:
    """text → result of a pure function, read from ``<name>-<version>.json`` on first use
    and written back (atomically) when the process exits, if anything was added."""

    def __init__(self, name: str, version: str) -> None:
        folder = cache_folder()
        self.path = os.path.join(folder, f"{name}-{digest(version)[:16]}.json") if folder else None
        self._entries: dict[str, str] | None = None
        self._added = False

    def _load(self) -> dict[str, str]:
        if self._entries is None:
            self._entries = {}
            if self.path and os.path.exists(self.path):
                try:
                    with open(self.path, encoding="utf-8") as f:
                        data = json.load(f)
                    if isinstance(data, dict):
                        self._entries = {k: v for k, v in data.items() if isinstance(v, str)}
                except (OSError, ValueError) as exc:
                    log.debug("ignoring the cache %s: %s", self.path, exc)
        return self._entries

    def get(self, text: str) -> str | None:
        """The cached result for *text*, or None."""
        return self._load().get(digest(text))

    def put(self, text: str, result: str) -> None:
        """Remember *result* for *text* (written when the process exits)."""
        entries = self._load()
        entries[digest(text)] = result
        if self.path and not self._added:
            self._added = True
            atexit.register(self.save)

    def save(self) -> None:
        """Write the cache file now (at most :data:`MAX_ENTRIES`, the newest kept)."""
        if not self.path or self._entries is None:
            return
        items = list(self._entries.items())[-MAX_ENTRIES:]
        import tempfile

        folder = os.path.dirname(self.path)
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(dict(items), f, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, self.path)
        except OSError as exc:
            log.debug("could not write the cache %s: %s", self.path, exc)
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)  # a half-written file never stays behind
