"""Support actions on an invoice: updates with validators, each also accepted as a signal.

An update answers the caller (accepted, or refused with the reason); the same action as a signal
lets the Temporal Web UI and CLI act too, and a refused signal leaves a `rejected` timeline entry.
Every action carries who asked and why.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from cobranza.domain.effects import CrmTaskRequest, Recording
    from cobranza.domain.invoice import (
        CancelRequest,
        DisputeRequest,
        DisputeResolution,
        InvoiceStatus,
        PauseRequest,
        PromiseRequest,
        ResumeRequest,
        TimelineKind,
        WriteOffRequest,
    )
    from cobranza.domain.lifecycle import Lifecycle
    from cobranza.domain.views import CollectionInput, InvoiceView
    from cobranza.workflows.invoice_effects import ErpNote


# Lifecycles from before it told the ERP nothing of a dispute's credit note.
CREDIT_NOTE_PATCH = "erp-credit-note"


class SupportActions:
    """The handlers support staff reach; InvoiceCollectionWorkflow supplies the state."""

    _input: CollectionInput
    _life: Lifecycle
    _crm_queue: list[CrmTaskRequest]
    _erp_queue: list[ErpNote]

    def _now(self) -> datetime:
        raise NotImplementedError

    def _wake(self) -> None:
        raise NotImplementedError

    def _view(self) -> InvoiceView:
        raise NotImplementedError

    def _rec(self) -> Recording:
        raise NotImplementedError

    def _reject(self, why: str | None) -> None:
        if why:
            raise ApplicationError(why, type="ActionRejected", non_retryable=True)

    def _apply(self, action: str, why: str | None, actor: str, change: Callable[[], None]) -> bool:
        """One place where every support action lands, from an update or from a signal."""
        if why is not None:
            self._life.add(
                TimelineKind.STATE_CHANGE,
                self._now(),
                event="rejected",
                action=action,
                actor=actor,
                reason=why,
            )
            return False
        change()
        self._wake()
        return True

    def _pause(self, req: PauseRequest) -> None:
        self._life.pause(req, self._now())

    def _resume(self, req: ResumeRequest) -> None:
        self._life.resume(self._now(), f"resumed by {req.actor}: {req.reason}")

    def _promise(self, req: PromiseRequest) -> None:
        self._life.accept_promise(req, self._now())
        self._crm_queue.append(
            self._task("promise", f"Promise to pay by {req.promised_on}", req.reason)
        )

    def _dispute(self, req: DisputeRequest) -> None:
        self._life.open_dispute(req.actor, req.reason, self._now())
        self._crm_queue.append(
            self._task("dispute", f"Dispute on {self._input.invoice.invoice_id}", req.reason)
        )

    def _resolve(self, req: DisputeResolution) -> None:
        self._life.resolve_dispute(req, self._now())
        if req.credit is not None and workflow.patched(CREDIT_NOTE_PATCH):
            # The ERP keeps the invoice's books: it hears of the credit as it hears of a
            # payment. Credits only add up, so their running total names each one.
            self._erp_queue.append(
                ErpNote(
                    "credit_note",
                    f"credit-note-{self._life.state.credited_minor}",
                    f"Post credit note {req.credit} ({req.reason}) to the ERP",
                    req.credit,
                )
            )

    def _cancel(self, req: CancelRequest) -> None:
        self._life.close(
            InvoiceStatus.CANCELLED, self._now(), f"cancelled by {req.actor}: {req.reason}"
        )

    def _write_off(self, req: WriteOffRequest) -> None:
        self._life.write_off(self._now(), f"written off by {req.actor}: {req.reason}")

    @workflow.update
    def pause(self, req: PauseRequest) -> InvoiceView:
        self._apply("pause", None, req.actor, lambda: self._pause(req))
        return self._view()

    @pause.validator
    def _check_pause(self, req: PauseRequest) -> None:
        self._reject(self._life.why_not_pause(req, self._now()))

    @workflow.signal(name="pause_signal")
    def pause_signal(self, req: PauseRequest) -> None:
        self._apply(
            "pause", self._life.why_not_pause(req, self._now()), req.actor, lambda: self._pause(req)
        )

    @workflow.update
    def resume(self, req: ResumeRequest) -> InvoiceView:
        self._apply("resume", None, req.actor, lambda: self._resume(req))
        return self._view()

    @resume.validator
    def _check_resume(self, req: ResumeRequest) -> None:
        self._reject(self._life.why_not_resume())

    @workflow.signal(name="resume_signal")
    def resume_signal(self, req: ResumeRequest) -> None:
        self._apply("resume", self._life.why_not_resume(), req.actor, lambda: self._resume(req))

    @workflow.update
    def promise_to_pay(self, req: PromiseRequest) -> InvoiceView:
        self._apply("promise_to_pay", None, req.actor, lambda: self._promise(req))
        return self._view()

    @promise_to_pay.validator
    def _check_promise(self, req: PromiseRequest) -> None:
        self._reject(self._life.why_not_promise(req, self._now()))

    @workflow.signal(name="promise_to_pay_signal")
    def promise_to_pay_signal(self, req: PromiseRequest) -> None:
        why = self._life.why_not_promise(req, self._now())
        self._apply("promise_to_pay", why, req.actor, lambda: self._promise(req))

    @workflow.update
    def open_dispute(self, req: DisputeRequest) -> InvoiceView:
        self._apply("open_dispute", None, req.actor, lambda: self._dispute(req))
        return self._view()

    @open_dispute.validator
    def _check_dispute(self, req: DisputeRequest) -> None:
        self._reject(self._life.why_not_dispute())

    @workflow.signal(name="open_dispute_signal")
    def open_dispute_signal(self, req: DisputeRequest) -> None:
        self._apply(
            "open_dispute", self._life.why_not_dispute(), req.actor, lambda: self._dispute(req)
        )

    @workflow.update
    def resolve_dispute(self, req: DisputeResolution) -> InvoiceView:
        self._apply("resolve_dispute", None, req.actor, lambda: self._resolve(req))
        return self._view()

    @resolve_dispute.validator
    def _check_resolve(self, req: DisputeResolution) -> None:
        self._reject(self._life.why_not_resolve(req))

    @workflow.signal(name="resolve_dispute_signal")
    def resolve_dispute_signal(self, req: DisputeResolution) -> None:
        self._apply(
            "resolve_dispute",
            self._life.why_not_resolve(req),
            req.actor,
            lambda: self._resolve(req),
        )

    @workflow.update
    def cancel(self, req: CancelRequest) -> InvoiceView:
        self._apply("cancel", None, req.actor, lambda: self._cancel(req))
        return self._view()

    @cancel.validator
    def _check_cancel(self, req: CancelRequest) -> None:
        self._reject(self._life.why_not_close())

    @workflow.signal(name="cancel_signal")
    def cancel_signal(self, req: CancelRequest) -> None:
        self._apply("cancel", self._life.why_not_close(), req.actor, lambda: self._cancel(req))

    @workflow.update
    def write_off(self, req: WriteOffRequest) -> InvoiceView:
        self._apply("write_off", None, req.actor, lambda: self._write_off(req))
        return self._view()

    @write_off.validator
    def _check_write_off(self, req: WriteOffRequest) -> None:
        self._reject(self._life.why_not_close())

    @workflow.signal(name="write_off_signal")
    def write_off_signal(self, req: WriteOffRequest) -> None:
        self._apply(
            "write_off", self._life.why_not_close(), req.actor, lambda: self._write_off(req)
        )

    def _task(self, kind: str, title: str, body: str) -> CrmTaskRequest:
        inv = self._input.invoice
        n = len(self._life.state.timeline)
        return CrmTaskRequest(
            idempotency_key=f"{inv.workflow_id}:{kind}-{n}",
            customer=inv.customer,
            invoice_id=inv.invoice_id,
            kind=kind,
            title=title,
            body=body,
            recording=self._rec(),
        )
