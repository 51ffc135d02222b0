"""Dunning policies as data: reminders and escalation levels relative to the due date."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cobranza.domain.invoice import Channel, Invoice, local_instant


class EscalationAction(StrEnum):
    COLLECTOR_TASK = "collector_task"
    FINAL_NOTICE = "final_notice"
    WRITE_OFF = "write_off"
    HANDOFF = "handoff"

    @property
    def closes(self) -> bool:
        return self in (EscalationAction.WRITE_OFF, EscalationAction.HANDOFF)


def check_fallback(channel: Channel, fallback: tuple[Channel, ...]) -> tuple[Channel, ...]:
    """Refuse a fallback list that repeats a channel or names the step's own channel."""
    if channel in fallback:
        raise ValueError(
            f"fallback {[c.value for c in fallback]} repeats the step's channel "
            f"{channel.value!r}: list only the channels to try after it"
        )
    repeated = sorted({c.value for c in fallback if fallback.count(c) > 1})
    if repeated:
        raise ValueError(f"fallback names {', '.join(repeated)} more than once")
    return fallback


def describe_fallback(fallback: tuple[Channel, ...]) -> str:
    """`, else by sms, else by email`: what a step tries after its channel, or nothing."""
    return "".join(f", else by {c.value}" for c in fallback)


