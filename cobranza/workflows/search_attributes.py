"""Search attribute keys that ops filter invoices by in the Temporal Web UI and CLI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
INVOICE_STATUS = SearchAttributeKey.for_keyword("InvoiceStatus")
DUNNING_LEVEL = SearchAttributeKey.for_int("DunningLevel")
DUE_DATE = SearchAttributeKey.for_datetime("DueDate")
# Integer minor units of Currency: money is never a float, not even in a search index.
AMOUNT_DUE = SearchAttributeKey.for_int("AmountDue")
CURRENCY = SearchAttributeKey.for_keyword("Currency")
SEGMENT = SearchAttributeKey.for_keyword("Segment")
TENANT = SearchAttributeKey.for_keyword("Tenant")

ALL = (CUSTOMER_ID, INVOICE_STATUS, DUNNING_LEVEL, DUE_DATE, AMOUNT_DUE, CURRENCY, SEGMENT, TENANT)
