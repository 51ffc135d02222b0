"""Money-in evidence: imported statement entries, their matches and the exceptions queue.

Callers read and write money-in through this module; the work lives beside it, one job each:
the tables (money_in_tables), the exceptions queue (money_in_queue), what is matched against
(money_in_open_items) and entries with their matches (money_in_matches).
"""

from __future__ import annotations

from cobranza.store.money_in_matches import (
    ImportResult,
    all_matches,
    count_entries,
    entries,
    entries_booked,
    known_entries,
    mark_posted,
    matches_of,
    payment_id_for,
    record_import,
    settle_exception,
    unposted_matches,
)
from cobranza.store.money_in_open_items import (
    add_customer_alias,
    add_invoice_references,
    open_items,
)
from cobranza.store.money_in_queue import (
    exception_by_key,
    exceptions,
    get_exception,
    queue_exception,
    resolve_exception,
    set_crm_task,
)
from cobranza.store.money_in_tables import (
    EXCEPTION_CONFIRMED,
    EXCEPTION_OPEN,
    EXCEPTION_REASSIGNED,
    STATEMENT_SOURCE,
    MatchRow,
    MoneyInExceptionRow,
    StatementEntryRow,
    ensure_money_in_tables,
)

__all__ = [
    "EXCEPTION_CONFIRMED",
    "EXCEPTION_OPEN",
    "EXCEPTION_REASSIGNED",
    "STATEMENT_SOURCE",
    "ImportResult",
    "MatchRow",
    "MoneyInExceptionRow",
    "StatementEntryRow",
    "add_customer_alias",
    "add_invoice_references",
    "all_matches",
    "count_entries",
    "ensure_money_in_tables",
    "entries",
    "entries_booked",
    "exception_by_key",
    "exceptions",
    "get_exception",
    "known_entries",
    "mark_posted",
    "matches_of",
    "open_items",
    "payment_id_for",
    "queue_exception",
    "record_import",
    "resolve_exception",
    "set_crm_task",
    "settle_exception",
    "unposted_matches",
]
