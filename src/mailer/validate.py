"""Typed models from plain data (YAML, TOML): a small declarative validation layer.

An issue file and ``mailer.toml`` are validated by classes declared with type hints::

    class Image(Model):
        model_strip = True                      # texts stripped before they are checked
        src: Annotated[str, AfterValidator(check_src)]
        alt: str
        width: int | None = Field(default=None, ge=16, le=600)

Supported: ``str``, ``int``, ``float``, ``bool``, ``date``, ``datetime``, ``Path``,
``Literal``, ``X | None``, ``list[X]``, ``dict[str, X]``, nested models, a union of
models told apart by a field (``Annotated[A | B, Tag("type")]``), ``Field`` constraints
(``min_length``, ``max_length``, ``ge``, ``le``, ``gt``, ``lt``, ``pattern``) and
after-validators (:class:`AfterValidator`, :func:`field_validator`,
:func:`model_validator`). Unknown keys are refused.

Validation collects every problem as a dict shaped like pydantic's (``type``, ``loc``,
``msg``, ``input``, ``ctx``) and raises :class:`ValidationError` with them all, so the
callers' located messages (:mod:`mailer.build.issue_yaml`, :mod:`mailer.config`) read
them as they did. It exists so a build does not import pydantic (~150 ms; issue 15).
A model's checks are made on its first validation, not when the class is defined.
"""

from __future__ import annotations

import builtins
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from .validate_types import BAD, Check, Error, Loc, error, scalar_check

__all__ = [
    "AfterValidator",
    "Field",
    "FieldInfo",
    "Model",
    "Tag",
    "ValidationError",
    "field_validator",
    "make_model",
    "model_validator",
]

_MISSING: Any = object()


class ValidationError(ValueError):
    """Every problem found in one validation, as pydantic-shaped dicts (:meth:`errors`)."""

    def __init__(self, title: str, errors: list[Error]) -> None:
        self.title = title
        self._errors = errors
        lines = [f"{len(errors)} validation error(s) for {title}"]
        lines += [f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in errors]
        super().__init__("\n".join(lines))

    def errors(self) -> list[Error]:
        """The problems: ``{"type", "loc", "msg", "input", "ctx"?}`` each."""
        return list(self._errors)


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
        default: Any = _MISSING,
        default_factory: Callable[[], Any] | None = None,
        constraints: dict[str, Any] | None = None,
    ) -> None:
        self.default = default
        self.default_factory = default_factory
        self.constraints = constraints or {}
        self.annotation: Any = None

    @property
    def required(self) -> bool:
        return self.default is _MISSING and self.default_factory is None

    def make_default(self) -> Any:
        if self.default_factory is not None:
            return self.default_factory()
        value = self.default
        return value.copy() if isinstance(value, (list, dict)) else value


