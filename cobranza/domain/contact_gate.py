"""The contact gate's ledger: one customer's contact slots, lawful, capped and consolidated.

Pure bookkeeping on business instants supplied by the invoices, with no clock of its own, so it
holds when every invoice workflow runs on its own virtual clock. Each due contact asks for a
slot: it joins an unclaimed slot of the same channel on the same local day (one message lists
every invoice), or opens a new slot at the first instant the customer's law allows given every
slot already booked for that customer. At the slot's time every member claims it; the first
claim gets the items and sends, the others learn who sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from cobranza.domain.compliance import PastContact, first_allowed_instant
from cobranza.domain.compliance_profile import ComplianceProfile, ContactChannel
from cobranza.domain.effects import LineItem
from cobranza.domain.invoice import Channel, Customer

# Time between a slot's first request and its sending, during which other invoices of the
# customer due at the same moment can still join the message.
GATHER_WINDOW = timedelta(minutes=15)
# How late a booked contact may really go out (a timer fired under load, a provider retried:
# send_message refuses an attempt later than this after its lawful instant, as not sent);
# later slots keep the law's gaps and windows from that later instant.
SEND_SLACK = timedelta(minutes=2)
# Claimed slots older than this before the newest request cannot affect any cap; pruned.
KEEP_HISTORY = timedelta(days=40)


class ContactRequest(BaseModel):
    """An invoice's due contact, asked of its customer's gate."""

    workflow_id: str
    invoice_id: str
    step_key: str
    channel: Channel
    template: str
    desired_at: datetime
    item: LineItem


class Member(BaseModel):
    workflow_id: str
    invoice_id: str
    step_key: str
    template: str
    item: LineItem
    withdrawn: bool = False


class Slot(BaseModel):
    slot_id: str
    channel: Channel
    at: datetime
    desired_at: datetime
    rules: list[str] = Field(default_factory=list)
    members: list[Member] = Field(default_factory=list)
    claimed_by: str | None = None

    def active(self) -> list[Member]:
        return [m for m in self.members if not m.withdrawn]


class Grant(BaseModel):
    """Where a contact was placed: its slot, when, why then, and who else is in it."""

    slot_id: str
    at: datetime
    deferred: bool
    rules: list[str]
    profile: str | None
    joined: bool
    invoices: list[str]
    desired_at: datetime | None = None  # when the slot's first contact was due


class Claim(BaseModel):
    """At the slot's time: the sender gets every item; the others learn who sent."""

    slot_id: str
    send: bool
    sender_invoice: str | None
    template: str
    items: list[LineItem]


class Withdrawal(BaseModel):
    workflow_id: str
    slot_id: str


