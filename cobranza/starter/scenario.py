"""Reads a scenario file: customers, invoices, dated events and a policy to simulate.

Format (YAML; every time carries a UTC offset, because time zones are never implicit):

    name: L-01 paid before the reminder          # required
    description: free text                        # optional
    tenant: default                               # optional, given to every customer
    policy: {id: l01, version: 1, reminders: [...]}     # inline, or
    policy_file: ../../cobranza/policies/standard.yaml  # relative to this file;
                                                  # neither: the built-in standard policy
    customers:
      - {customer_id: C1, country: MX, timezone: America/Mexico_City, locale: es_MX,
         email: c1@customers.example.com}         # any Customer field
    invoices:
      - {invoice_id: INV-1, customer: C1, amount: "1000.00", currency: MXN,
         issued_on: 2026-03-11, due_on: 2026-04-10, description: optional}
    events:                                       # at, invoice, kind, then the kind's fields
      - {at: "2026-04-09T12:00:00-06:00", invoice: INV-1, kind: payment,
         amount: "1000.00", payment_id: P1}       # currency (default: invoice's), method, reference
      - {at: ..., invoice: INV-1, kind: promise, promised_on: 2026-04-22,
         actor: agent-7, reason: called}          # amount (+ currency) optional
      # pause: actor, reason, until (a date, optional)
      # resume, dispute, cancel, write_off: actor, reason
      # resolve_dispute: actor, reason, outcome (customer | creditor), credit (+ currency) optional
      # resubmit: no fields; the backend starts collection for the same invoice again
    until: "2026-07-01T00:00:00+00:00"            # optional end of the simulation
    expect:                                       # ignored here; read by load_expectations
      INV-1: {status: paid, outstanding: "0.00", messages: 1, steps: [invoice_issued]}

Amounts are quoted decimal strings (or integers), never YAML floats, so no binary rounding
can reach money. Every fault becomes an InputError naming the file, line and field (such as
`invoices[0].amount`); an invoice or event with a fault is skipped and the rest still loads.
The loader checks shape only: a promise dated in the past is a valid event, which the
workflow must reject (L-08).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from babel import Locale, UnknownLocaleError
from pydantic import BaseModel, ConfigDict, ValidationError

from cobranza.domain.errors import UnknownCurrency
from cobranza.domain.invoice import Customer, Invoice, InvoiceStatus
from cobranza.domain.money import Money
from cobranza.domain.policy import Policy
from cobranza.starter.input_errors import InputError
from cobranza.starter.policy_catalog import STANDARD_POLICY
from cobranza.starter.simulation_input import (
    PAYLOAD_TYPES,
    EventKind,
    ScheduledEvent,
    SimulationInput,
)
from cobranza.starter.yaml_source import Loc, YamlSource

T = TypeVar("T")

TOP_LEVEL = frozenset(
    {"name", "description", "tenant", "policy", "policy_file", "customers", "invoices"}
    | {"events", "until", "expect"}
)
INVOICE_FIELDS = frozenset(
    {"invoice_id", "customer", "amount", "currency", "issued_on", "due_on", "description"}
)
ACTOR = frozenset({"actor", "reason"})
# Fields each kind accepts beyond at, invoice and kind; a misspelt field is an error, not a default.
EVENT_FIELDS: dict[EventKind, frozenset[str]] = {
    EventKind.PAYMENT: frozenset({"amount", "currency", "payment_id", "method", "reference"}),
    EventKind.PAYMENT_FAILED: frozenset({"attempt_id", "reason"}),
    EventKind.PAUSE: ACTOR | {"until"},
    EventKind.RESUME: ACTOR,
    EventKind.PROMISE: ACTOR | {"promised_on", "amount", "currency"},
    EventKind.DISPUTE: ACTOR,
    EventKind.RESOLVE_DISPUTE: ACTOR | {"outcome", "credit", "currency"},
    EventKind.CANCEL: ACTOR,
    EventKind.WRITE_OFF: ACTOR,
    EventKind.RESUBMIT: frozenset(),
}
DATE_FIELDS = frozenset({"promised_on", "until"})


class Expectation(BaseModel):
    """What a scenario's `expect:` says one invoice ends as; for tests, not for the engine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: InvoiceStatus
    outstanding: str | None = None
    messages: int | None = None
    steps: list[str] | None = None
    tasks: int | None = None


def load_expectations(path: str | Path) -> dict[str, Expectation]:
    """The `expect:` mapping of a scenario file, by invoice id (empty when there is none)."""
    source = YamlSource.read(Path(path))
    if isinstance(source, InputError) or not isinstance(source.data, dict):
        raise ValueError(f"{path}: not a scenario file")
    expect = source.data.get("expect") or {}
    return {str(k): Expectation.model_validate(v) for k, v in expect.items()}


