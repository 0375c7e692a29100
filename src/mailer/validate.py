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
Fields are declared, and each annotation's check made, in :mod:`mailer.validate_fields`
(its names are re-exported here); the scalar checks and error dicts in :mod:`mailer.validate_types`.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Callable
from typing import Any, ClassVar, get_origin

from .validate_fields import (
    MISSING,
    AfterValidator,
    Field,
    FieldInfo,
    ModelBase,
    Tag,
    compile_check,
    field_validator,
    model_validator,
)
from .validate_types import BAD, Check, Error, Loc, error

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
            info = klass.__dict__.get(name, MISSING)
            if not isinstance(info, FieldInfo):
                info = FieldInfo(info) if info is not MISSING else FieldInfo()
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


class Model(ModelBase, metaclass=_ModelMeta):
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
