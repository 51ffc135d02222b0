"""Cases C-01 to C-05 and the frequency caps, against the shipped compliance profiles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cobranza.domain.compliance import (
    ChannelNotAllowed,
    Decision,
    PastContact,
    UnknownTimeZone,
    first_allowed_instant,
)
from cobranza.domain.compliance_file import load_profile
from cobranza.domain.compliance_profile import ContactChannel, Scope

EMAIL, SMS, WHATSAPP, CALL = (
    ContactChannel.EMAIL,
    ContactChannel.SMS,
    ContactChannel.WHATSAPP,
    ContactChannel.CALL,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def decide(
    country: str,
    desired: str,
    tz: str,
    channel: ContactChannel = SMS,
    history: list[PastContact] | None = None,
    subdivision: str | None = None,
) -> Decision:
    profile = load_profile(country, subdivision)
    return first_allowed_instant(profile, channel, at(desired), tz, history or [])


def contact(when: str, channel: ContactChannel, direct: bool = False) -> PastContact:
    return PastContact(at=at(when), channel=channel, direct=direct)


def test_C01_colombia_sunday_then_holiday() -> None:
    d = decide("CO", "2025-03-23T10:00:00-05:00", "America/Bogota")
    assert d.allowed_at.isoformat() == "2025-03-25T07:00:00-05:00"
    assert d.deferred
    assert [r.id for r in d.rules] == ["co-contact-hours", "co-holidays"]
    assert d.rules[0].why == "Sunday is not a contact day"
    assert "2025-03-24 is a public holiday" in d.rules[1].why
    assert "Ley 2300 de 2023" in d.rules[1].source


def test_C02_peru_weekend_and_two_holidays() -> None:
    d = decide("PE", "2025-07-26T10:00:00-05:00", "America/Lima")
    assert d.allowed_at.isoformat() == "2025-07-30T07:00:00-05:00"
    assert [(r.id, r.to.date().isoformat()) for r in d.rules] == [
        ("pe-contact-hours", "2025-07-28"),
        ("pe-holidays", "2025-07-30"),
    ]
    assert "2025-07-28" in d.rules[1].why and "2025-07-29" in d.rules[1].why


def test_C02_peru_a_weekday_contact_at_20_00_waits_for_07_00_next_day() -> None:
    d = decide("PE", "2025-07-24T20:00:00-05:00", "America/Lima", CALL)
    assert d.allowed_at.isoformat() == "2025-07-25T07:00:00-05:00"
    assert d.rules[0].id == "pe-contact-hours"


def test_C02_peru_a_friday_evening_contact_skips_the_weekend() -> None:
    d = decide("PE", "2025-07-25T20:00:00-05:00", "America/Lima", EMAIL)
    assert d.allowed_at.isoformat() == "2025-07-30T07:00:00-05:00"


def test_C03_us_customer_zone_not_server() -> None:
    batch = "2025-11-04T09:00:00-05:00"  # 09:00 in New York is 06:00 in Los Angeles
    d = decide("US", batch, "America/Los_Angeles", EMAIL)
    assert d.allowed_at.isoformat() == "2025-11-04T08:00:00-08:00"
    assert d.desired.isoformat() == "2025-11-04T06:00:00-08:00"
    assert [r.id for r in d.rules] == ["us-convenient-hours"]
    server = decide("US", batch, "America/New_York", EMAIL)
    assert not server.deferred


def test_C04_mexico_one_batch_three_zones() -> None:
    batch = "2026-01-15T23:00:00-06:00"
    tijuana = decide("MX", batch, "America/Tijuana")
    assert tijuana.allowed_at.isoformat() == "2026-01-15T21:00:00-08:00"
    assert not tijuana.deferred and tijuana.rules == ()
    cancun = decide("MX", batch, "America/Cancun")
    assert cancun.allowed_at.isoformat() == "2026-01-16T07:00:00-05:00"
    assert [r.id for r in cancun.rules] == ["mx-contact-hours"]
    mexico_city = decide("MX", batch, "America/Mexico_City")
    assert mexico_city.allowed_at.isoformat() == "2026-01-16T07:00:00-06:00"


@pytest.mark.parametrize(
    ("desired", "utc"),
    [
        ("2026-03-08T07:30:00-04:00", "2026-03-08T12:00:00+00:00"),  # clocks went forward
        ("2026-11-01T07:30:00-05:00", "2026-11-01T13:00:00+00:00"),  # clocks went back
    ],
)
def test_C05_daylight_saving(desired: str, utc: str) -> None:
    d = decide("US", desired, "America/New_York")
    assert d.allowed_at.strftime("%Y-%m-%d %H:%M") == desired[:10] + " 08:00"
    assert d.allowed_at.astimezone(UTC).isoformat() == utc


def test_C05_daylight_saving_a_wall_time_inside_the_gap_is_never_before_desired() -> None:
    d = decide("US", "2026-03-07T23:00:00-05:00", "America/New_York")
    assert d.allowed_at.isoformat() == "2026-03-08T08:00:00-04:00"


def test_caps_chile_two_messages_a_week_two_days_apart() -> None:
    monday = [contact("2025-06-02T10:00:00-04:00", SMS)]
    d = decide("CL", "2025-06-03T10:00:00-04:00", "America/Santiago", EMAIL, monday)
    assert d.allowed_at.isoformat() == "2025-06-04T10:00:00-04:00"
    assert [r.id for r in d.rules] == ["cl-messages-two-days-apart"]

    two = [*monday, contact("2025-06-04T10:00:00-04:00", WHATSAPP)]
    third = decide("CL", "2025-06-06T10:00:00-04:00", "America/Santiago", SMS, two)
    assert third.allowed_at.isoformat() == "2025-06-09T10:00:00-04:00"
    assert [r.id for r in third.rules] == ["cl-two-messages-per-week"]


def test_caps_chile_one_call_a_week_and_one_contact_a_day() -> None:
    called = [contact("2025-06-02T09:00:00-04:00", CALL)]
    d = decide("CL", "2025-06-05T09:00:00-04:00", "America/Santiago", CALL, called)
    assert d.allowed_at.isoformat() == "2025-06-09T09:00:00-04:00"
    same_day = decide("CL", "2025-06-02T15:00:00-04:00", "America/Santiago", SMS, called)
    assert same_day.allowed_at.isoformat() == "2025-06-03T08:00:00-04:00"
    assert [r.id for r in same_day.rules] == ["cl-one-contact-per-day", "cl-contact-hours"]


def test_caps_us_seven_calls_in_seven_days() -> None:
    start = at("2025-06-02T10:00:00-04:00")
    calls = [PastContact(at=start + timedelta(days=i), channel=CALL) for i in range(7)]
    d = decide("US", "2025-06-08T18:00:00-04:00", "America/New_York", CALL, calls)
    assert d.allowed_at.isoformat() == "2025-06-09T10:00:00-04:00"
    assert [r.id for r in d.rules] == ["us-seven-calls-in-seven-days"]
    six = decide("US", "2025-06-08T18:00:00-04:00", "America/New_York", CALL, calls[1:])
    assert not six.deferred
    email = decide("US", "2025-06-08T18:00:00-04:00", "America/New_York", EMAIL, calls)
    assert not email.deferred


def test_caps_us_no_call_within_seven_days_of_a_conversation() -> None:
    talked = [contact("2025-06-02T10:00:00-04:00", CALL, direct=True)]
    d = decide("US", "2025-06-03T10:00:00-04:00", "America/New_York", CALL, talked)
    assert d.allowed_at.isoformat() == "2025-06-09T10:00:00-04:00"
    assert [r.id for r in d.rules] == ["us-no-call-after-conversation"]


def test_caps_colombia_one_channel_a_week_after_a_direct_contact() -> None:
    talked = [contact("2025-06-10T10:00:00-05:00", CALL, direct=True)]
    sms = decide("CO", "2025-06-11T10:00:00-05:00", "America/Bogota", SMS, talked)
    assert sms.allowed_at.isoformat() == "2025-06-17T10:00:00-05:00"
    assert [r.id for r in sms.rules] == ["co-one-channel-per-week"]
    call = decide("CO", "2025-06-11T10:00:00-05:00", "America/Bogota", CALL, talked)
    assert not call.deferred
    same_day = decide("CO", "2025-06-10T16:00:00-05:00", "America/Bogota", CALL, talked)
    assert same_day.allowed_at.isoformat() == "2025-06-11T07:00:00-05:00"
    assert same_day.rules[0].id == "co-one-contact-per-day"


def test_caps_colombia_literal_reading_applies_only_after_a_direct_contact() -> None:
    profile = load_profile("CO")
    literal = profile.model_copy(
        update={
            "caps": tuple(c.model_copy(update={"scope": Scope.AFTER_DIRECT}) for c in profile.caps)
        }
    )
    emailed = [contact("2025-06-10T10:00:00-05:00", EMAIL)]
    desired = at("2025-06-11T10:00:00-05:00")
    free = first_allowed_instant(literal, SMS, desired, "America/Bogota", emailed)
    assert not free.deferred
    reached = [contact("2025-06-10T10:00:00-05:00", EMAIL, direct=True)]
    held = first_allowed_instant(literal, SMS, desired, "America/Bogota", reached)
    assert held.allowed_at.isoformat() == "2025-06-17T10:00:00-05:00"


def test_brazil_sao_paulo_adds_its_state_holiday() -> None:
    national = decide("BR", "2025-07-09T10:00:00-03:00", "America/Sao_Paulo")
    assert not national.deferred
    sp = decide("BR", "2025-07-09T10:00:00-03:00", "America/Sao_Paulo", subdivision="SP")
    assert sp.profile == "BR-SP@v1"
    assert sp.allowed_at.isoformat() == "2025-07-10T08:00:00-03:00"
    assert sp.rules[0].id == "br-holidays"


def test_brazil_saturday_afternoon_waits_for_monday() -> None:
    d = decide("BR", "2025-06-07T14:00:00-03:00", "America/Sao_Paulo", CALL, subdivision="SP")
    assert d.allowed_at.isoformat() == "2025-06-09T08:00:00-03:00"
    assert d.rules[0].id == "br-sp-contact-hours"


def test_required_content_us_opt_out_and_brazil_creditor() -> None:
    us = load_profile("US")
    assert [r.id for r in us.content_for(EMAIL)] == ["us-opt-out"]
    assert us.content_for(CALL) == []
    br = load_profile("BR", "SP")
    assert {r.value for r in br.content_for(WHATSAPP)[0].requires} == {
        "creditor_name",
        "creditor_tax_id",
    }


def test_a_channel_the_profile_does_not_allow_is_refused() -> None:
    profile = load_profile("PE").model_copy(update={"channels": (EMAIL,)})
    with pytest.raises(ChannelNotAllowed, match="channel sms is not allowed by PE@v1"):
        first_allowed_instant(profile, SMS, at("2025-07-24T10:00:00-05:00"), "America/Lima")


def test_naive_instants_and_unknown_zones_are_refused() -> None:
    profile = load_profile("CO")
    with pytest.raises(ValueError, match="UTC offset"):
        first_allowed_instant(profile, SMS, datetime(2025, 3, 23, 10), "America/Bogota")
    with pytest.raises(UnknownTimeZone, match="Mars/Olympus"):
        first_allowed_instant(profile, SMS, at("2025-03-23T10:00:00-05:00"), "Mars/Olympus")
