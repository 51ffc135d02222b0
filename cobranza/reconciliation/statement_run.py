"""One statement reconciled: match its new lines, record them, then post, hold and open tasks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio.client import Client

from cobranza.domain.matching import LineMatch, match_lines
from cobranza.domain.statements import Statement, StatementLine
from cobranza.integrations.bank_files.assembly import first_scheme_base
from cobranza.integrations.http_clients import HttpCrm
from cobranza.reconciliation.exception_resolution import post_matches
from cobranza.reconciliation.exception_tasks import open_exception_tasks, without_task
from cobranza.reconciliation.holds import hold_pending
from cobranza.store import money_in
from cobranza.store.money_in import MatchRow, StatementEntryRow
from cobranza.store.store import Store


@dataclass
class Reconciliation:
    """One statement matched against the store: new lines' results and what was known."""

    statement: Statement
    results: list[LineMatch]
    known: dict[str, StatementEntryRow]
    known_matches: dict[str, list[MatchRow]]
    imported: money_in.ImportResult | None = None
    posted: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def reconcile_statement(
    store: Store, statement: Statement, *, tenant: str | None = None, dry_run: bool = False
) -> Reconciliation:
    """Match the lines not imported before; unless dry_run, record entries, matches, exceptions."""
    known = money_in.known_entries(store, [ln.entry_id for ln in statement.lines])
    known |= _imported_under_first_ids(
        store, [ln for ln in statement.lines if ln.entry_id not in known]
    )
    fresh = [ln for ln in statement.lines if ln.entry_id not in known]
    results = match_lines(fresh, money_in.open_items(store, tenant))
    matches = money_in.matches_of(store, [row.entry_id for row in known.values()])
    run = Reconciliation(
        statement=statement,
        results=results,
        known=known,
        known_matches={line: matches.get(row.entry_id, []) for line, row in known.items()},
    )
    if not dry_run:
        run.imported = money_in.record_import(store, results, datetime.now(UTC))
    return run


def _imported_under_first_ids(
    store: Store, lines: list[StatementLine]
) -> dict[str, StatementEntryRow]:
    """Lines a store holds under the first scheme's ids (entries without a bank reference),
    by the line's own id. Those ids left the payer out, so a stored entry counts only for a
    line that also names the same payer and text, and each for one line, lowest `#n` first."""
    bases = {ln.entry_id: base for ln in lines if (base := first_scheme_base(ln)) is not None}
    if not bases:
        return {}
    pool: dict[tuple[str, str | None, str], list[StatementEntryRow]] = {}
    stored = money_in.entries_booked(
        store, {ln.account for ln in lines}, {ln.booked_on for ln in lines}
    )
    for row in sorted(stored, key=lambda r: _occurrence(r.entry_id)):
        base = row.entry_id.split("#")[0]
        pool.setdefault((base, row.counterparty_name, row.remittance), []).append(row)
    found: dict[str, StatementEntryRow] = {}
    for ln in lines:
        base = bases.get(ln.entry_id)
        same = pool.get((base, ln.counterparty_name, ln.remittance)) if base else None
        if same:
            found[ln.entry_id] = same.pop(0)
    return found


def _occurrence(entry_id: str) -> int:
    _, _, n = entry_id.partition("#")
    return int(n) if n.isdigit() else 1


def against_nothing(statement: Statement) -> Reconciliation:
    """A dry run with no store: every line matched against no open invoice, nothing known."""
    return Reconciliation(
        statement=statement,
        results=match_lines(statement.lines, []),
        known={},
        known_matches={},
    )


async def apply(store: Store, client: Client, crm: HttpCrm, run: Reconciliation) -> None:
    """Post the new matches; for every open statement exception, open its CRM task and hold
    its payer if an earlier run could not (the CRM refused, the workflow service failed)."""
    run.posted, errors = await post_matches(store, client)
    run.errors.extend(errors)
    untasked = await asyncio.to_thread(without_task, store, money_in.STATEMENT_SOURCE)
    run.errors.extend(await open_exception_tasks(store, crm, untasked))
    held, errors = await hold_pending(store, client, money_in.STATEMENT_SOURCE)
    run.held.extend(held)
    run.errors.extend(errors)
