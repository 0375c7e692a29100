"""Reading WHEN and max_delay: offsets, local times in a zone, DST gaps and folds, the past."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.errors import ConfigError, ScheduleError
from mailer.schedule import parse_duration, parse_when, to_local

NOW = datetime(2026, 11, 24, 12, 0)  # naive UTC, the injected clock


def test_iso_with_offset_is_an_instant() -> None:
    """An ISO 8601 time with an offset is converted to UTC and shown in that offset."""
    when = parse_when("2026-12-01T09:00+03:00", tz=None, now=NOW)
    assert when.utc == datetime(2026, 12, 1, 6, 0)
    assert when.zone == "+03:00"
    assert when.local.strftime("%H:%M") == "09:00"


def test_z_suffix_means_utc() -> None:
    """A trailing Z is UTC."""
    when = parse_when("2026-12-01T09:00Z", tz=None, now=NOW)
    assert (when.utc, when.zone) == (datetime(2026, 12, 1, 9, 0), "UTC")


def test_offset_wins_over_tz_but_tz_is_kept_for_display() -> None:
    """With both an offset and --tz, the offset fixes the instant and --tz the display zone."""
    when = parse_when("2026-12-01T09:00+03:00", tz="Europe/Berlin", now=NOW)
    assert when.utc == datetime(2026, 12, 1, 6, 0)
    assert when.zone == "Europe/Berlin"
    assert when.local.strftime("%H:%M %Z") == "07:00 CET"


def test_local_time_in_the_default_zone() -> None:
    """A time without offset is read in the default zone (config's schedule.timezone)."""
    when = parse_when("2026-12-01 09:00", tz=None, default_tz="Europe/Istanbul", now=NOW)
    assert when.utc == datetime(2026, 12, 1, 6, 0)
    assert when.zone == "Europe/Istanbul"


def test_same_wall_time_on_both_sides_of_a_dst_change() -> None:
    """09:00 in Berlin is 07:00 UTC in summer time and 08:00 UTC after the clocks go back."""
    before = parse_when("2027-10-30 09:00", tz="Europe/Berlin", now=NOW)
    after = parse_when("2027-11-01 09:00", tz="Europe/Berlin", now=NOW)
    assert before.utc == datetime(2027, 10, 30, 7, 0)
    assert after.utc == datetime(2027, 11, 1, 8, 0)


def test_nonexistent_local_time_in_the_spring_gap_is_refused() -> None:
    """02:30 on the night New York springs forward does not exist: a clear error with choices."""
    with pytest.raises(ScheduleError, match="does not exist in America/New_York") as info:
        parse_when("2027-03-14 02:30", tz="America/New_York", now=NOW)
    assert "2027-03-14T02:30-04:00" in str(info.value)


def test_ambiguous_local_time_in_the_autumn_fold_is_refused() -> None:
    """02:30 on the night Berlin falls back happens twice: the error names both offsets."""
    with pytest.raises(ScheduleError, match="happens twice") as info:
        parse_when("2027-10-31 02:30", tz="Europe/Berlin", now=NOW)
    assert "+02:00 (first)" in str(info.value)
    assert "+01:00 (second)" in str(info.value)


def test_ambiguous_time_with_offset_is_accepted() -> None:
    """Giving the offset resolves the fold to the second 02:30."""
    when = parse_when("2027-10-31T02:30+01:00", tz="Europe/Berlin", now=NOW)
    assert when.utc == datetime(2027, 10, 31, 1, 30)
    assert to_local(when.utc, "Europe/Berlin").fold == 1


def test_past_time_is_refused_but_a_minute_ago_is_accepted() -> None:
    """A time an hour ago is an error; 30 seconds ago is still fine."""
    with pytest.raises(ScheduleError, match="in the past"):
        parse_when("2026-11-24T11:00Z", tz=None, now=NOW)
    ok = parse_when("2026-11-24T11:59:30Z", tz=None, now=NOW)
    assert ok.utc == datetime(2026, 11, 24, 11, 59, 30)


def test_unknown_zone_and_garbage_are_errors() -> None:
    """An unknown zone and an unparseable time raise ScheduleError with a hint."""
    with pytest.raises(ScheduleError, match="unknown time zone 'Mars/Olympus'") as info:
        parse_when("2026-12-01 09:00", tz="Mars/Olympus", now=NOW)
    assert "IANA" in str(info.value)
    with pytest.raises(ScheduleError, match="not a date and time"):
        parse_when("next tuesday", tz=None, now=NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6h", timedelta(hours=6)),
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    """max_delay accepts d/h/m/s units and their combinations."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["6", "six hours", "", "h"])
def test_bad_durations(text: str) -> None:
    """A duration without a unit is a ConfigError naming the setting."""
    with pytest.raises(ConfigError, match="max_delay"):
        parse_duration(text)


ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Europe/Istanbul",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Santiago",
    "UTC",
]


@settings(max_examples=300, deadline=None)
@given(
    wall=st.datetimes(min_value=datetime(2027, 1, 1), max_value=datetime(2030, 12, 31)),
    zone_name=st.sampled_from(ZONES),
)
def test_local_times_round_trip_or_are_refused(wall: datetime, zone_name: str) -> None:
    """Any local time either comes back as the same wall time in its zone, or is refused
    as skipped/repeated by a DST change — never silently moved."""
    wall = wall.replace(second=0, microsecond=0)
    text = wall.strftime("%Y-%m-%d %H:%M")
    try:
        when = parse_when(text, tz=zone_name, now=NOW)
    except ScheduleError as exc:
        assert "does not exist" in exc.message or "happens twice" in exc.message
        return
    assert when.local.replace(tzinfo=None) == wall
    assert when.zone == zone_name