class Reminder(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    day: int = Field(
        ge=-60, le=365, description="days relative to the due date; negative is before"
    )
    channel: Channel = Channel.EMAIL
    fallback: tuple[Channel, ...] = Field(
        default=(),
        description="channels to try in order when `channel` has no reachable address",
    )
    template: str = Field(min_length=1)

    @field_validator("fallback")
    @classmethod
    def _fallback_coherent(
        cls, value: tuple[Channel, ...], info: ValidationInfo
    ) -> tuple[Channel, ...]:
        channel = info.data.get("channel")
        return value if channel is None else check_fallback(channel, value)


class Escalation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    level: int = Field(ge=1, le=9)
    day: int = Field(ge=1, le=730, description="days after the due date")
    action: EscalationAction
    channel: Channel = Channel.EMAIL
    fallback: tuple[Channel, ...] = Field(
        default=(),
        description="final_notice only: channels to try in order when `channel` cannot reach",
    )
    template: str | None = None
    note: str = ""

    @field_validator("fallback")
    @classmethod
    def _fallback_coherent(
        cls, value: tuple[Channel, ...], info: ValidationInfo
    ) -> tuple[Channel, ...]:
        action = info.data.get("action")
        if value and action is not None and action is not EscalationAction.FINAL_NOTICE:
            raise ValueError(
                f"fallback applies to messages only: a {action.value} escalation sends "
                "nothing, so remove its fallback"
            )
        channel = info.data.get("channel")
        return value if channel is None else check_fallback(channel, value)

    @model_validator(mode="after")
    def _notice_has_template(self) -> Escalation:
        if self.action is EscalationAction.FINAL_NOTICE and not self.template:
            raise ValueError("a final_notice escalation needs a template")
        return self


class PromiseRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_days_ahead: int = Field(default=30, ge=1, le=365)
    reminder_day_before: bool = True
    template: str = "promise_reminder"


class PauseRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_days: int = Field(default=90, ge=1, le=365)


class Policy(BaseModel):
    """One dunning ladder. Pinned into a lifecycle when it starts (rule 4)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    version: int = Field(ge=1)
    name: str = ""
    send_time: time = time(10, 0)
    issue_template: str | None = "invoice_issued"
    reminders: tuple[Reminder, ...] = ()
    escalation: tuple[Escalation, ...] = ()
    promise_to_pay: PromiseRules = PromiseRules()
    pause: PauseRules = PauseRules()

    @field_validator("reminders")
    @classmethod
    def _reminder_days_unique(cls, value: tuple[Reminder, ...]) -> tuple[Reminder, ...]:
        days = [r.day for r in value]
        if len(days) != len(set(days)):
            raise ValueError(f"two reminders fall on the same day: days {sorted(days)}")
        return tuple(sorted(value, key=lambda r: r.day))

    @field_validator("escalation")
    @classmethod
    def _ladder_ordered(cls, value: tuple[Escalation, ...]) -> tuple[Escalation, ...]:
        for before, after in pairwise(value):
            if after.level <= before.level or after.day <= before.day:
                raise ValueError(
                    f"levels must rise with the days: level {after.level} on day {after.day} "
                    f"follows level {before.level} on day {before.day}"
                )
        for step in value[:-1]:
            if step.action.closes:
                raise ValueError(
                    f"{step.action.value} closes the invoice, so it must be the last level"
                )
        return value

    @property
    def ref(self) -> str:
        return f"{self.id}@v{self.version}"


class StepKind(StrEnum):
    REMINDER = "reminder"
    ESCALATION = "escalation"


class PlannedStep(BaseModel):
    """One step of an invoice's schedule, placed at an instant."""

    model_config = ConfigDict(frozen=True)

    index: int
    kind: StepKind
    day: int
    at: datetime
    channel: Channel | None = None
    fallback: tuple[Channel, ...] = ()
    template: str | None = None
    level: int = 0
    action: EscalationAction | None = None
    note: str = ""

    @property
    def label(self) -> str:
        if self.kind is StepKind.REMINDER:
            return f"{self.channel} reminder '{self.template}' ({describe_day(self.day)})"
        assert self.action is not None
        return f"escalation level {self.level}: {self.action.value} ({describe_day(self.day)})"


def describe_day(day: int) -> str:
    if day == 0:
        return "on the due date"
    unit = "day" if abs(day) == 1 else "days"
    return f"{abs(day)} {unit} {'before' if day < 0 else 'after'} the due date"


def plan(policy: Policy, invoice: Invoice) -> list[PlannedStep]:
    """Every step of the policy for this invoice, in order, at the customer's local send time.

    Reminders before the issue date are dropped: nobody is reminded of an invoice they
    have not received. Same-day reminders and escalations keep escalation after reminder.
    """
    steps: list[tuple[int, int, PlannedStep]] = []
    zone = invoice.customer.timezone
    for r in policy.reminders:
        day = invoice.due_on + timedelta(days=r.day)
        if day < invoice.issued_on:
            continue
        at = local_instant(day, policy.send_time, zone)
        step = PlannedStep(
            index=0,
            kind=StepKind.REMINDER,
            day=r.day,
            at=at,
            channel=r.channel,
            fallback=r.fallback,
            template=r.template,
        )
        steps.append((r.day, 0, step))
    for e in policy.escalation:
        at = local_instant(invoice.due_on + timedelta(days=e.day), policy.send_time, zone)
        step = PlannedStep(
            index=0,
            kind=StepKind.ESCALATION,
            day=e.day,
            at=at,
            channel=e.channel if e.action is EscalationAction.FINAL_NOTICE else None,
            fallback=e.fallback,
            template=e.template,
            level=e.level,
            action=e.action,
            note=e.note,
        )
        steps.append((e.day, 1, step))
    steps.sort(key=lambda t: (t[0], t[1]))
    return [s.model_copy(update={"index": i}) for i, (_, _, s) in enumerate(steps)]


def explain(policy: Policy) -> list[str]:
    """The schedule in plain words, one line per step, for `cobranza policy check`."""
    send = policy.send_time.strftime("%H:%M")
    lines = [f"Policy {policy.ref}{f' ({policy.name})' if policy.name else ''}"]
    if policy.issue_template:
        lines.append(
            f"- On the issue date: send the invoice by email (template '{policy.issue_template}')."
        )
    for r in policy.reminders:
        lines.append(
            f"- {describe_day(r.day).capitalize()}, at {send} customer's time: "
            f"{r.channel} reminder (template '{r.template}'){describe_fallback(r.fallback)}, "
            "if anything is still owed."
        )
    for e in policy.escalation:
        what = {
            EscalationAction.COLLECTOR_TASK: "open a CRM task for a collector",
            EscalationAction.FINAL_NOTICE: (
                f"send a final notice by {e.channel}{describe_fallback(e.fallback)} "
                f"(template '{e.template}')"
            ),
            EscalationAction.WRITE_OFF: "write the remaining balance off and close the invoice",
            EscalationAction.HANDOFF: "hand the invoice to an external agency and close it here",
        }[e.action]
        note = f" Note: {e.note}" if e.note else ""
        lines.append(
            f"- {describe_day(e.day).capitalize()}: dunning level {e.level}, {what}.{note}"
        )
    p = policy.promise_to_pay
    lines.append(
        f"- Promises to pay: accepted up to {p.max_days_ahead} days ahead; "
        "reminders stop until the date"
        + (", with one gentle reminder the day before." if p.reminder_day_before else ".")
    )
    lines.append(f"- Pauses: at most {policy.pause.max_days} days.")
    return lines


def validate_promise(policy: Policy, today: date, promised_on: date) -> str | None:
    """Why a promise date is refused, or None when the policy accepts it (L-08)."""
    if promised_on < today:
        return f"promise date {promised_on} is in the past (today is {today})"
    limit = today + timedelta(days=policy.promise_to_pay.max_days_ahead)
    if promised_on > limit:
        return (
            f"promise date {promised_on} is beyond the policy's maximum of "
            f"{policy.promise_to_pay.max_days_ahead} days ahead (latest {limit})"
        )
    return None


PolicyFormat = Literal["yaml"]
