"""The first lawful instant to contact a person: hours, holidays and caps defer, never drop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cobranza.domain.compliance_profile import (
    ChannelCap,
    ComplianceProfile,
    ContactCap,
    ContactChannel,
    GapRule,
    Hours,
    Period,
    Rule,
    Scope,
    WeekCounting,
    Weekday,
    Window,
    clock,
)
from cobranza.domain.errors import DomainError
from cobranza.domain.invoice import local_instant

SEARCH_DAYS = 400
"""How far ahead the search goes before it calls a profile unsatisfiable."""

WEEK = timedelta(days=7)


class ChannelNotAllowed(DomainError):
    def __init__(self, profile: ComplianceProfile, channel: ContactChannel) -> None:
        super().__init__(
            f"channel {channel} is not allowed by {profile.ref}: expected one of "
            f"{', '.join(c.value for c in profile.channels)}"
        )


class UnknownTimeZone(DomainError):
    def __init__(self, zone: str) -> None:
        super().__init__(
            f"unknown time zone {zone!r}: expected an IANA name such as America/Bogota"
        )


class NoLawfulInstant(DomainError):
    def __init__(self, profile: ComplianceProfile, channel: ContactChannel, desired: datetime):
        super().__init__(
            f"{profile.ref} allows no {channel} contact within {SEARCH_DAYS} days of "
            f"{desired.isoformat()}"
        )


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the instant must carry a UTC offset, e.g. 2025-03-23T10:00:00-05:00")
    return value


class PastContact(BaseModel):
    """A contact already made; `direct` when the person was actually reached (spoke, replied)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    channel: ContactChannel
    direct: bool = False

    _at_aware = field_validator("at")(_aware)


class AppliedRule(BaseModel):
    """One rule that moved the instant, from where to where, and why."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    id: str
    source: str
    from_: datetime = Field(alias="from")
    to: datetime
    why: str


class Decision(BaseModel):
    """The first lawful instant for one contact, in the customer's zone, with its reasons."""

    model_config = ConfigDict(frozen=True, serialize_by_alias=True)

    profile: str
    channel: ContactChannel
    timezone: str
    desired: datetime
    allowed_at: datetime
    deferred: bool
    rules: tuple[AppliedRule, ...] = ()


@dataclass(frozen=True)
class _Move:
    rule: Rule
    to: datetime
    why: str


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimeZone(name) from exc


def first_allowed_instant(
    profile: ComplianceProfile,
    channel: ContactChannel,
    desired: datetime,
    tz: str,
    history: Sequence[PastContact] = (),
) -> Decision:
    """The earliest instant at or after `desired` that every rule of the profile allows.

    Searches forward (at most SEARCH_DAYS) through days, windows and caps; each rule that
    moves the instant is recorded once, merged when it moves it several times in a row.
    """
    if channel not in profile.channels:
        raise ChannelNotAllowed(profile, channel)
    zone = zone_of(tz)
    _aware(desired)
    # Arithmetic stays in UTC: aware datetimes sharing a zone compare and add by wall clock.
    start = desired.astimezone(UTC)
    contacts = sorted(history, key=lambda c: c.at)
    at, limit = start, start + timedelta(days=SEARCH_DAYS)
    applied: list[AppliedRule] = []
    while at <= limit:
        move = _next_move(profile, channel, at, zone, contacts)
        if move is None:
            return Decision(
                profile=profile.ref,
                channel=channel,
                timezone=tz,
                desired=desired.astimezone(zone),
                allowed_at=at.astimezone(zone),
                deferred=at != start,
                rules=tuple(applied),
            )
        _record(applied, move, at, zone)
        at = move.to
    raise NoLawfulInstant(profile, channel, desired)