class GateLedger(BaseModel):
    """Everything a customer's gate remembers; carried whole across continue-as-new."""

    customer: Customer
    profile: ComplianceProfile | None = None
    slots: list[Slot] = Field(default_factory=list)
    next_id: int = 1

    def request(self, req: ContactRequest) -> Grant:
        existing = self._slot_of(req.workflow_id, req.step_key)
        if existing is not None:
            slot, member = existing
            if not member.withdrawn:
                return self._grant(slot, req.workflow_id)
            if slot.claimed_by is None:
                # Back from a pause before the slot went out: back in the message.
                member.withdrawn = False
                member.item = req.item
                return self._grant(slot, req.workflow_id)
        target = self._joinable(req) or self._open(req)
        target.members.append(
            Member(
                workflow_id=req.workflow_id,
                invoice_id=req.invoice_id,
                step_key=req.step_key,
                template=req.template,
                item=req.item,
            )
        )
        self._prune(req.desired_at)
        return self._grant(target, req.workflow_id)

    def claim(self, slot_id: str, workflow_id: str) -> Claim:
        """Idempotent: the same claimer always gets the same answer, so a retry never resends."""
        slot = self._slot(slot_id)
        if slot.claimed_by is None:
            slot.claimed_by = workflow_id
        sender = next((m for m in slot.members if m.workflow_id == slot.claimed_by), None)
        send = slot.claimed_by == workflow_id
        active = slot.active()
        # The message speaks in the voice of its most overdue invoice, whoever claims first.
        voice = max(active, key=lambda m: m.item.days_overdue, default=sender)
        return Claim(
            slot_id=slot_id,
            send=send,
            sender_invoice=sender.invoice_id if sender else None,
            template=voice.template if voice else "",
            # Sorted, so the message reads the same whichever invoice asked first.
            items=sorted((m.item for m in active), key=lambda i: i.invoice_id) if send else [],
        )

    def withdraw(self, w: Withdrawal) -> None:
        """An invoice closed or put on hold before its slot: it leaves the message."""
        slot = self._slot(w.slot_id)
        if slot.claimed_by is not None:
            return
        for member in slot.members:
            if member.workflow_id == w.workflow_id:
                member.withdrawn = True
        if slot.claimed_by is None and not slot.active():
            self.slots.remove(slot)

    # ---- internals -----------------------------------------------------------------------

    def _slot(self, slot_id: str) -> Slot:
        for slot in self.slots:
            if slot.slot_id == slot_id:
                return slot
        raise KeyError(f"no contact slot {slot_id} for customer {self.customer.customer_id}")

    def _slot_of(self, workflow_id: str, step_key: str) -> tuple[Slot, Member] | None:
        """The slot this contact already asked for, unless it withdrew from one since sent."""
        for slot in self.slots:
            for member in slot.members:
                if member.workflow_id == workflow_id and member.step_key == step_key:
                    if member.withdrawn and slot.claimed_by is not None:
                        continue
                    return slot, member
        return None

    def _joinable(self, req: ContactRequest) -> Slot | None:
        # Contacts due the same local day share a slot, even one the law moved to a later
        # day: the moved slot is when that day's message can lawfully go out.
        zone = self.customer.zone
        day = req.desired_at.astimezone(zone).date()
        for slot in self.slots:
            if (
                slot.claimed_by is None
                and slot.channel == req.channel
                and slot.active()
                and slot.desired_at.astimezone(zone).date() == day
                and slot.at >= req.desired_at - GATHER_WINDOW
            ):
                return slot
        return None

    def _open(self, req: ContactRequest) -> Slot:
        desired = req.desired_at + GATHER_WINDOW
        at, rules = desired, []
        if self.profile is not None:
            # A booked contact counts as made SEND_SLACK after its slot: a timer under load
            # fires late, and a cap ("48 h apart", "2 in 7 days") holds for the real send.
            history = [
                PastContact(at=s.at + SEND_SLACK, channel=ContactChannel(s.channel.value))
                for s in self.slots
                if s.active() or s.claimed_by is not None
            ]
            decision = first_allowed_instant(
                self.profile,
                ContactChannel(req.channel.value),
                desired,
                self.customer.timezone,
                history,
            )
            at, rules = decision.allowed_at, [r.id for r in decision.rules]
        slot = Slot(
            slot_id=f"slot-{self.next_id}",
            channel=req.channel,
            at=at,
            desired_at=req.desired_at,
            rules=rules,
        )
        self.next_id += 1
        self.slots.append(slot)
        return slot

    def _grant(self, slot: Slot, workflow_id: str) -> Grant:
        first = slot.members[0].workflow_id if slot.members else workflow_id
        return Grant(
            slot_id=slot.slot_id,
            at=slot.at,
            deferred=bool(slot.rules),
            rules=list(slot.rules),
            profile=self.profile.ref if self.profile else None,
            joined=first != workflow_id,
            invoices=[m.invoice_id for m in slot.active()],
            desired_at=slot.desired_at,
        )

    def _prune(self, now: datetime) -> None:
        horizon = now - KEEP_HISTORY
        self.slots = [s for s in self.slots if s.claimed_by is None or s.at >= horizon]
