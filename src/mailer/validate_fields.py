"""A model's fields for :mod:`mailer.validate`: how they are declared and how each is checked.

Declared with :func:`Field` (a default and constraints, held in a :class:`FieldInfo`),
``Annotated[..., AfterValidator(f)]``, ``Annotated[A | B, Tag("type")]``,
:func:`field_validator` and :func:`model_validator`; :func:`compile_check` turns a field's
annotation into its check: ``Literal``, ``X | None``, ``list[X]``, ``dict[str, X]``,
``Path``, a nested model (a :class:`ModelBase`: :class:`mailer.validate.Model`) or a
tagged union of models, and the scalars of :mod:`mailer.validate_types`.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from .validate_types import BAD, Check, Error, Loc, error, scalar_check

#: a field's default when it has none (it is required)
MISSING: Any = object()


class ModelBase:
    """What :func:`compile_check` knows of a model, so this module needs nothing of
    :mod:`mailer.validate` (which imports it): :class:`mailer.validate.Model` is its one
    subclass, and a value of a model's type is checked by the model's ``_check``."""

    @classmethod
    def _check(cls, data: Any, loc: Loc, errors: list[Error]) -> Any:
        raise NotImplementedError


class AfterValidator:
    """In ``Annotated[str, AfterValidator(f)]``: *f* checks (and may change) the typed
    value; a ValueError it raises becomes a ``value_error`` at the field."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func


class Tag:
    """In ``Annotated[A | B, Tag("type")]``: the models are told apart by the ``Literal``
    of their field *key*; an unknown or missing tag is one error naming the choices."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key


class FieldInfo:
    """A model field: its default (or factory), constraints and resolved ``annotation``."""

    __slots__ = ("annotation", "constraints", "default", "default_factory")

    def __init__(
        self,
        default: Any = MISSING,
        default_factory: Callable[[], Any] | None = None,
        constraints: dict[str, Any] | None = None,
    ) -> None:
        self.default = default
        self.default_factory = default_factory
        self.constraints = constraints or {}
        self.annotation: Any = None

    @property
    def required(self) -> bool:
        return self.default is MISSING and self.default_factory is None

    def make_default(self) -> Any:
        if self.default_factory is not None:
            return self.default_factory()
        value = self.default
        return value.copy() if isinstance(value, (list, dict)) else value


def Field(
    default: Any = MISSING,
    *,
    default_factory: Callable[[], Any] | None = None,
    **constraints: Any,
) -> Any:
    """A field's default and constraints: ``min_length``, ``max_length``, ``ge``, ``le``,
    ``gt``, ``lt``, ``pattern``. Without a default (or factory) the field is required."""
    unknown = set(constraints) - {"min_length", "max_length", "ge", "le", "gt", "lt", "pattern"}
    if unknown:
        raise TypeError(f"unknown constraints: {sorted(unknown)}")
    return FieldInfo(default, default_factory, constraints)


def field_validator(*names: str) -> Callable[[Callable[..., Any]], Any]:
    """Marks ``def f(cls, value)`` as an after-validator of the fields *names*."""

    def mark(func: Callable[..., Any]) -> Any:
        target: Any = getattr(func, "__func__", func)  # a classmethod underneath
        target.__validates__ = names
        return target

    return mark


def model_validator(func: Callable[[Any], Any]) -> Any:
    """Marks ``def f(self)`` to run once the model's fields are valid; ValueError → error."""
    func.__validates_model__ = True  # type: ignore[attr-defined]
    return func


