"""mailer.validate: typed models without pydantic, errors as located and helpful as before."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal

import pytest

from mailer.errors import ConfigError, IssueError
from mailer.validate import (
    AfterValidator,
    Field,
    Model,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "issues" / "2018-03-iom-turkey.yaml"


def _even(value: int) -> int:
    if value % 2:
        raise ValueError(f"expected an even number, got {value}")
    return value


class Inner(Model):
    model_strip = True
    name: str = Field(min_length=2)
    size: int | None = Field(default=None, ge=16, le=600)


class Cat(Model):
    type: Literal["cat"]
    lives: Annotated[int, AfterValidator(_even)] = 8


class Dog(Model):
    type: Literal["dog"]
    good: bool = True


class Outer(Model):
    model_strip = True
    model_frozen = True
    title: str
    when: date
    at: datetime | None = None
    tags: list[str] = Field(default_factory=list, max_length=2)
    inner: Inner | None = None
    pets: list[Annotated[Cat | Dog, Tag("type")]] = Field(default_factory=list)
    extra: dict[str, float] = Field(default_factory=dict)

    @field_validator("title")
    def _no_x(cls, value: str) -> str:
        if "x" in value:
            raise ValueError("no x in titles")
        return value

    @model_validator
    def _order(self) -> None:
        if self.at is not None and self.at.date() < self.when:
            raise ValueError("at is before when")


def test_values_are_read_as_pydantic_lax_mode_reads_them() -> None:
    """Texts are stripped, "600" is 600, "yes" is true, dates and date-times parse, and the
    nested models and tagged union give typed objects with the same attribute names."""
    got = Outer.model_validate(
        {
            "title": "  Hello ",
            "when": "2027-04-22",
            "at": "2027-04-22 18:00",
            "inner": {"name": " ab ", "size": "600"},
            "pets": [{"type": "cat", "lives": 6}, {"type": "dog", "good": "yes"}],
            "extra": {"a": "1.5"},
        }
    )
    assert got.title == "Hello" and got.when == date(2027, 4, 22)
    assert got.at == datetime(2027, 4, 22, 18, 0)
    assert isinstance(got.inner, Inner) and got.inner.name == "ab" and got.inner.size == 600
    assert [type(p).__name__ for p in got.pets] == ["Cat", "Dog"] and got.pets[1].good is True
    assert got.extra == {"a": 1.5} and got.tags == []
    assert got.model_dump()["inner"] == {"name": "ab", "size": 600}
    with pytest.raises(TypeError, match="frozen"):
        got.title = "changed"


def test_every_problem_is_collected_as_a_pydantic_shaped_dict() -> None:
    """One validation reports all problems with pydantic's type, loc, msg and input."""
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate(
            {
                "title": "x marks",
                "when": "2018-02-30",
                "tags": ["a", "b", "c"],
                "inner": {"name": "a", "size": 5, "colour": "red"},
                "pets": [{"type": "cow"}, {"good": True}, {"type": "cat", "lives": 3}],
                "bogus": 1,
            }
        )
    errors = {(e["loc"], e["type"]): e for e in caught.value.errors()}
    assert errors[(("title",), "value_error")]["msg"] == "Value error, no x in titles"
    assert errors[(("when",), "date_from_datetime_parsing")]["msg"] == (
        "Input should be a valid date or datetime, day value is outside expected range"
    )
    assert errors[(("tags",), "too_long")]["msg"] == (
        "List should have at most 2 items after validation, not 3"
    )
    assert errors[(("inner", "name"), "string_too_short")]["msg"] == (
        "String should have at least 2 characters"
    )
    assert errors[(("inner", "size"), "greater_than_equal")]["input"] == 5
    assert errors[(("inner", "colour"), "extra_forbidden")]["input"] == "red"
    tag = errors[(("pets", 0), "union_tag_invalid")]
    assert tag["ctx"]["tag"] == "cow" and "'cat', 'dog'" in tag["msg"]
    assert (("pets", 1), "union_tag_not_found") in errors
    assert errors[(("pets", 2, "cat", "lives"), "value_error")]["input"] == 3
    assert errors[(("bogus",), "extra_forbidden")]["msg"] == "Extra inputs are not permitted"
    assert len(errors) == 10


def test_model_validator_runs_once_the_fields_are_valid() -> None:
    """A model-level check sees typed values and reports at the model's location."""
    with pytest.raises(ValidationError) as caught:
        Outer(title="t", when=date(2027, 4, 23), at="2027-04-22 18:00")
    (problem,) = caught.value.errors()
    assert problem["loc"] == () and problem["msg"] == "Value error, at is before when"


def test_issue_errors_keep_line_column_path_and_did_you_mean(tmp_path: Path) -> None:
    """A misspelled key in a story's image: file:line:column, the field path, and the
    suggestion, exactly as with pydantic."""
    from mailer.build.issue import load_issue

    path = tmp_path / "issue.yaml"
    path.write_text(
        "subject: S\nblocks:\n  - type: story\n    title: T\n    image:\n"
        "      src: assets/a.jpg\n      alt: ''\n      captoin: C\n",
        encoding="utf-8",
    )
    with pytest.raises(IssueError) as caught:
        load_issue(path)
    assert caught.value.location == f"{path}:8:7"
    assert "blocks[0] (story 't').image.captoin: unknown field 'captoin'" in str(caught.value)
    assert caught.value.hint == "did you mean 'caption'?"


def test_config_errors_keep_the_key_path_and_did_you_mean(tmp_path: Path) -> None:
    """mailer.toml: every problem named by its dotted key, with a did-you-mean."""
    from mailer.config import load_config

    toml = tmp_path / "mailer.toml"
    toml.write_text(
        '[brand]\nprimary_colour = "#000"\n[sending]\nbatch_size = 0\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(toml)
    message = str(caught.value)
    assert "unknown key 'brand.primary_colour' (did you mean 'primary_color'?)" in message
    assert "'sending.batch_size': Input should be greater than or equal to 1" in message


def test_a_build_never_imports_pydantic(tmp_path: Path) -> None:
    """`mailer build` of the sample, three languages, imports no pydantic module."""
    code = (
        "import sys; from mailer.cli import main\n"
        f"try: main(['build', {str(SAMPLE)!r}, '-o', {str(tmp_path / 'out')!r}])\n"
        "except SystemExit as e: assert not e.code, e.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "out" / "tr" / "index.html").is_file()
