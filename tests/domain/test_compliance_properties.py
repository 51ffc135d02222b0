"""Properties of the contact gate over every shipped profile, zone, channel and history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from cobranza.domain.compliance import PastContact, first_allowed_instant, holiday_name
from cobranza.domain.compliance_file import available_countries, load_profile
from cobranza.domain.compliance_profile import (
    ChannelCap,
    ComplianceProfile,
    ContactCap,
    ContactChannel,
    GapRule,
    Period,
    WeekCounting,
    Weekday,
)

PROFILES = [load_profile(c) for c in [*available_countries(), "default"]] + [
    load_profile("BR", "SP")
]
ZONES = [
    "America/Bogota",
    "America/Lima",
    "America/Tijuana",
    "America/Cancun",
    "America/Santiago",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Lord_Howe",
    "UTC",
]
START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=3 * 365)

instants = st.timedeltas(min_value=timedelta(0), max_value=SPAN).map(lambda d: START + d)
channels = st.sampled_from(list(ContactChannel))


@st.composite
def histories(draw: st.DrawFn, desired: datetime) -> list[PastContact]:
    offsets = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10))
    return [
        PastContact(at=desired - draw(offsets), channel=draw(channels), direct=draw(st.booleans()))
        for _ in range(draw(st.integers(min_value=0, max_value=8)))
    ]


def inside_a_window(profile: ComplianceProfile, channel: ContactChannel, local: datetime) -> bool:
    windows = profile.hours_for(channel).windows_on(Weekday.of(local.date()))
    return any(w.contains(local.time()) for w in windows)


@settings(max_examples=400, deadline=None)
@given(
    profile=st.sampled_from(PROFILES),
    channel=channels,
    zone=st.sampled_from(ZONES),
    desired=instants,
    data=st.data(),
)
def test_the_allowed_instant_is_never_early_always_in_a_window_never_on_a_holiday(
    profile: ComplianceProfile,
    channel: ContactChannel,
    zone: str,
    desired: datetime,
    data: st.DataObject,
) -> None:
    history = data.draw(histories(desired))
    d = first_allowed_instant(profile, channel, desired, zone, history)
    local = d.allowed_at
    assert local >= desired
    assert str(local.tzinfo) == zone
    assert inside_a_window(profile, channel, local)
    assert holiday_name(profile, local.date()) is None
    assert d.deferred == (local != desired) == bool(d.rules)
    for before, after in zip(d.rules, d.rules[1:], strict=False):
        assert before.to == after.from_ and before.from_ < before.to
    again = first_allowed_instant(profile, channel, local, zone, history)
    assert again.allowed_at == local and not again.deferred


def broken_caps(profile: ComplianceProfile, history: list[PastContact], zone: str) -> list[str]:
    """Every cap of the profile that the history breaks, checked without the gate's code."""
    broken = []
    for cap in profile.caps:
        covered = [h for h in history if cap.covers(h.channel)]
        if isinstance(cap, GapRule):
            starts = [h for h in covered if cap.since == "any" or h.direct]
            gap = timedelta(hours=cap.hours)
            # Same-instant contacts clash only when every contact starts the gap.
            least = timedelta(0) if cap.since == "any" else timedelta(microseconds=1)
            if any(s is not c and least <= c.at - s.at < gap for s in starts for c in covered):
                broken.append(cap.id)
            continue
        for group in _periods(cap, covered, zone):
            size = len(group) if isinstance(cap, ContactCap) else len({h.channel for h in group})
            if size > cap.max:
                broken.append(cap.id)
                break
    return broken


def _periods(
    cap: ContactCap | ChannelCap, contacts: list[PastContact], zone: str
) -> list[list[PastContact]]:
    if cap.per is Period.WEEK and cap.week is WeekCounting.ROLLING:
        return [[h for h in contacts if e.at - timedelta(days=7) < h.at <= e.at] for e in contacts]
    groups: dict[object, list[PastContact]] = {}
    for h in contacts:
        day = h.at.astimezone(ZoneInfo(zone)).date()
        key = day.isocalendar()[:2] if cap.per is Period.WEEK else day
        groups.setdefault(key, []).append(h)
    return list(groups.values())


@settings(max_examples=200, deadline=None)
@given(
    profile=st.sampled_from(PROFILES),
    zone=st.sampled_from(ZONES),
    desired=instants,
    picks=st.lists(st.tuples(channels, st.booleans(), st.integers(0, 96)), min_size=1, max_size=20),
)
def test_contacts_granted_in_any_order_never_break_the_caps(
    profile: ComplianceProfile,
    zone: str,
    desired: datetime,
    picks: list[tuple[ContactChannel, bool, int]],
) -> None:
    history: list[PastContact] = []
    for channel, direct, hours_later in picks:
        asked = desired + timedelta(hours=hours_later)
        d = first_allowed_instant(profile, channel, asked, zone, history)
        assert d.allowed_at >= asked
        # Whether a contact reached the person is known only afterwards; contacts already
        # booked after it are then the gate's to re-check, so only the latest can be direct.
        latest = all(h.at <= d.allowed_at for h in history)
        history.append(PastContact(at=d.allowed_at, channel=channel, direct=direct and latest))
    assert broken_caps(profile, history, zone) == []
