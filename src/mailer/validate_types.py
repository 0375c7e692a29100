"""The scalar checks of :mod:`mailer.validate` and its error dicts.

Texts, whole numbers, numbers, true/false, dates and date-times are read the way
pydantic's lax mode reads them (``"600"`` is 600, ``"yes"`` is true, a YAML date is a
date, ``"2027-04-22 18:00"`` a date-time), and each problem is a dict with pydantic's
``type``, ``loc``, ``msg``, ``input`` and ``ctx``, its message worded as pydantic's.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

Loc = tuple[Any, ...]
Error = dict[str, Any]
#: a check: the typed value, or :data:`BAD` after appending its errors
Check = Callable[[Any, Loc, list[Error]], Any]


class _Bad:
    def __repr__(self) -> str:
        return "<invalid>"


#: what a check returns when it appended an error
BAD: Any = _Bad()

_MESSAGES = {
    "missing": "Field required",
    "extra_forbidden": "Extra inputs are not permitted",
    "model_type": "Input should be a valid dictionary or instance of {class_name}",
    "model_attributes_type": "Input should be a valid dictionary or object to extract fields from",
    "union_tag_not_found": "Unable to extract tag using discriminator {discriminator}",
    "union_tag_invalid": "Input tag '{tag}' found using {discriminator} does not match any of "
    "the expected tags: {expected_tags}",
    "literal_error": "Input should be {expected}",
    "list_type": "Input should be a valid list",
    "dict_type": "Input should be a valid dictionary",
    "path_type": "Input is not a valid path",
    "string_type": "Input should be a valid string",
    "string_pattern_mismatch": "String should match pattern '{pattern}'",
    "int_type": "Input should be a valid integer",
    "int_parsing": "Input should be a valid integer, unable to parse string as an integer",
    "int_from_float": "Input should be a valid integer, got a number with a fractional part",
    "float_type": "Input should be a valid number",
    "float_parsing": "Input should be a valid number, unable to parse string as a number",
    "bool_type": "Input should be a valid boolean",
    "bool_parsing": "Input should be a valid boolean, unable to interpret input",
    "greater_than_equal": "Input should be greater than or equal to {ge}",
    "less_than_equal": "Input should be less than or equal to {le}",
    "greater_than": "Input should be greater than {gt}",
    "less_than": "Input should be less than {lt}",
    "date_type": "Input should be a valid date",
    "date_from_datetime_parsing": "Input should be a valid date or datetime, {error}",
    "date_from_datetime_inexact": "Datetimes provided to dates should have zero time - e.g. be "
    "exact dates",
    "datetime_type": "Input should be a valid datetime",
    "datetime_from_date_parsing": "Input should be a valid datetime or date, {error}",
}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def error(kind: str, loc: Loc, value: Any, *, exc: Exception | None = None, **ctx: Any) -> Error:
    """One problem as pydantic words it: ``{"type", "loc", "msg", "input"[, "ctx"]}``."""
    if exc is not None:
        return {
            "type": kind,
            "loc": loc,
            "msg": f"Value error, {exc}",
            "input": value,
            "ctx": {"error": exc},
        }
    if kind in {"too_long", "too_short", "string_too_long", "string_too_short"}:
        bound = "at most" if kind.endswith("long") else "at least"
        if kind.startswith("string"):
            n = ctx.get("max_length", ctx.get("min_length", 0))
            msg = f"String should have {bound} {_plural(n, 'character')}"
        else:
            n = ctx.get("max_length", ctx.get("min_length", 0))
            actual = ctx.pop("actual")
            msg = f"List should have {bound} {_plural(n, 'item')} after validation, not {actual}"
            ctx = {"field_type": "List", **ctx, "actual_length": actual}
    else:
        msg = _MESSAGES[kind].format(**ctx)
    found: Error = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx:
        found["ctx"] = ctx
    return found


def _bounds(constraints: dict[str, Any]) -> Callable[[Any, Loc, list[Error], Any], Any]:
    every: list[tuple[str, str, Callable[[Any, Any], Any]]] = [
        ("ge", "greater_than_equal", operator.ge),
        ("gt", "greater_than", operator.gt),
        ("le", "less_than_equal", operator.le),
        ("lt", "less_than", operator.lt),
    ]
    tests = [test for test in every if test[0] in constraints]

    def check(value: Any, loc: Loc, errors: list[Error], raw: Any) -> Any:
        for key, kind, test in tests:
            if not test(value, constraints[key]):
                errors.append(error(kind, loc, raw, **{key: constraints[key]}))
                return BAD
        return value

    return check


def _text(constraints: dict[str, Any], strip: bool) -> Check:
    low, high = constraints.get("min_length"), constraints.get("max_length")
    pattern = constraints.get("pattern")
    regex = re.compile(pattern) if pattern else None

    def check(raw: Any, loc: Loc, errors: list[Error]) -> Any:
        if isinstance(raw, str):
            value = raw
        elif isinstance(raw, bytes | bytearray):
            value = bytes(raw).decode("utf-8", "replace")
        else:
            errors.append(error("string_type", loc, raw))
            return BAD
        if strip:
            value = value.strip()
        if low is not None and len(value) < low:
            errors.append(error("string_too_short", loc, raw, min_length=low))
            return BAD
        if high is not None and len(value) > high:
            errors.append(error("string_too_long", loc, raw, max_length=high))
            return BAD
        if regex is not None and not regex.search(value):
            errors.append(error("string_pattern_mismatch", loc, raw, pattern=pattern))
            return BAD
        return value

    if low is not None or high is not None or regex is not None:
        return check

    def text(raw: Any, loc: Loc, errors: list[Error]) -> Any:
        """A text without constraints (most are): a ``str`` passes at once."""
        if type(raw) is str:
            return raw.strip() if strip else raw
        return check(raw, loc, errors)

    return text


def _whole(value: Any) -> tuple[str, int | None]:
    if isinstance(value, int):  # bool too: True is 1, as pydantic reads it
        return "", int(value)
    if isinstance(value, float):
        return ("", int(value)) if value.is_integer() else ("int_from_float", None)
    if isinstance(value, str):
        try:
            return "", int(value.strip())
        except ValueError:
            try:
                number = float(value.strip())
            except ValueError:
                return "int_parsing", None
            return ("", int(number)) if number.is_integer() else ("int_parsing", None)
    return "int_type", None


def _number(value: Any) -> tuple[str, float | None]:
    if isinstance(value, int | float):
        return "", float(value)
    if isinstance(value, str):
        try:
            return "", float(value.strip())
        except ValueError:
            return "float_parsing", None
    return "float_type", None


_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def _flag(value: Any) -> tuple[str, bool | None]:
    if isinstance(value, bool):
        return "", value
    if isinstance(value, int | float):
        if value in (0, 1):
            return "", bool(value)
        return ("bool_parsing" if isinstance(value, int) else "bool_type"), None
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE or lowered in _FALSE:
            return "", lowered in _TRUE
        return "bool_parsing", None
    return "bool_type", None


_WHEN_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6})\d*)?)?"
    r"(Z|z|[+-]\d{2}:?\d{2})?)?"
)


def parse_when(text: str) -> datetime:
    """``YYYY-MM-DD[ HH:MM[:SS[.f]]][Z|±HH:MM]``; ValueError in pydantic's words."""
    text = text.strip()
    if len(text) < 10:
        raise ValueError("input is too short")
    found = _WHEN_RE.match(text)
    if not found:
        for part, start, end in (("year", 0, 4), ("month", 5, 7), ("day", 8, 10)):
            if not text[start:end].isdigit():
                raise ValueError(f"invalid character in {part}")
            if end < 10 and text[end] != "-":
                raise ValueError("invalid date separator, expected `-`")
        raise ValueError("invalid character in time")
    if found.end() != len(text):
        raise ValueError("unexpected extra characters at the end of the input")
    y, mo, d, h, mi, s, frac, zone = found.groups()
    tz = None
    if zone:
        if zone in {"Z", "z"}:
            tz = UTC
        else:
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            tz = timezone(sign * offset)
    try:
        if not 1 <= int(mo) <= 12:
            raise ValueError("month value is outside expected range")
        return datetime(
            int(y),
            int(mo),
            int(d),
            int(h or 0),
            int(mi or 0),
            int(s or 0),
            int((frac or "0").ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError as exc:
        if "day" in str(exc):
            raise ValueError("day value is outside expected range") from None
        if "month" in str(exc):
            raise ValueError("month value is outside expected range") from None
        raise ValueError("invalid time") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _day(value: Any, loc: Loc, errors: list[Error]) -> Any:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str) and _is_number(value):
        moment = datetime.fromtimestamp(float(value), UTC)
    elif isinstance(value, str):
        try:
            moment = parse_when(value)
        except ValueError as exc:
            errors.append(error("date_from_datetime_parsing", loc, value, error=str(exc)))
            return BAD
    else:
        errors.append(error("date_type", loc, value))
        return BAD
    if moment.time() != datetime.min.time():
        errors.append(error("date_from_datetime_inexact", loc, value))
        return BAD
    return moment.date()


def _moment(value: Any, loc: Loc, errors: list[Error]) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and _is_number(value):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        try:
            return parse_when(value)
        except ValueError as exc:
            errors.append(error("datetime_from_date_parsing", loc, value, error=str(exc)))
            return BAD
    errors.append(error("datetime_type", loc, value))
    return BAD


_READERS: dict[Any, Callable[[Any], tuple[str, Any]]] = {
    int: _whole,
    float: _number,
    bool: _flag,
}


def scalar_check(tp: Any, constraints: dict[str, Any], strip: bool) -> Check:
    """The check of a ``str``, ``int``, ``float``, ``bool``, ``date`` or ``datetime``."""
    if tp is str:
        return _text(constraints, strip)
    if tp is date:
        return _day
    if tp is datetime:
        return _moment
    reader = _READERS.get(tp)
    if reader is None:
        raise TypeError(f"no check for the type {tp!r}")
    bounds = _bounds(constraints)

    def check(value: Any, loc: Loc, errors: list[Error]) -> Any:
        kind, result = reader(value)
        if kind:
            errors.append(error(kind, loc, value))
            return BAD
        return bounds(result, loc, errors, value)

    return check