def load_scenario(path: str | Path) -> SimulationInput:
    """Read one scenario file; faults are in the result's `errors`, never raised."""
    scenario_path = Path(path)
    source = YamlSource.read(scenario_path)
    if isinstance(source, InputError):
        return SimulationInput(name=scenario_path.stem, errors=[source])
    if not isinstance(source.data, dict):
        message = "a scenario is a mapping with name, customers, invoices, events"
        return SimulationInput(name=scenario_path.stem, errors=[source.error((), message)])
    return _ScenarioReader(scenario_path, source).read()


class _Fault(Exception):
    """One fault at one location; raised inside an item, caught per item."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


class _ScenarioReader:
    """Reads the sections in order, each seeing what the earlier ones loaded."""

    def __init__(self, path: Path, source: YamlSource) -> None:
        self.path = path
        self.source = source
        self.data: dict[str, Any] = source.data
        self.errors: list[InputError] = []
        self.customers: dict[str, Customer] = {}
        self.invoices: dict[str, Invoice] = {}

    def read(self) -> SimulationInput:
        for key in self.data:
            if key not in TOP_LEVEL:
                self._error(
                    (key,), f"unknown section; expected one of {', '.join(sorted(TOP_LEVEL))}"
                )
        name = self.data.get("name")
        if not isinstance(name, str) or not name.strip():
            self._error(("name",), "required: a short title for the scenario")
            name = self.path.stem
        policy = self._policy()
        until = self._guarded(("until",), _optional_instant, self.data.get("until"))
        for i, entry in enumerate(self._list("customers")):
            self._guarded(("customers", i), self._customer, i, entry)
        for i, entry in enumerate(self._list("invoices")):
            self._guarded(("invoices", i), self._invoice, i, entry)
        events = []
        for i, entry in enumerate(self._list("events")):
            event = self._guarded(("events", i), self._event, i, entry, until)
            if event is not None:
                events.append(event)
        return SimulationInput(
            name=name,
            invoices=list(self.invoices.values()),
            events=events,
            policy=policy,
            until=until,
            errors=self.errors,
        )

    def _error(self, loc: Loc, message: str) -> None:
        self.errors.append(self.source.error(loc, message))

    def _guarded(self, loc: Loc, read: Callable[..., T], *args: Any) -> T | None:
        """Run one item's reader; its faults become errors and the item is skipped (None)."""
        try:
            return read(*args)
        except _Fault as fault:
            self._error(fault.loc, fault.message)
        except ValidationError as exc:
            self.errors.extend(self.source.validation_errors(exc, loc))
        return None

    def _list(self, section: str) -> list[Any]:
        value = self.data.get(section)
        if value is None:
            return []
        if not isinstance(value, list):
            self._error((section,), "expected a list")
            return []
        return value

    def _policy(self) -> Policy | None:
        inline, file = self.data.get("policy"), self.data.get("policy_file")
        if inline is not None and file is not None:
            self._error(("policy_file",), "give either policy or policy_file, not both")
            return None
        if inline is not None:
            if not isinstance(inline, dict):
                self._error(("policy",), "expected a mapping with id, version, reminders...")
                return None
            return self._guarded(("policy",), Policy.model_validate, inline)
        if file is not None and not isinstance(file, str):
            self._error(("policy_file",), "expected a path relative to this file")
            return None
        path = self.path.parent / file if file else STANDARD_POLICY
        if not path.is_file():
            self._error(("policy_file",), f"no such file: {path}")
            return None
        return self._policy_file(path)

    def _policy_file(self, path: Path) -> Policy | None:
        """A policy in its own file; its faults name that file and its lines."""
        source = YamlSource.read(path)
        if isinstance(source, InputError):
            self.errors.append(source)
            return None
        try:
            return Policy.model_validate(source.data)
        except ValidationError as exc:
            self.errors.extend(source.validation_errors(exc, ()))
            return None

    def _customer(self, i: int, entry: Any) -> None:
        loc: Loc = ("customers", i)
        fields = _mapping(loc, entry)
        customer = Customer.model_validate({"tenant": self.data.get("tenant", "default"), **fields})
        try:
            Locale.parse(customer.locale)
        except (UnknownLocaleError, ValueError) as exc:
            raise _Fault(
                (*loc, "locale"),
                f"unknown locale {customer.locale!r}: expected es_MX, pt_BR, en_US...",
            ) from exc
        if customer.customer_id in self.customers:
            raise _Fault((*loc, "customer_id"), f"customer {customer.customer_id} is defined twice")
        self.customers[customer.customer_id] = customer

    def _invoice(self, i: int, entry: Any) -> None:
        loc: Loc = ("invoices", i)
        fields = _mapping(loc, entry)
        _only(loc, fields, INVOICE_FIELDS)
        ref = fields.get("customer")
        customer = self.customers.get(str(ref))
        if customer is None:
            raise _Fault((*loc, "customer"), f"unknown customer {ref!r}; define it under customers")
        amount = _money(loc, fields, "amount", None)
        invoice = Invoice.model_validate(
            {
                **fields,
                "customer": customer,
                "amount": amount,
                "issued_on": _day((*loc, "issued_on"), fields.get("issued_on")),
                "due_on": _day((*loc, "due_on"), fields.get("due_on")),
            }
        )
        if invoice.invoice_id in self.invoices:
            raise _Fault((*loc, "invoice_id"), f"invoice {invoice.invoice_id} is defined twice")
        self.invoices[invoice.invoice_id] = invoice

    def _event(self, i: int, entry: Any, until: datetime | None) -> ScheduledEvent:
        loc: Loc = ("events", i)
        fields = _mapping(loc, entry)
        try:
            kind = EventKind(str(fields.get("kind")))
        except ValueError as exc:
            kinds = ", ".join(k.value for k in EventKind)
            raise _Fault(
                (*loc, "kind"), f"unknown kind {fields.get('kind')!r}; expected {kinds}"
            ) from exc
        _only(loc, fields, EVENT_FIELDS[kind] | {"at", "invoice", "kind"})
        at = _instant((*loc, "at"), fields.get("at"))
        if until is not None and at > until:
            raise _Fault((*loc, "at"), f"{at.isoformat()} is after until ({until.isoformat()})")
        invoice = self.invoices.get(str(fields.get("invoice")))
        if invoice is None:
            raise _Fault(
                (*loc, "invoice"),
                f"unknown invoice {fields.get('invoice')!r}; define it under invoices",
            )
        payload = _payload(loc, kind, fields, at, invoice.amount.currency)
        line = self.source.line(loc)
        return ScheduledEvent(
            at=at,
            invoice_id=invoice.invoice_id,
            kind=kind,
            payload=payload,
            source=f"{self.source.file}:{line}",
        )


