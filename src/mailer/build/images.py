"""Local images stay inside the issue's folder.

An issue's local image (``src: assets/x.jpg``) is a file that ``mailer build`` copies
into its output and a send uploads, so it must be a file the editor meant to
publish: this module refuses a ``src`` that resolves, through a symlink or
otherwise, outside the folder of the issue file (``issues/``, which holds
``issues/assets/``), with the file, line and column. :func:`inside` is the same
test for the render stage's second look (and for the logo, inside the project);
:func:`resolved` the same resolution for the manifest of :mod:`mailer.build.photos`.

Within :func:`one_build` (a build, all its languages) each path is resolved once: a
build asks about the issue's folder and each image some 27 times per language (issue 15).
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ..errors import IssueError
from .issue_yaml import Marks

#: the keys whose mapping is an image (``image: {src: ..., alt: ...}``)
IMAGE_KEYS = frozenset({"image", "thumbnail"})


#: the paths resolved so far in this build (None outside :func:`one_build`)
_RESOLVED: ContextVar[dict[str, str] | None] = ContextVar("mailer_resolved", default=None)


@contextmanager
def one_build() -> Iterator[None]:
    """Within, :func:`inside` resolves each path once (nested calls share the outer cache);
    after, paths are resolved afresh, so a later build sees a changed symlink."""
    if _RESOLVED.get() is not None:
        yield
        return
    token = _RESOLVED.set({})
    try:
        yield
    finally:
        _RESOLVED.reset(token)


def _resolve(path: str) -> str:
    cache = _RESOLVED.get()
    if cache is None:
        return _full(path)
    found = cache.get(path)
    if found is None:
        found = cache[path] = _resolve_in(path, cache)
    return found


def _resolve_in(path: str, cache: dict[str, str]) -> str:
    """``Path.resolve()`` of *path*, its folder resolved once per build: the images of an
    issue share one or two folders, so each costs one ``lstat`` (a symlink: resolved in full)."""
    parent, name = os.path.split(path)
    if name in ("", ".", "..") or not parent or parent == path:
        return _full(path)
    found = cache.get(parent)
    if found is None:
        found = cache[parent] = _resolve_in(parent, cache)
    candidate = os.path.join(found, name)
    try:
        if stat.S_ISLNK(os.lstat(candidate).st_mode):
            return _full(path)
    except FileNotFoundError:
        return candidate  # what resolve() gives for a missing file: its resolved folder / name
    except OSError:
        return _full(path)
    return candidate


def _full(path: str) -> str:
    """``Path.resolve()`` of *path* (RuntimeError on a symlink loop)."""
    return str(Path(path).resolve())


def resolved(path: Path) -> str:
    """``str(path.resolve())``, once per :func:`one_build` (OSError, RuntimeError on a loop)."""
    return _resolve(str(path))


def inside(path: Path, folder: Path) -> bool:
    """Whether *path*, with symlinks and ``..`` resolved, lies inside *folder*."""
    try:
        base = _resolve(str(folder))
    except (OSError, RuntimeError):  # a symlink loop
        return False
    return _within(str(path), base)


def _within(path: str, base: str) -> bool:
    """Whether the path *path* resolves inside the resolved folder *base*."""
    try:
        resolved = _resolve(path)
    except (OSError, RuntimeError):
        return False
    return resolved == base or resolved.startswith(base.rstrip(os.sep) + os.sep)


@functools.lru_cache(maxsize=1024)
def _joined(folder: str, src: str) -> str:
    """``str(Path(folder) / src)``: plain path arithmetic, the file is not looked at."""
    return str(Path(folder) / src)


_CONTAINERS = (dict, list)
_REMOTE = ("https://", "http://")


def _local_sources(data: Any, *, where: bool = True) -> list[tuple[tuple[Any, ...], str]]:
    """``(where, src)`` of each local image of *data*, in document order (a plain walk:
    the issue is walked once per language and translation). With ``where=False`` each
    *where* is ``()``: the walk builds no paths (wanted only for an error's line)."""
    found: list[tuple[tuple[Any, ...], str]] = []

    def walk(value: Any, at: tuple[Any, ...]) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(item, _CONTAINERS):  # most are texts: one test
                    continue
                if key in IMAGE_KEYS and isinstance(item, dict):
                    src = item.get("src")
                    if isinstance(src, str) and not src.strip().startswith(_REMOTE):
                        found.append(((*at, key, "src") if where else at, src.strip()))
                walk(item, (*at, key) if where else at)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, _CONTAINERS):
                    walk(item, (*at, i) if where else at)

    walk(data, ())
    return found


def check_image_paths(
    path: Path, data: dict[str, Any], marks: Marks, *, source: Path | None = None
) -> None:
    """IssueError at the ``src`` of the first local image of *data* (the issue at *path*)
    that resolves outside the issue's folder. *source* names the file the data was
    read from when it is not *path* (a translation; then *marks* may be empty)."""
    folder = path.parent
    name = str(folder)
    try:
        base: str | None = _resolve(name)
    except (OSError, RuntimeError):  # a symlink loop: nothing is inside
        base = None
    for n, (_, src) in enumerate(_local_sources(data, where=False)):
        if base is not None and _within(_joined(name, src), base):
            continue
        where = _local_sources(data)[n][0]
        line, col = marks.get(where, (0, 0))
        shown = source or path
        location = f"{shown}:{line}:{col}" if line else str(shown)
        raise IssueError(
            f"the image {src!r} is outside the issue's folder ({folder}): it resolves to a file "
            "elsewhere (a symlink?), which mailer never copies into a build or a send",
            location=location,
            hint=f"copy the picture itself into {folder / 'assets'} and write src: assets/<name>.",
        )