# -- checks per annotation ---------------------------------------------------------------------
def compile_check(tp: Any, constraints: dict[str, Any], strip: bool) -> Check:
    """The check of a value of type *tp* (with *constraints* on it)."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *meta = get_args(tp)
        tags = [m for m in meta if isinstance(m, Tag)]
        if tags:
            return _tagged(get_args(base), tags[0].key, constraints)
        inner = compile_check(base, constraints, strip)
        afters = [m.func for m in meta if isinstance(m, AfterValidator)]
        return _after(inner, afters) if afters else inner
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) != 1 or len(get_args(tp)) != 2:
            raise TypeError(f"only X | None and tagged unions of models are supported: {tp}")
        inner = compile_check(args[0], constraints, strip)
        return lambda v, loc, errs: None if v is None else inner(v, loc, errs)
    if origin is Literal:
        return _literal(get_args(tp))
    if origin is list:
        (item,) = get_args(tp)
        return _list(compile_check(item, {}, strip), constraints)
    if origin is dict:
        _, value = get_args(tp)
        return _dict(compile_check(value, {}, strip))
    if isinstance(tp, type) and issubclass(tp, ModelBase):
        return tp._check
    if tp is Any:
        return lambda v, loc, errs: v
    if tp is Path:
        return _path
    return scalar_check(tp, constraints, strip)


def _after(inner: Check, funcs: list[Callable[[Any], Any]]) -> Check:
    def check(value: Any, loc: Loc, errors: list[Error]) -> Any:
        result = inner(value, loc, errors)
        if result is BAD:
            return BAD
        for func in funcs:
            try:
                result = func(result)
            except ValueError as exc:
                errors.append(error("value_error", loc, value, exc=exc))
                return BAD
        return result

    return check


def _literal(choices: tuple[Any, ...]) -> Check:
    expected = [repr(c) for c in choices]
    text = expected[0] if len(expected) == 1 else f"{', '.join(expected[:-1])} or {expected[-1]}"

    def check(value: Any, loc: Loc, errors: list[Error]) -> Any:
        for choice in choices:
            if type(value) is type(choice) and value == choice:
                return value
        errors.append(error("literal_error", loc, value, expected=text))
        return BAD

    return check


def _list(item: Check, constraints: dict[str, Any]) -> Check:
    low, high = constraints.get("min_length"), constraints.get("max_length")

    def check(value: Any, loc: Loc, errors: list[Error]) -> Any:
        if not isinstance(value, list | tuple | set | frozenset):
            errors.append(error("list_type", loc, value))
            return BAD
        if high is not None and len(value) > high:  # before the items: a hostile file ends fast
            errors.append(error("too_long", loc, value, max_length=high, actual=len(value)))
            return BAD
        before = len(errors)
        out = [item(v, (*loc, i), errors) for i, v in enumerate(value)]
        if low is not None and len(value) < low:
            errors.append(error("too_short", loc, value, min_length=low, actual=len(value)))
        return out if len(errors) == before else BAD

    return check


def _dict(item: Check) -> Check:
    def check(value: Any, loc: Loc, errors: list[Error]) -> Any:
        if not isinstance(value, dict):
            errors.append(error("dict_type", loc, value))
            return BAD
        before = len(errors)
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                errors.append(error("string_type", (*loc, key, "[key]"), key))
                continue
            out[key] = item(v, (*loc, key), errors)
        return out if len(errors) == before else BAD

    return check


def _path(value: Any, loc: Loc, errors: list[Error]) -> Any:
    if isinstance(value, Path):
        return value
    if isinstance(value, str):
        return Path(value)
    errors.append(error("path_type", loc, value))
    return BAD


def _tagged(models: tuple[Any, ...], key: str, constraints: dict[str, Any]) -> Check:
    by_tag: dict[Any, Any] = {}
    for model in models:
        for tag in get_args(model.model_fields[key].annotation):
            by_tag[tag] = model
    expected = ", ".join(repr(t) for t in by_tag)

    def check(value: Any, loc: Loc, errors: list[Error]) -> Any:
        if isinstance(value, ModelBase) and type(value) in models:
            return value
        if not isinstance(value, dict):
            errors.append(error("model_attributes_type", loc, value))
            return BAD
        if key not in value:
            errors.append(error("union_tag_not_found", loc, value, discriminator=repr(key)))
            return BAD
        tag = value[key]
        try:
            model = by_tag.get(tag)
        except TypeError:  # an unhashable tag (a list)
            model = None
        if model is None:
            errors.append(
                error(
                    "union_tag_invalid",
                    loc,
                    value,
                    discriminator=repr(key),
                    tag=str(tag),
                    expected_tags=expected,
                )
            )
            return BAD
        return model._check(value, (*loc, tag), errors)

    return check