def _next_move(
    profile: ComplianceProfile,
    channel: ContactChannel,
    at: datetime,
    zone: ZoneInfo,
    history: Sequence[PastContact],
) -> _Move | None:
    """The first rule that refuses `at`, with the earliest instant it could allow; or None."""
    hours = profile.hours_for(channel)
    local = at.astimezone(zone)
    day = local.date()
    windows = hours.windows_on(Weekday.of(day))
    if not windows:
        why = f"{Weekday.of(day).label} is not a contact day"
        return _Move(hours, _opening(hours, day + timedelta(days=1), zone, at), why)
    rule = profile.holidays
    name = holiday_name(profile, day)
    if rule is not None and rule.covers(channel) and name is not None:
        why = f"{day} is a public holiday ({name})"
        return _Move(rule, _opening(hours, day + timedelta(days=1), zone, at), why)
    if not any(w.contains(local.time()) for w in windows):
        return _window_move(hours, local, zone, at)
    for cap in profile.caps_for(channel):
        if not _in_scope(cap, at, history):
            continue
        move = _cap_move(cap, channel, at, zone, history)
        if move is not None:
            return move
    return None


def _window_move(hours: Hours, local: datetime, zone: ZoneInfo, at: datetime) -> _Move:
    day, now = local.date(), local.time()
    windows = hours.windows_on(Weekday.of(day))
    later = [w for w in windows if w.start > now]
    if later:
        opens = "opens" if later[0] is windows[0] else "reopens"
        why = (
            f"{now:%H:%M} is outside {_labels(windows)}; "
            f"the window {opens} at {clock(later[0].start)}"
        )
        return _Move(hours, _wall(day, later[0].start, zone, at), why)
    why = f"{now:%H:%M} is after the last window of the day ({_labels(windows)}) closes"
    return _Move(hours, _opening(hours, day + timedelta(days=1), zone, at), why)


def _labels(windows: list[Window]) -> str:
    return ", ".join(w.label for w in windows)


def _opening(hours: Hours, day: date, zone: ZoneInfo, after: datetime) -> datetime:
    """When the day's first window opens, or its midnight when it has none (checked next)."""
    windows = hours.windows_on(Weekday.of(day))
    return _wall(day, windows[0].start if windows else time(0, 0), zone, after)


def _wall(day: date, at: time, zone: ZoneInfo, after: datetime) -> datetime:
    """A wall-clock time as a UTC instant later than `after` (the later one when clocks repeat)."""
    candidate = local_instant(day, at, zone.key)
    if candidate.astimezone(UTC) <= after:
        candidate = candidate.replace(fold=1)
    return candidate.astimezone(UTC)


def _in_scope(
    cap: ContactCap | ChannelCap | GapRule, at: datetime, history: Sequence[PastContact]
) -> bool:
    if cap.scope is Scope.ALWAYS:
        return True
    since = at - timedelta(days=cap.direct_within_days)
    return any(c.direct and since < c.at <= at for c in history)


def _cap_move(
    cap: ContactCap | ChannelCap | GapRule,
    channel: ContactChannel,
    at: datetime,
    zone: ZoneInfo,
    history: Sequence[PastContact],
) -> _Move | None:
    relevant = [c for c in history if cap.covers(c.channel)]
    if isinstance(cap, GapRule):
        return _gap_move(cap, at, zone, relevant)
    inside, fixed_release = _within(cap.per, cap.week, at, zone, relevant)
    move = _overfull(cap, channel, inside, fixed_release, _period_phrase(cap.per, cap.week))
    if move is not None or fixed_release is not None:
        return move
    # A contact already booked later in the week closes a window that would hold this one
    # too; nothing inside that window works, so the next try is just after it.
    for end in sorted({c.at for c in relevant if at < c.at < at + WEEK}):
        later = [c for c in relevant if end - WEEK < c.at <= end]
        phrase = f"in the 7 days up to {end.astimezone(zone):%Y-%m-%d %H:%M}"
        move = _overfull(cap, channel, later, end + timedelta(minutes=1), phrase)
        if move is not None:
            return move
    return None


def _overfull(
    cap: ContactCap | ChannelCap,
    channel: ContactChannel,
    inside: list[PastContact],
    release: datetime | None,
    when: str,
) -> _Move | None:
    """The move a cap asks for when one more contact would overfill it; None when it fits.

    Without a fixed release (rolling), the cap frees up when enough of the oldest contacts
    (or channels) leave the 7-day window.
    """
    if isinstance(cap, ContactCap):
        if len(inside) < cap.max:
            return None
        release = release or inside[len(inside) - cap.max].at + WEEK
        why = f"{len(inside)} {_what(cap)} {when}; at most {cap.max} a {cap.per.value}"
        return _Move(cap, release, why)
    used: dict[ContactChannel, datetime] = {}
    for c in inside:
        used[c.channel] = max(c.at, used.get(c.channel, c.at))
    if channel in used or len(used) < cap.max:
        return None
    release = release or sorted(last + WEEK for last in used.values())[len(used) - cap.max]
    names = ", ".join(sorted(used))
    why = f"{names} already used {when}; at most {cap.max} channel(s) a {cap.per.value}"
    return _Move(cap, release, why)