def Field(
    default: Any = _MISSING,
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


class _Compiled:
    __slots__ = ("checks", "field_checks", "fields", "model_checks", "plan")

    def __init__(self) -> None:
        self.fields: dict[str, FieldInfo] = {}
        self.checks: dict[str, Check] = {}
        self.field_checks: dict[str, list[Callable[..., Any]]] = {}
        self.model_checks: list[Callable[[Any], Any]] = []
        #: per field, in order: its name, check, field validators, whether it is required,
        #: and its default when that is a constant (else the FieldInfo that makes one)
        self.plan: tuple[_Step, ...] = ()


#: one field of :attr:`_Compiled.plan`
_Step = tuple[str, Check, tuple[Callable[..., Any], ...], bool, Any, "FieldInfo | None"]


class _ModelMeta(type):
    @property
    def model_fields(cls) -> dict[str, FieldInfo]:
        """The fields, their annotations resolved (``Settings.model_fields["sender"]``)."""
        return _fields_of(cls)


def _fields_of(cls: Any) -> dict[str, FieldInfo]:
    own = cls.__dict__.get("_model_fields")
    if own is not None:
        return own  # type: ignore[no-any-return]
    fields: dict[str, FieldInfo] = {}
    for klass in reversed(cls.__mro__):
        hints = klass.__dict__.get("__annotations__", {})  # noqa: RUF063 - own, unevaluated
        module = sys.modules.get(klass.__module__)
        scope = vars(module) if module else {}
        for name, hint in hints.items():
            if isinstance(hint, str):
                if hint.startswith("ClassVar"):
                    continue
                hint = _evaluate(hint, scope)
            if get_origin(hint) is ClassVar or name.startswith("_"):
                continue
            info = klass.__dict__.get(name, _MISSING)
            if not isinstance(info, FieldInfo):
                info = FieldInfo(info) if info is not _MISSING else FieldInfo()
            copy = FieldInfo(info.default, info.default_factory, info.constraints)
            copy.annotation = hint
            fields[name] = copy
    cls._model_fields = fields
    return fields


def _evaluate(hint: str, scope: dict[str, Any]) -> Any:
    """The annotation *hint* (a string: ``from __future__ import annotations``) in *scope*;
    one name (``str``, ``Image``: two thirds of them) is looked up, not compiled."""
    if hint.isidentifier():
        if hint in scope:
            return scope[hint]
        if hasattr(builtins, hint):
            return getattr(builtins, hint)
    return eval(hint, scope)


class Model(metaclass=_ModelMeta):
    """The base of a validated model: ``Model.model_validate(data)`` or ``Model(**data)``.

    ``model_strip``: texts are stripped before they are checked; ``model_frozen``: the
    object cannot be changed (and is hashable)."""

    model_strip: ClassVar[bool] = False
    model_frozen: ClassVar[bool] = False
    _model_fields: ClassVar[dict[str, FieldInfo] | None] = None
    _model_compiled: ClassVar[_Compiled | None] = None

    def __init__(self, **data: Any) -> None:
        errors: list[Error] = []
        values = type(self)._values(data, (), errors)
        if errors:
            raise ValidationError(type(self).__name__, errors)
        object.__setattr__(self, "__dict__", values)
        type(self)._after(self, (), data, errors)
        if errors:
            raise ValidationError(type(self).__name__, errors)

    @classmethod
    def model_validate(cls, data: Any) -> Any:
        """A *cls* from *data* (a mapping); ValidationError listing every problem."""
        errors: list[Error] = []
        result = cls._check(data, (), errors)
        if errors:
            raise ValidationError(cls.__name__, errors)
        return result

    # -- validation --------------------------------------------------------------------
    @classmethod
    def _compiled(cls) -> _Compiled:
        done = cls.__dict__.get("_model_compiled")
        if done is not None:
            return done  # type: ignore[no-any-return]
        compiled = _Compiled()
        compiled.fields = _fields_of(cls)
        for name, info in compiled.fields.items():
            compiled.checks[name] = compile_check(
                info.annotation, info.constraints, cls.model_strip
            )
        for klass in reversed(cls.__mro__):
            for attr in klass.__dict__.values():
                for name in getattr(attr, "__validates__", ()):
                    compiled.field_checks.setdefault(name, []).append(attr)
                if getattr(attr, "__validates_model__", False):
                    compiled.model_checks.append(attr)
        compiled.plan = tuple(
            (
                name,
                compiled.checks[name],
                tuple(compiled.field_checks.get(name, ())),
                info.required,
                info.default,
                # a factory or a list/dict default: made afresh per object
                info
                if info.default_factory is not None or isinstance(info.default, list | dict)
                else None,
            )
            for name, info in compiled.fields.items()
        )
        cls._model_compiled = compiled
        return compiled

    @classmethod
    def _values(cls, data: dict[str, Any], loc: Loc, errors: list[Error]) -> dict[str, Any]:
        """The checked value of each field of *data* (the plan of :meth:`_compiled`: one
        tuple per field, no per-field look-ups); unknown keys after, in *data*'s order."""
        values: dict[str, Any] = {}
        present = 0
        for name, check, funcs, required, default, maker in cls._compiled().plan:
            if name not in data:
                if required:
                    errors.append(error("missing", (*loc, name), data))
                else:
                    values[name] = default if maker is None else maker.make_default()
                continue
            present += 1
            raw = data[name]
            if not funcs:
                values[name] = check(raw, (*loc, name), errors)
                continue
            before = len(errors)
            value = check(raw, (*loc, name), errors)
            if len(errors) == before:
                for func in funcs:
                    try:
                        value = func(cls, value)
                    except ValueError as exc:
                        errors.append(error("value_error", (*loc, name), raw, exc=exc))
                        break
            values[name] = value
        if present != len(data):  # keys that are no field
            fields = cls._compiled().fields
            for key in data:
                if key not in fields:
                    errors.append(error("extra_forbidden", (*loc, key), data[key]))
        return values

    @classmethod
    def _after(cls, obj: Any, loc: Loc, data: Any, errors: list[Error]) -> None:
        for func in cls._compiled().model_checks:
            try:
                func(obj)
            except ValueError as exc:
                errors.append(error("value_error", loc, data, exc=exc))
                return

    @classmethod
    def _check(cls, data: Any, loc: Loc, errors: list[Error]) -> Any:
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            errors.append(error("model_type", loc, data, class_name=cls.__name__))
            return BAD
        before = len(errors)
        values = cls._values(data, loc, errors)
        if len(errors) > before:
            return BAD
        obj = cls.__new__(cls)
        object.__setattr__(obj, "__dict__", values)
        if cls.__dict__["_model_compiled"].model_checks:  # compiled by _values
            cls._after(obj, loc, data, errors)
        return obj if len(errors) == before else BAD

    # -- the object --------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if self.model_frozen:
            raise TypeError(f"{type(self).__name__} is frozen: {name} cannot be changed")
        object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        if not self.model_frozen:
            raise TypeError(f"unhashable type: {type(self).__name__!r}")
        return hash((type(self), *self.__dict__.values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({shown})"

    def model_dump(self) -> dict[str, Any]:
        """The fields as plain data (nested models as dicts)."""
        return {k: _dump(v) for k, v in self.__dict__.items()}


def _dump(value: Any) -> Any:
    if isinstance(value, Model):
        return value.model_dump()
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def make_model(name: str, base: type[Model], fields: dict[str, tuple[Any, Any]]) -> Any:
    """A subclass of *base* named *name* with *fields* ``{name: (annotation, default)}``
    (default ``...`` or a :func:`Field`: required unless it has a default)."""
    namespace: dict[str, Any] = {"__annotations__": {}, "__module__": base.__module__}
    for field, (annotation, default) in fields.items():
        namespace["__annotations__"][field] = annotation
        if default is not ...:
            namespace[field] = default
    return _ModelMeta(name, (base,), namespace)


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
    if isinstance(tp, type) and issubclass(tp, Model):
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
        for tag in get_args(_fields_of(model)[key].annotation):
            by_tag[tag] = model
    expected = ", ".join(repr(t) for t in by_tag)

    def check(value: Any, loc: Loc, errors: list[Error]) -> Any:
        if isinstance(value, Model) and type(value) in models:
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
