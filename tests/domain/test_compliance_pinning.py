"""A lifecycle's holiday calendar is frozen at start: package upgrades cannot move its contacts."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from cobranza.domain.compliance import first_allowed_instant, holiday_name, pin_holidays
from cobranza.domain.compliance_file import load_profile
from cobranza.domain.compliance_profile import ContactChannel


def test_pinned_calendar_answers_inside_its_years() -> None:
    pinned = pin_holidays(load_profile("CO"), 2024, 2026)
    assert pinned.holidays is not None and pinned.holidays.pinned is not None
    assert holiday_name(pinned, date(2025, 3, 24)) is not None  # San José, observed
    # A calendar edited after pinning is what the lifecycle sees: the pin wins.
    edited = pinned.holidays.model_copy(update={"pinned": {}})
    unpinned_day = pinned.model_copy(update={"holidays": edited})
    assert holiday_name(unpinned_day, date(2025, 3, 24)) is None


def test_pinned_profile_gives_case_C01() -> None:
    pinned = pin_holidays(load_profile("CO"), 2024, 2026)
    desired = datetime(2025, 3, 23, 10, 0, tzinfo=ZoneInfo("America/Bogota"))
    decision = first_allowed_instant(pinned, ContactChannel.SMS, desired, "America/Bogota")
    assert decision.allowed_at == datetime(2025, 3, 25, 7, 0, tzinfo=ZoneInfo("America/Bogota"))


def test_pinned_profile_survives_a_json_round_trip() -> None:
    pinned = pin_holidays(load_profile("BR", "SP"), 2025, 2025)
    again = type(pinned).model_validate_json(pinned.model_dump_json())
    assert again.holidays == pinned.holidays