def _within(
    per: Period, week: WeekCounting, at: datetime, zone: ZoneInfo, contacts: list[PastContact]
) -> tuple[list[PastContact], datetime | None]:
    """The contacts in the period around `at`, and when that period ends (None when rolling)."""
    if per is Period.WEEK and week is WeekCounting.ROLLING:
        return [c for c in contacts if at - WEEK < c.at <= at], None
    day = at.astimezone(zone).date()
    if per is Period.WEEK:
        day -= timedelta(days=day.weekday())
    length = timedelta(days=7 if per is Period.WEEK else 1)
    lo = _wall(day, time(0, 0), zone, at - timedelta(days=8))
    hi = _wall(day + length, time(0, 0), zone, at)
    return [c for c in contacts if lo <= c.at < hi], hi


def _period_phrase(per: Period, week: WeekCounting) -> str:
    if per is Period.DAY:
        return "already that day"
    if week is WeekCounting.CALENDAR:
        return "already that calendar week"
    return "in the 7 days before"


def _what(cap: ContactCap) -> str:
    channels = "/".join(c.value for c in cap.channels) if cap.channels else "any channel"
    return f"contact(s) by {channels}"


def _gap_move(
    cap: GapRule, at: datetime, zone: ZoneInfo, contacts: list[PastContact]
) -> _Move | None:
    gap = timedelta(hours=cap.hours)
    counted = [c for c in contacts if cap.since == "any" or c.direct]
    near = [c for c in counted if abs(at - c.at) < gap]
    if not near:
        return None
    last = max(near, key=lambda c: c.at)
    kind = "direct contact" if cap.since == "direct" else "contact"
    why = (
        f"last {kind} by {last.channel} was at {last.at.astimezone(zone):%Y-%m-%d %H:%M}; "
        f"at least {cap.hours} h must pass"
    )
    return _Move(cap, last.at + gap, why)


def _record(applied: list[AppliedRule], move: _Move, at: datetime, zone: ZoneInfo) -> None:
    """Append the move, or extend the previous entry when the same rule moves on from there."""
    to = move.to.astimezone(zone)
    if applied and applied[-1].id == move.rule.id and applied[-1].to == at:
        last = applied.pop()
        why = last.why if move.why in last.why else f"{last.why}; {move.why}"
        applied.append(last.model_copy(update={"to": to, "why": why}))
        return
    applied.append(
        AppliedRule(
            id=move.rule.id, source=move.rule.source, from_=at.astimezone(zone), to=to, why=move.why
        )
    )


def holiday_name(profile: ComplianceProfile, day: date) -> str | None:
    """The public holiday on that day where the profile applies; None when not observed."""
    rule = profile.holidays
    if rule is None or not rule.observe:
        return None
    if rule.pinned is not None and rule.pinned_years is not None:
        first, last = rule.pinned_years
        if first <= day.year <= last:
            return rule.pinned.get(day)
    name: str | None = _calendar(profile.country, profile.subdivision).get(day)
    return name


def pin_holidays(profile: ComplianceProfile, first_year: int, last_year: int) -> ComplianceProfile:
    """The profile with its holiday calendar for those years frozen into it."""
    rule = profile.holidays
    if rule is None or not rule.observe:
        return profile
    calendar = holidays.country_holidays(
        profile.country, subdiv=profile.subdivision, years=range(first_year, last_year + 1)
    )
    pinned = {day: str(name) for day, name in sorted(calendar.items())}
    frozen = rule.model_copy(update={"pinned": pinned, "pinned_years": (first_year, last_year)})
    return profile.model_copy(update={"holidays": frozen})


@lru_cache(maxsize=64)
def _calendar(country: str, subdivision: str | None) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdivision)