def _payload(loc: Loc, kind: EventKind, fields: dict[str, Any], at: datetime, currency: str) -> Any:
    """The domain request for one event, from the fields its kind accepts."""
    payload_type = PAYLOAD_TYPES[kind]
    if payload_type is None:
        return None
    values = {k: v for k, v in fields.items() if k in EVENT_FIELDS[kind] and k != "currency"}
    for name in DATE_FIELDS & values.keys():
        values[name] = _day((*loc, name), values[name])
    for name in ("amount", "credit"):
        if name in values:
            values[name] = _money(loc, fields, name, currency)
    if kind is EventKind.PAYMENT:
        values["received_at"] = at
    if kind is EventKind.PAYMENT_FAILED:
        values["failed_at"] = at
    return payload_type.model_validate(values)


def _mapping(loc: Loc, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise _Fault(loc, "expected a mapping of field: value")
    return {str(k): v for k, v in entry.items()}


def _only(loc: Loc, fields: dict[str, Any], allowed: frozenset[str]) -> None:
    for key in fields:
        if key not in allowed:
            raise _Fault(
                (*loc, key), f"unknown field; expected one of {', '.join(sorted(allowed))}"
            )


def _money(loc: Loc, fields: dict[str, Any], name: str, default_currency: str | None) -> Money:
    value, currency = fields.get(name), fields.get("currency", default_currency)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Fault((*loc, name), f'expected a quoted decimal such as "1000.00", got {value!r}')
    if not isinstance(currency, str):
        raise _Fault((*loc, "currency"), "required: an ISO 4217 code such as MXN")
    try:
        return Money.parse(str(value), currency)
    except UnknownCurrency as exc:
        raise _Fault((*loc, "currency"), str(exc)) from exc
    except ValueError as exc:
        raise _Fault((*loc, name), str(exc)) from exc


def _day(loc: Loc, value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _Fault(loc, f"expected a calendar date such as 2026-04-10, got {value!r}")


def _instant(loc: Loc, value: Any) -> datetime:
    """An aware datetime; a time without an offset is refused, never guessed."""
    parsed = value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise _Fault(
                loc, f"expected a time such as 2026-04-09T12:00:00-06:00, got {value!r}"
            ) from exc
    if not isinstance(parsed, datetime):
        raise _Fault(
            loc,
            f"expected a time with a UTC offset such as 2026-04-09T12:00:00-06:00, got {value!r}",
        )
    if parsed.tzinfo is None:
        raise _Fault(loc, f"{value} has no UTC offset; write one, e.g. {parsed.isoformat()}-06:00")
    return parsed


def _optional_instant(value: Any) -> datetime | None:
    return None if value is None else _instant(("until",), value)
