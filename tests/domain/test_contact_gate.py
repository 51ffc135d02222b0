"""The contact gate's ledger: joining, claiming, withdrawing, caps across a customer's invoices."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cobranza.domain.compliance_file import load_profile
from cobranza.domain.compliance_profile import ComplianceProfile
from cobranza.domain.contact_gate import (
    GATHER_WINDOW,
    SEND_SLACK,
    ContactRequest,
    GateLedger,
    Grant,
    Slot,
    Withdrawal,
)
from cobranza.domain.effects import LineItem
from cobranza.domain.invoice import Channel, Customer
from cobranza.domain.money import Money

MEXICO = ZoneInfo("America/Mexico_City")
SANTIAGO = ZoneInfo("America/Santiago")
# Friday 10 April 2026, 10:00 in Mexico City: a working day with no holiday.
T = datetime(2026, 4, 10, 10, 0, tzinfo=MEXICO)
# Monday 6 April 2026, 10:00 in Santiago: a día hábil after Easter.
T_CL = datetime(2026, 4, 6, 10, 0, tzinfo=SANTIAGO)
CL = load_profile("CL")
MESSAGE_CHANNELS = [Channel.EMAIL, Channel.SMS, Channel.WHATSAPP]
WEEK = timedelta(days=7)


def customer(country: str = "MX", timezone: str = "America/Mexico_City") -> Customer:
    return Customer(customer_id="C-1", country=country, timezone=timezone, locale="es_MX")


def ledger(profile: ComplianceProfile | None = None, **customer_fields: Any) -> GateLedger:
    return GateLedger(customer=customer(**customer_fields), profile=profile)


def cl_ledger() -> GateLedger:
    return ledger(CL, country="CL", timezone="America/Santiago")


def request(
    invoice: str = "A",
    at: datetime = T,
    channel: Channel = Channel.EMAIL,
    step: str = "step-1",
    template: str = "overdue",
    amount: str = "100.00",
) -> ContactRequest:
    money = Money.parse(amount, "MXN")
    return ContactRequest(
        workflow_id=f"invoice-default-INV-{invoice}",
        invoice_id=f"INV-{invoice}",
        step_key=step,
        channel=channel,
        template=template,
        desired_at=at,
        item=LineItem(
            invoice_id=f"INV-{invoice}",
            amount=money,
            outstanding=money,
            paid=Money.zero("MXN"),
            due_on=date(2026, 4, 10),
        ),
    )


def wf(invoice: str) -> str:
    return f"invoice-default-INV-{invoice}"


# ---- joining ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("why", "second", "joins"),
    [
        ("same instant, same channel", request("B"), True),
        ("five minutes later, in the gather window", request("B", T + timedelta(minutes=5)), True),
        ("exactly at the slot's time", request("B", T + GATHER_WINDOW), True),
        (
            "later that day, more than a gather window after the slot",
            request("B", T + GATHER_WINDOW + timedelta(minutes=16)),
            False,
        ),
        ("earlier the same local day", request("B", T.replace(hour=7)), True),
        # 23:30 on 9 April in Mexico City is 05:30 UTC on 10 April, the slot's UTC day.
        ("the previous local day", request("B", T.replace(day=9, hour=23, minute=30)), False),
        ("another channel", request("B", channel=Channel.SMS), False),
        ("the next day", request("B", T + timedelta(days=1)), False),
    ],
)
def test_a_request_joins_an_unclaimed_slot_of_its_channel_on_the_same_local_day(
    why: str, second: ContactRequest, joins: bool
) -> None:
    gate = ledger()
    first = gate.request(request("A"))
    grant = gate.request(second)
    assert (grant.slot_id == first.slot_id) is joins, why
    assert grant.joined is joins, why
    assert len(gate.slots) == (1 if joins else 2), why
    if joins:
        assert grant.invoices == ["INV-A", "INV-B"]
    else:
        assert grant.invoices == ["INV-B"]


def test_without_a_profile_a_new_slot_waits_one_gather_window() -> None:
    grant = ledger().request(request("A"))
    assert grant.at == T + GATHER_WINDOW
    assert grant.deferred is False
    assert grant.rules == []
    assert grant.profile is None


def test_a_claimed_slot_is_not_joined() -> None:
    gate = ledger()
    first = gate.request(request("A"))
    gate.claim(first.slot_id, wf("A"))
    late = gate.request(request("B", T + timedelta(minutes=1)))
    assert late.slot_id != first.slot_id
    assert late.invoices == ["INV-B"]


def test_a_slot_emptied_by_withdrawals_is_not_joined() -> None:
    gate = ledger()
    first = gate.request(request("A"))
    gate.withdraw(Withdrawal(workflow_id=wf("A"), slot_id=first.slot_id))
    again = gate.request(request("B"))
    assert again.slot_id != first.slot_id
    assert [s.slot_id for s in gate.slots] == [again.slot_id]


def test_the_same_invoice_step_asked_twice_gets_the_same_slot() -> None:
    gate = ledger()
    first = gate.request(request("A"))
    gate.request(request("B"))
    retry = gate.request(request("A", T + timedelta(hours=3)))
    assert retry == Grant(
        slot_id=first.slot_id,
        at=first.at,
        deferred=False,
        rules=[],
        profile=None,
        joined=False,
        invoices=["INV-A", "INV-B"],
        desired_at=first.desired_at,
    )
    assert first.desired_at == T
    assert len(gate.slots) == 1
    assert [m.invoice_id for m in gate.slots[0].members] == ["INV-A", "INV-B"]


def test_another_step_of_the_same_invoice_is_a_new_member() -> None:
    gate = ledger()
    first = gate.request(request("A", step="step-1"))
    second = gate.request(request("A", T + timedelta(days=3), step="step-2"))
    assert second.slot_id != first.slot_id
    assert len(gate.slots) == 2


# ---- claiming -----------------------------------------------------------------------------


def three_in_one_slot() -> tuple[GateLedger, str]:
    gate = ledger()
    slot = gate.request(request("A", amount="1000.00")).slot_id
    gate.request(request("B", amount="250.50"))
    gate.request(request("C", amount="75.25"))
    return gate, slot


def test_the_first_claimer_sends_every_members_item_with_its_own_amount() -> None:
    gate, slot = three_in_one_slot()
    claim = gate.claim(slot, wf("B"))
    assert claim.send is True
    assert claim.sender_invoice == "INV-B"
    assert [(i.invoice_id, str(i.outstanding)) for i in claim.items] == [
        ("INV-A", "1000.00 MXN"),
        ("INV-B", "250.50 MXN"),
        ("INV-C", "75.25 MXN"),
    ]


def test_a_claim_is_idempotent_for_its_claimer_and_tells_the_others_who_sent() -> None:
    gate, slot = three_in_one_slot()
    first = gate.claim(slot, wf("A"))
    assert gate.claim(slot, wf("A")) == first
    for other in ("B", "C"):
        later = gate.claim(slot, wf(other))
        assert later.send is False
        assert later.sender_invoice == "INV-A"
        assert later.items == []
        assert gate.claim(slot, wf(other)) == later
    assert gate.slots[0].claimed_by == wf("A")


def test_claiming_an_unknown_slot_names_it_and_the_customer() -> None:
    with pytest.raises(KeyError, match="slot-9 for customer C-1"):
        ledger().claim("slot-9", wf("A"))


# ---- withdrawing --------------------------------------------------------------------------


def test_a_withdrawn_invoice_leaves_the_message() -> None:
    gate, slot = three_in_one_slot()
    gate.withdraw(Withdrawal(workflow_id=wf("B"), slot_id=slot))
    claim = gate.claim(slot, wf("A"))
    assert [i.invoice_id for i in claim.items] == ["INV-A", "INV-C"]
    assert gate.request(request("C")).invoices == ["INV-A", "INV-C"]


def test_withdrawing_the_last_member_drops_the_slot() -> None:
    gate = ledger()
    slot = gate.request(request("A")).slot_id
    gate.request(request("B"))
    gate.withdraw(Withdrawal(workflow_id=wf("A"), slot_id=slot))
    assert len(gate.slots) == 1
    gate.withdraw(Withdrawal(workflow_id=wf("B"), slot_id=slot))
    assert gate.slots == []


def test_withdrawing_after_the_claim_changes_nothing() -> None:
    gate, slot = three_in_one_slot()
    sent = gate.claim(slot, wf("A"))
    gate.withdraw(Withdrawal(workflow_id=wf("B"), slot_id=slot))
    assert gate.claim(slot, wf("A")) == sent
    assert [m.withdrawn for m in gate.slots[0].members] == [False, False, False]


def test_an_invoice_that_withdrew_and_asks_again_is_back_in_the_message() -> None:
    gate = ledger()
    slot = gate.request(request("A")).slot_id
    gate.request(request("B"))
    gate.withdraw(Withdrawal(workflow_id=wf("A"), slot_id=slot))
    again = gate.request(request("A", T + timedelta(minutes=5)))
    assert "INV-A" in again.invoices
    claim = gate.claim(again.slot_id, wf("A"))
    assert [i.invoice_id for i in claim.items] == ["INV-A", "INV-B"]


def test_the_consolidated_template_does_not_depend_on_who_claims_first() -> None:
    templates = set()
    for claimer in ("A", "B"):
        gate = ledger()
        slot = gate.request(request("A", template="overdue_firm")).slot_id
        gate.request(request("B", template="upcoming"))
        templates.add(gate.claim(slot, wf(claimer)).template)
    assert len(templates) == 1


# ---- caps across invoices (Chile) ---------------------------------------------------------


def message_slots(gate: GateLedger) -> list[Slot]:
    return sorted((s for s in gate.slots if s.channel in MESSAGE_CHANNELS), key=lambda s: s.at)


def assert_within_chilean_caps(slots: Iterable[Slot]) -> None:
    """At most 2 messages in any 7 days, 48 h apart, one contact a local day, in hours."""
    ordered = sorted(slots, key=lambda s: s.at)
    times = [s.at for s in ordered]
    for earlier, later in itertools.pairwise(times):
        assert later - earlier >= timedelta(hours=48), (earlier, later)
    # Any window of 7 days holding three slots would hold the 1st and 3rd of three in a row.
    for first, third in zip(times, times[2:], strict=False):
        assert third - first >= WEEK, (first, third)
    days = [t.astimezone(SANTIAGO).date() for t in times]
    assert len(days) == len(set(days)), days
    for t in times:
        local = t.astimezone(SANTIAGO)
        assert local.weekday() < 6, local
        assert 8 <= local.hour < 20, local


def test_twenty_invoices_asking_at_the_same_instant_share_one_slot() -> None:
    gate = cl_ledger()
    grants = [gate.request(request(f"{n:02}", T_CL)) for n in range(20)]
    assert {g.slot_id for g in grants} == {"slot-1"}
    assert grants[-1].invoices == [f"INV-{n:02}" for n in range(20)]
    assert grants[0].at == T_CL + GATHER_WINDOW


def test_twenty_invoices_on_three_channels_at_the_same_instant_keep_the_caps() -> None:
    gate = cl_ledger()
    grants = [gate.request(request(f"{n:02}", T_CL, MESSAGE_CHANNELS[n % 3])) for n in range(20)]
    slots = message_slots(gate)
    assert_within_chilean_caps(slots)
    assert all(g.at >= T_CL for g in grants)
    assert slots[0].at == T_CL + GATHER_WINDOW
    assert sum(len(s.active()) for s in slots) == 20


DEFERRED_SLOT_NOT_JOINED = (
    "GateLedger._joinable compares the slot's granted local day with the request's desired "
    "local day, so once a slot is deferred to another day (Sunday to Monday, or by a cap) the "
    "next invoice asking at the same instant cannot join it and opens a slot of its own, "
    "deferred further: N invoices due together become N single-invoice messages over weeks"
)


def test_twenty_invoices_on_three_channels_at_the_same_instant_get_one_slot_per_channel() -> None:
    gate = cl_ledger()
    for n in range(20):
        gate.request(request(f"{n:02}", T_CL, MESSAGE_CHANNELS[n % 3]))
    slots = message_slots(gate)
    # Email opens at once; SMS waits 48 h; WhatsApp waits a week after the email, each counted
    # from the latest the email may really go out (SEND_SLACK after its slot).
    assert [s.at.astimezone(SANTIAGO) for s in slots] == [
        T_CL + GATHER_WINDOW,
        T_CL + GATHER_WINDOW + SEND_SLACK + timedelta(hours=48),
        T_CL + GATHER_WINDOW + SEND_SLACK + WEEK,
    ]


def test_five_invoices_due_on_a_sunday_share_mondays_slot() -> None:
    gate = cl_ledger()
    sunday = datetime(2026, 4, 12, 10, 0, tzinfo=SANTIAGO)
    grants = [gate.request(request(f"{n}", sunday)) for n in range(5)]
    assert {g.slot_id for g in grants} == {"slot-1"}
    assert grants[0].at == datetime(2026, 4, 13, 8, 0, tzinfo=SANTIAGO)
    assert grants[-1].invoices == [f"INV-{n}" for n in range(5)]


def test_a_ladder_of_steps_for_twenty_invoices_keeps_the_caps() -> None:
    gate = cl_ledger()
    for day in (-3, 0, 3, 10, 30):
        for n in range(20):
            gate.request(request(f"{n:02}", T_CL + timedelta(days=day), step=f"day{day}"))
    slots = message_slots(gate)
    assert_within_chilean_caps(slots)
    assert sum(len(s.active()) for s in slots) == 100


def test_a_ladder_of_steps_for_twenty_invoices_sends_one_message_a_step() -> None:
    gate = cl_ledger()
    # Day -3 is Good Friday (3 April 2026): that step is deferred by the holiday.
    for day in (-3, 0, 3, 10, 30):
        for n in range(20):
            gate.request(request(f"{n:02}", T_CL + timedelta(days=day), step=f"day{day}"))
    assert [len(s.active()) for s in message_slots(gate)] == [20] * 5


Ask = tuple[int, int, Channel, timedelta]

asks = st.tuples(
    st.integers(min_value=0, max_value=19),
    st.integers(min_value=0, max_value=4),
    st.sampled_from(MESSAGE_CHANNELS),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=21)).map(
        lambda d: timedelta(minutes=d // timedelta(minutes=1))
    ),
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    batch=st.lists(asks, min_size=1, max_size=40, unique_by=lambda a: (a[0], a[1])),
    claims=st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_any_order_of_requests_keeps_the_chilean_caps_and_never_sends_early(
    batch: list[Ask], claims: list[bool]
) -> None:
    gate = cl_ledger()
    placed: list[tuple[ContactRequest, Grant]] = []
    for (invoice, step, channel, offset), claim_now in zip(batch, claims, strict=False):
        req = request(f"{invoice:02}", T_CL + offset, channel, step=f"step-{step}")
        grant = gate.request(req)
        placed.append((req, grant))
        if claim_now:
            gate.claim(grant.slot_id, req.workflow_id)
    slots = message_slots(gate)
    assert_within_chilean_caps(slots)
    by_id = {s.slot_id: s for s in slots}
    for req, grant in placed:
        slot = by_id[grant.slot_id]
        assert slot.at >= slot.desired_at
        # A request may join a slot booked up to one gather window before its own instant.
        assert grant.at >= req.desired_at - GATHER_WINDOW
        members = [(m.workflow_id, m.step_key) for m in slot.members]
        assert members.count((req.workflow_id, req.step_key)) == 1
    assert sum(len(s.members) for s in slots) == len(batch)
