"""Compliance profiles as data: when, how often, how and with what a person may be contacted."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, time
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

Loc = tuple[str | int, ...]


class ContactChannel(StrEnum):
    """Every way of reaching a person; the first three share their values with `Channel`."""

    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    CALL = "call"


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @classmethod
    def of(cls, day: date) -> Weekday:
        return list(cls)[day.weekday()]

    @property
    def label(self) -> str:
        return _DAY_NAMES[self]


_DAY_NAMES = dict(
    zip(
        Weekday,
        ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
        strict=True,
    )
)


def _clock(value: object) -> object:
    """Accept "24:00" as the end of the day, and refuse the numbers YAML makes of bare 19:00."""
    if value in ("24:00", "24:00:00"):
        return time.max
    if isinstance(value, int):
        raise ValueError(
            'write times in quotes, e.g. "19:00" (YAML reads a bare 19:00 as a number)'
        )
    return value


ClockTime = Annotated[time, BeforeValidator(_clock)]


class ProfileContradictions(ValueError):
    """Rules of one profile that cannot all hold; each names the field it is about."""

    def __init__(self, found: list[tuple[Loc, str]]) -> None:
        self.found = found
        super().__init__("; ".join(f"{_dotted(loc)}: {msg}" for loc, msg in found))


def _dotted(loc: Loc) -> str:
    return ".".join(str(p) for p in loc) or "(profile)"


def clock(at: time) -> str:
    return "24:00" if at == time.max else at.strftime("%H:%M")


class Window(BaseModel):
    """Hours on some weekdays when contact is allowed: from `start` up to, not including, `end`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: tuple[Weekday, ...] = Field(min_length=1)
    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _opens_before_it_closes(self) -> Window:
        if self.end <= self.start:
            raise ValueError(
                f"the window ends ({clock(self.end)}) before it starts ({clock(self.start)})"
            )
        return self

    def contains(self, at: time) -> bool:
        return self.start <= at and (at < self.end or self.end == time.max)

    @property
    def label(self) -> str:
        return f"{clock(self.start)}-{clock(self.end)}"


class Rule(BaseModel):
    """What every rule carries: an id, the law it comes from, and the channels it governs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    source: str = Field(min_length=3, description="law and article the rule comes from")
    note: str = ""
    channels: tuple[ContactChannel, ...] = Field(
        default=(), description="channels the rule governs; empty means every channel"
    )

    def covers(self, channel: ContactChannel) -> bool:
        return not self.channels or channel in self.channels


class Hours(Rule):
    """The days and hours, in the customer's zone, when the rule's channels may be used."""

    windows: tuple[Window, ...] = Field(min_length=1)

    @field_validator("windows")
    @classmethod
    def _no_overlap(cls, value: tuple[Window, ...]) -> tuple[Window, ...]:
        for day in Weekday:
            on_day = sorted((w for w in value if day in w.days), key=lambda w: w.start)
            for first, second in pairwise(on_day):
                if second.start < first.end:
                    raise ValueError(
                        f"two windows overlap on {day.label}: {first.label} and {second.label}"
                    )
        return value

    def windows_on(self, day: Weekday) -> list[Window]:
        return sorted((w for w in self.windows if day in w.days), key=lambda w: w.start)


class HolidayRule(Rule):
    """Public holidays of the country (and subdivision) from the `holidays` package are barred."""

    observe: bool = True
    # The calendar frozen when a lifecycle starts (see `pin_holidays`): a later release of the
    # holidays package must not move a running lifecycle's contacts, or its replay.
    pinned: dict[date, str] | None = None
    pinned_years: tuple[int, int] | None = None


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"


class WeekCounting(StrEnum):
    ROLLING = "rolling"
    CALENDAR = "calendar"


class Scope(StrEnum):
    ALWAYS = "always"
    AFTER_DIRECT = "after_direct"


class CapRule(Rule):
    """A frequency limit; with scope after_direct it holds only once the person has been reached."""

    scope: Scope = Scope.ALWAYS
    direct_within_days: int = Field(
        default=7, ge=1, le=90, description="how long a direct contact keeps an after_direct cap on"
    )


def _positive_cap(value: int) -> int:
    if value < 1:
        raise ValueError(
            f"a cap of {value} forbids every contact; remove the channel from the profile's "
            "`channels` instead"
        )
    return value


PositiveCap = Annotated[int, AfterValidator(_positive_cap)]


class ContactCap(CapRule):
    """At most `max` contacts on the rule's channels per day (local) or per week."""

    kind: Literal["contacts"]
    max: PositiveCap
    per: Period
    week: WeekCounting = WeekCounting.ROLLING


class ChannelCap(CapRule):
    """At most `max` different channels per day (local) or per week."""

    kind: Literal["channels"]
    max: PositiveCap
    per: Period
    week: WeekCounting = WeekCounting.ROLLING


class GapRule(CapRule):
    """At least `hours` between contacts; with since=direct, counted from the last direct one."""

    kind: Literal["gap"]
    hours: int = Field(ge=1, le=24 * 90)
    since: Literal["any", "direct"] = "any"


Cap = Annotated[ContactCap | ChannelCap | GapRule, Field(discriminator="kind")]


class ContentRequirement(StrEnum):
    OPT_OUT = "opt_out"
    CREDITOR_NAME = "creditor_name"
    CREDITOR_TAX_ID = "creditor_tax_id"


class ContentRule(Rule):
    """What a message on the rule's channels must carry; templates are checked against it."""

    requires: tuple[ContentRequirement, ...] = Field(min_length=1)


