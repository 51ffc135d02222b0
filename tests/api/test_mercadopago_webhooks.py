"""Mercado Pago webhooks end to end: signed notification, payment fetched from the sandbox API."""

from __future__ import annotations

from cobranza.domain.invoice import InvoiceStatus
from cobranza.domain.views import CollectionResult, InvoiceView
from cobranza.store.webhooks import webhook_events
from cobranza.workflows.invoice import InvoiceCollectionWorkflow

from .webhook_requests import RunningIngress, post_mercadopago, put_mercadopago_payment


async def test_a_signed_notification_fetches_the_payment_and_closes_the_invoice(
    api: RunningIngress,
) -> None:
    invoice, handle = await api.open_invoice("MP-VALID", amount="12.34", currency="BRL")
    await put_mercadopago_payment(api, 17014025134, invoice)

    response = await post_mercadopago(api, 17014025134)

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "signalled"
    result = await handle.result()
    assert isinstance(result, CollectionResult)
    assert result.view.status is InvoiceStatus.PAID
    assert result.view.paid == "12.34" and result.view.currency == "BRL"
    assert result.view.payment_ids == ["mercadopago:17014025134"]


async def test_a_bad_signature_gets_401_and_fetches_nothing(api: RunningIngress) -> None:
    invoice, handle = await api.open_invoice("MP-BADSIG", amount="12.34", currency="BRL")
    await put_mercadopago_payment(api, 17014025135, invoice)
    before = len(webhook_events(api.stack.store, "mercadopago"))

    response = await post_mercadopago(api, 17014025135, secret="not-the-secret")

    assert response.status_code == 401
    assert "x-signature" in response.json()["error"]
    view: InvoiceView = await handle.query(InvoiceCollectionWorkflow.status)
    assert view.status is InvoiceStatus.OPEN and view.payment_ids == []
    assert len(webhook_events(api.stack.store, "mercadopago")) == before
    await handle.terminate("test over")
