"""How an invoice's messages reach the customer: at a lawful instant, through the contact gate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from cobranza.activities import names
    from cobranza.domain.compliance import Decision, PastContact, first_allowed_instant
    from cobranza.domain.compliance_profile import ContactChannel
    from cobranza.domain.contact_gate import (
        SEND_SLACK,
        Claim,
        ContactRequest,
        Grant,
        Withdrawal,
    )
    from cobranza.domain.contact_points import reachable_channels, unreachable_reason
    from cobranza.domain.effects import (
        ContactEvidence,
        LineItem,
        MessageReceipt,
        MessageRequest,
        Recording,
    )
    from cobranza.domain.gate_calls import GateClaimCall, GateRequestCall, GateWithdrawCall
    from cobranza.domain.invoice import Channel, TimelineKind
    from cobranza.domain.lifecycle import Deferral, Lifecycle
    from cobranza.domain.views import CollectionInput

ACTIVITY_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["PermanentIntegrationError"],
)


class ContactDesk:
    """Sends one invoice's messages: deferred to the law, booked at the customer's gate."""

    def __init__(
        self,
        input: CollectionInput,
        life: Lifecycle,
        now: Callable[[], datetime],
        wait_until: Callable[[datetime, str], Awaitable[bool]],
        recording: Callable[[], Recording],
        unreachable: Callable[[str], None],
    ) -> None:
        self._input = input
        self._life = life
        self._now = now
        self._wait_until = wait_until
        self._recording = recording
        self._unreachable = unreachable

    async def deliver(
        self, channel: Channel, template: str, key: str, fallback: tuple[Channel, ...] = ()
    ) -> bool:
        """Get a due message to the customer; False when a change woke us before it went out.

        Channels are tried in the step's order, skipping those with no valid, consented
        address; when none can reach the customer a person gets a CRM task instead.
        """
        channels = [channel]
        if workflow.patched("channel-fallback"):
            channels = reachable_channels(self._input.invoice.customer, channel, fallback)
            if not channels:
                self._no_channel(channel, template, key, fallback)
                return True
        # Lifecycles started before the gate existed carry no such field and read the new
        # default; the patch keeps them on their old path when they replay.
        gated = self._input.contact_gate and workflow.patched("contact-gate")
        for i, current in enumerate(channels):
            if gated:
                return await self._through_gate(current, template, key)
            if not await self.await_lawful(current, key):
                return False
            if await self.send(current, template, key, last_resort=i == len(channels) - 1):
                return True
        return True

    def _no_channel(
        self, channel: Channel, template: str, key: str, fallback: tuple[Channel, ...]
    ) -> None:
        customer = self._input.invoice.customer
        reasons = [
            f"{c.value}: {unreachable_reason(customer, c)}"
            for c in dict.fromkeys((channel, *fallback))
        ]
        reason = "no reachable channel (" + "; ".join(reasons) + ")"
        self._life.add(
            TimelineKind.MESSAGE,
            self._now(),
            channel=channel.value,
            template=template,
            step_key=key,
            event="unreachable",
            reason=reason,
        )
        self._unreachable(reason)

    def lawful(self, channel: Channel, desired: datetime) -> Decision | None:
        """The first instant the customer's law allows this contact, or None without a profile."""
        profile = self._input.compliance
        if profile is None:
            return None
        # The holidays package reads its translations through gettext, which the sandbox
        # forbids; the calendar it computes is deterministic for a pinned package version.
        with workflow.unsafe.sandbox_unrestricted():
            return first_allowed_instant(
                profile,
                ContactChannel(channel.value),
                desired,
                self._input.invoice.customer.timezone,
                self._life.state.contacts,
            )

    async def await_lawful(self, channel: Channel, key: str) -> bool:
        """Defer a due contact to its first lawful instant (never drop it); False if woken first."""
        if not workflow.patched("contact-compliance"):
            return True
        decision = self.lawful(channel, self._now())
        if decision is None or not decision.deferred:
            return True
        notes = self._life.state.deferrals
        if key not in notes:
            notes[key] = Deferral(
                deferred_from=decision.desired.isoformat(),
                rules=[r.id for r in decision.rules],
                profile=decision.profile,
            )
        rules = ", ".join(notes[key].rules)
        return await self._wait_until(decision.allowed_at, f"deferred by {rules}")

    def line_item(self) -> LineItem:
        life, inv = self._life, self._input.invoice
        return LineItem(
            invoice_id=inv.invoice_id,
            amount=inv.amount,
            outstanding=life.outstanding,
            paid=life.money(life.state.paid_minor),
            credited=life.money(life.state.credited_minor) if life.state.credited_minor else None,
            due_on=inv.due_on,
            days_overdue=inv.days_overdue_at(self._now()),
            payment_link=life.state.payment_link,
        )

    def _evidence(
        self, now: datetime, deferral: Deferral | None, details: dict[str, Any]
    ) -> ContactEvidence:
        """The law behind this contact, for the evidence log: profile, rules, due and granted."""
        rules = deferral.rules if deferral else list(details.get("rules", []))
        rule_set = deferral.profile if deferral else details.get("rule_set")
        if rule_set is None and self._input.compliance is not None:
            rule_set = self._input.compliance.ref
        return ContactEvidence(
            rule_set=rule_set,
            rules=rules,
            due_at=_instant(deferral.deferred_from if deferral else details.get("due_at")),
            granted_at=_instant(details.get("granted_at")) or now,
        )

    async def send(
        self,
        channel: Channel,
        template: str,
        key: str,
        items: list[LineItem] | None = None,
        dedupe: str | None = None,
        last_resort: bool = True,
        **details: Any,
    ) -> bool:
        """Send now; False when it could not go out (recorded; a person is told if no other
        channel is left to try)."""
        life, inv = self._life, self._input.invoice
        now = self._now()
        dedupe = dedupe or f"{inv.workflow_id}:{key}"
        deferral = life.state.deferrals.pop(key, None)
        life.add(
            TimelineKind.MESSAGE,
            now,
            channel=channel.value,
            template=template,
            dedupe_key=dedupe,
            outstanding=str(life.outstanding.to_decimal()),
            **(deferral.model_dump(mode="json") if deferral else {}),
            **details,
        )
        life.state.reminders_sent += 1
        life.state.contacts.append(PastContact(at=now, channel=ContactChannel(channel.value)))
        req = MessageRequest(
            dedupe_key=dedupe,
            customer=inv.customer,
            channel=channel,
            template=template,
            items=items or [self.line_item()],
            step=template,
            scheduled_at=now,
            recording=self._recording(),
            evidence=self._evidence(now, deferral, details),
            send_within=SEND_SLACK,
        )
        try:
            await workflow.execute_activity(
                names.SEND_MESSAGE,
                req,
                result_type=MessageReceipt,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                # No schedule-to-close timeout: it would fire while an attempt may already have
                # handed the message over, and count as not sent a contact that went out. The
                # activity itself refuses to send once SEND_SLACK has passed (req.send_within).
                retry_policy=RETRY,
                summary=f"{channel.value} '{template}': {life.outstanding} outstanding",
            )
        except ActivityError as exc:
            # No address, an invalid one, a hard bounce: nothing went out. Say so, hand it to a
            # person, and go on with the schedule rather than fail the whole lifecycle.
            reason = str(exc.cause) if exc.cause is not None else str(exc)
            life.state.reminders_sent -= 1
            life.state.contacts.pop()
            life.add(
                TimelineKind.MESSAGE,
                self._now(),
                channel=channel.value,
                template=template,
                dedupe_key=dedupe,
                event="failed",
                reason=reason,
            )
            if last_resort:
                self._unreachable(reason)
            return False
        life.mark_recorded(req.recording)
        return True

    async def _through_gate(self, channel: Channel, template: str, key: str) -> bool:
        """Book a slot, wait for it, claim it: the first claimer sends one message for all."""
        life, inv = self._life, self._input.invoice
        grant = life.state.grants.get(key)
        if grant is None:
            grant = await self._request(channel, template, key)
            life.state.grants[key] = grant
        if grant.at > self._now():
            why = f"contact slot {grant.slot_id} with {', '.join(grant.invoices)}"
            if grant.rules:
                why += f", deferred by {', '.join(grant.rules)}"
            if not await self._wait_until(grant.at, why):
                if life.is_closed or life.on_hold:
                    await self._withdraw(grant)
                    del life.state.grants[key]
                return False
        claim = await workflow.execute_activity(
            names.CLAIM_CONTACT,
            GateClaimCall(
                customer=inv.customer, slot_id=grant.slot_id, workflow_id=inv.workflow_id
            ),
            result_type=Claim,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            summary=f"Claim contact slot {grant.slot_id}",
        )
        del life.state.grants[key]
        slot: dict[str, Any] = {"slot": grant.slot_id}
        if grant.rules:
            slot["rules"] = grant.rules
        if grant.profile:
            slot["rule_set"] = grant.profile
        slot["granted_at"] = grant.at.isoformat()
        if grant.rules and grant.desired_at is not None:
            slot["due_at"] = grant.desired_at.isoformat()
        if claim.send:
            gate_key = f"customer-{inv.tenant}-{inv.customer.customer_id}:{grant.slot_id}"
            invoices = [i.invoice_id for i in claim.items]
            await self.send(
                channel,
                claim.template or template,
                key,
                items=claim.items,
                dedupe=gate_key,
                invoices=invoices,
                consolidated=len(invoices) > 1,
                **slot,
            )
        else:
            life.add(
                TimelineKind.MESSAGE,
                self._now(),
                channel=channel.value,
                template=template,
                delivered_by=claim.sender_invoice,
                consolidated=True,
                **slot,
            )
        return True

    async def _request(self, channel: Channel, template: str, key: str) -> Grant:
        inv = self._input.invoice
        request = ContactRequest(
            workflow_id=inv.workflow_id,
            invoice_id=inv.invoice_id,
            step_key=key,
            channel=channel,
            template=template,
            desired_at=self._now(),
            item=self.line_item(),
        )
        call = GateRequestCall(
            customer=inv.customer,
            profile=self._input.compliance,
            request=request,
            task_queue=self._input.task_queue,
        )
        grant: Grant = await workflow.execute_activity(
            names.REQUEST_CONTACT,
            call,
            result_type=Grant,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            summary=f"Ask the contact gate for a {channel.value} slot",
        )
        return grant

    async def _withdraw(self, grant: Grant) -> None:
        inv = self._input.invoice
        call = GateWithdrawCall(
            customer=inv.customer,
            withdrawal=Withdrawal(workflow_id=inv.workflow_id, slot_id=grant.slot_id),
        )
        await workflow.execute_activity(
            names.WITHDRAW_CONTACT,
            call,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            summary=f"Leave contact slot {grant.slot_id}",
        )


def _instant(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None