class SubdivisionOverride(BaseModel):
    """A state's own rules: its hours replace the country's; its caps and content are added."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    hours: tuple[Hours, ...] | None = None
    caps: tuple[Cap, ...] = ()
    content: tuple[ContentRule, ...] = ()


class ComplianceProfile(BaseModel):
    """The rules of one country, versioned; `resolve` narrows it to a subdivision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: str = Field(pattern=r"^([A-Z]{2}|default)$")
    subdivision: str | None = None
    version: int = Field(ge=1)
    name: str = ""
    timezone: str = Field(description="the country's main zone, used when a customer has none")
    channels: tuple[ContactChannel, ...] = Field(min_length=1)
    hours: tuple[Hours, ...] = Field(min_length=1)
    holidays: HolidayRule | None = None
    caps: tuple[Cap, ...] = ()
    content: tuple[ContentRule, ...] = ()
    subdivisions: dict[str, SubdivisionOverride] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}: expected an IANA name such as America/Bogota"
            ) from exc
        return value

    @model_validator(mode="after")
    def _coherent(self) -> ComplianceProfile:
        found = list(_contradictions(self))
        for code, override in self.subdivisions.items():
            found += _override_contradictions(self, code, override)
        if found:
            raise ProfileContradictions(found)
        return self

    @property
    def ref(self) -> str:
        where = f"{self.country}-{self.subdivision}" if self.subdivision else self.country
        return f"{where}@v{self.version}"

    def rules(self) -> Iterator[Rule]:
        yield from self.hours
        if self.holidays is not None:
            yield self.holidays
        yield from self.caps
        yield from self.content

    def hours_for(self, channel: ContactChannel) -> Hours:
        return next(h for h in self.hours if h.covers(channel))

    def caps_for(self, channel: ContactChannel) -> list[ContactCap | ChannelCap | GapRule]:
        return [c for c in self.caps if c.covers(channel)]

    def content_for(self, channel: ContactChannel) -> list[ContentRule]:
        return [c for c in self.content if c.covers(channel)]

    def resolve(self, subdivision: str | None) -> ComplianceProfile:
        """This profile as it applies in one subdivision (or nationally when None)."""
        if subdivision is None:
            return self.model_copy(update={"subdivisions": {}})
        code = subdivision.upper()
        known = subdivisions_of(self.country)
        if code not in known and code not in self.subdivisions:
            raise ValueError(
                f"unknown subdivision {subdivision!r} of {self.country}: expected one of "
                f"{', '.join(known) or '(none)'}"
            )
        override = self.subdivisions.get(code, SubdivisionOverride())
        return self.model_copy(
            update={
                "subdivision": code,
                "name": f"{self.name}, {override.name}" if override.name else self.name,
                "hours": override.hours if override.hours is not None else self.hours,
                "caps": self.caps + override.caps,
                "content": self.content + override.content,
                "subdivisions": {},
            }
        )


def subdivisions_of(country: str) -> list[str]:
    return list(holidays.list_supported_countries().get(country, []))


def _contradictions(p: ComplianceProfile) -> Iterator[tuple[Loc, str]]:
    allowed = set(p.channels)
    if len(allowed) != len(p.channels):
        yield ("channels",), "a channel is listed twice"
    seen: dict[str, Loc] = {}
    for loc, rule in _located_rules(p):
        if rule.id in seen:
            yield (*loc, "id"), f"rule id {rule.id!r} is already used at {_dotted(seen[rule.id])}"
        seen.setdefault(rule.id, loc)
        for ch in rule.channels:
            if ch not in allowed:
                yield (
                    (*loc, "channels"),
                    f"channel {ch} is not one of the profile's channels ({_names(p.channels)})",
                )
    for ch in p.channels:
        covering = [i for i, h in enumerate(p.hours) if h.covers(ch)]
        if not covering:
            yield ("hours",), f"channel {ch} is allowed but no hours rule covers it"
        for i in covering[1:]:
            yield (
                ("hours", i, "channels"),
                f"channel {ch} already has hours in {p.hours[covering[0]].id}",
            )
    if p.holidays is not None and p.holidays.observe and p.country not in _supported():
        yield ("holidays", "observe"), f"the holidays package has no calendar for {p.country}"


def _override_contradictions(
    p: ComplianceProfile, code: str, override: SubdivisionOverride
) -> list[tuple[Loc, str]]:
    base: Loc = ("subdivisions", code)
    if code not in subdivisions_of(p.country):
        known = ", ".join(subdivisions_of(p.country)) or "(none)"
        return [(base, f"{p.country} has no subdivision {code!r}: expected one of {known}")]
    resolved = p.resolve(code)
    shift = {"caps": len(p.caps), "content": len(p.content)}
    found = []
    for loc, msg in _contradictions(resolved):
        section = loc[0]
        if section in shift and len(loc) > 1 and isinstance(loc[1], int):
            if loc[1] < shift[str(section)]:
                continue
            loc = (section, loc[1] - shift[str(section)], *loc[2:])
        elif section != "hours" or override.hours is None:
            continue
        found.append(((*base, *loc), msg))
    return found


def _located_rules(p: ComplianceProfile) -> Iterator[tuple[Loc, Rule]]:
    yield from ((("hours", i), r) for i, r in enumerate(p.hours))
    if p.holidays is not None:
        yield ("holidays",), p.holidays
    yield from ((("caps", i), r) for i, r in enumerate(p.caps))
    yield from ((("content", i), r) for i, r in enumerate(p.content))


def _names(channels: Iterable[ContactChannel]) -> str:
    return ", ".join(c.value for c in channels)


def _supported() -> dict[str, list[str]]:
    return holidays.list_supported_countries()
