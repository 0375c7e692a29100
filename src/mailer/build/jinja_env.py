"""The Jinja2 environment the theme is rendered with, and its error messages.

A user's own templates folder (``templates = "..."`` in mailer.toml) is searched
first, then the project's ``templates/``, then the theme shipped with mailer
(:func:`template_dirs`). Autoescape is on and undefined variables are errors. Every
string that is not content is wrapped in ``_()`` and translated with the language's
catalogue. :func:`environment` is cached per search path and language; its loader
looks at each template file once per render (:data:`FRESH`) and its context calls the
render helpers directly. :func:`template_error` turns a Jinja2 error into a
:class:`RenderError`; :class:`FieldRef` is ``subscriber.<field>`` in a template.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import RenderError
from .cache import jinja_bytecode_cache
from .issue import MergeCollector

#: the theme shipped with the package (a copy of the repository's templates/)
PACKAGE_TEMPLATES = Path(__file__).parent.parent / "skeleton" / "templates"


def template_dirs(config: Config) -> tuple[str, ...]:
    """Where templates are looked up, first match wins."""
    dirs: list[Path] = []
    if config.templates_dir is not None:
        dirs.append(config.templates_dir)
    dirs.append(config.root / "templates")
    dirs.append(PACKAGE_TEMPLATES)
    return tuple(str(d) for d in dict.fromkeys(dirs) if d.is_dir())


@functools.lru_cache(maxsize=32)
def environment(dirs: tuple[str, ...], lang: str) -> Any:
    """One Jinja2 environment per search path and language, its catalogue installed once
    (templates compiled once, reloaded on change; no state shared between languages, so
    threads rendering two languages at once cannot mix catalogues)."""
    import jinja2

    env = jinja2.Environment(
        loader=_loader_class()(list(dirs)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,
        keep_trailing_newline=False,
        bytecode_cache=jinja_bytecode_cache(),
    )
    env.filters["default"] = env.filters["d"] = _default
    env.context_class = _context_class()
    from . import i18n

    i18n.install(env, lang)
    return env


#: within one render (see :func:`mailer.build.render.render_mjml`): each loaded template's
#: answer to "is its file unchanged?", by Jinja2's own check of it (None outside a render)
FRESH: ContextVar[dict[Callable[[], bool], bool] | None] = ContextVar(
    "mailer_fresh_templates", default=None
)


@functools.cache
def _loader_class() -> Any:
    """Jinja2's ``FileSystemLoader`` whose templates are looked at (``stat``) once per
    render: with ``auto_reload`` Jinja2 asks at every ``include`` and ``import`` (the
    sample's render asks 19 times about 10 files). A later render asks again, so an
    edited template shows in the next preview."""
    from jinja2 import FileSystemLoader

    class FreshLoader(FileSystemLoader):
        def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
            source, filename, unchanged = super().get_source(environment, template)

            def uptodate() -> bool:
                seen = FRESH.get()
                if seen is None:
                    return unchanged()
                found = seen.get(unchanged)
                if found is None:
                    found = seen[unchanged] = unchanged()
                return found

            return source, filename, uptodate

    return FreshLoader


@functools.cache
def _context_class() -> Any:
    """Jinja2's ``Context`` with a shorter :meth:`call` for a plain function or method (the
    render helpers, ``_``). Jinja2 asks each callable twice, through ``hasattr``, whether it
    wants the context, the eval context or the environment as first argument; a function
    carries that mark in its ``__dict__``, read here at once. A render makes some 150 calls."""
    from types import FunctionType, MethodType

    from jinja2 import pass_eval_context
    from jinja2.runtime import Context

    eval_context = getattr(pass_eval_context(lambda: None), "jinja_pass_arg")  # noqa: B009

    class HelperContext(Context):
        def call(__self, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            kind = type(__obj)
            func = __obj.__func__ if kind is MethodType else __obj
            if type(func) is not FunctionType:  # a macro, a cache wrapper...: Jinja2's way
                return super().call(__obj, *args, **kwargs)
            mark = func.__dict__.get("jinja_pass_arg")
            if mark is eval_context:
                args = (__self.eval_ctx, *args)
            elif mark is not None:  # the context or the environment: Jinja2's way
                return super().call(__obj, *args, **kwargs)
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
            try:
                return __obj(*args, **kwargs)
            except StopIteration:  # as Context.call answers it
                return __self.environment.undefined(
                    "value was undefined because a callable raised a StopIteration exception"
                )

    return HelperContext


def template_error(
    exc: Exception,
    dirs: tuple[str, ...],
    *,
    missing_hint: str,
    undefined: str,
    undefined_hint: str,
    name: str | None = None,
) -> RenderError:
    """The :class:`RenderError` for a Jinja2 error raised while rendering a template looked
    up in *dirs* (the MJML theme's and the text part's alike): a missing template (*name*,
    by default the one Jinja2 names), a syntax error (its file and line) or an undefined
    value (in *undefined*, e.g. "a template")."""
    import jinja2

    if isinstance(exc, jinja2.TemplateNotFound):
        return RenderError(
            f"template {name or exc.name} not found in {', '.join(dirs)}", hint=missing_hint
        )
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return RenderError(
            f"template syntax error: {exc.message}",
            location=f"{exc.filename}:{exc.lineno}",
            hint="fix the template; see https://jinja.palletsprojects.com/templates/",
        )
    message = getattr(exc, "message", None)
    return RenderError(f"{undefined} uses an undefined value: {message}", hint=undefined_hint)


class FieldRef(str):
    """``subscriber.<field>`` in a template: renders as the token ``%%<field>%%``."""

    __slots__ = ("field", "merge")

    def __new__(cls, name: str, merge: MergeCollector) -> FieldRef:
        obj = super().__new__(cls, f"%%{name}%%")
        obj.field = name
        obj.merge = merge
        return obj

    field: str
    merge: MergeCollector

    def __html__(self) -> str:
        return self.merge.token(self.field, "")


def _default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    from jinja2 import Undefined
    from markupsafe import Markup

    if isinstance(value, FieldRef):
        return Markup(value.merge.token(value.field, str(default_value)))
    if isinstance(value, Undefined) or (boolean and not value):
        return default_value
    return value
