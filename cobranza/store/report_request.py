"""What a report is asked for (the instant it speaks for, the tenant), read and checked once for
the `cobranza report` command and `GET /reports`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from cobranza.store.report_model import CollectionReport
from cobranza.store.reports import build_report
from cobranza.store.store import Store
from cobranza.store.tables import InvoiceRow

AS_OF_EXAMPLE = "2026-04-30, 2026-04-30T18:00:00-05:00 or 2026-04-30T23:00:00Z"


class ReportRequestError(ValueError):
    """A report request the store cannot answer as asked: names the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def whole_second_after(at: datetime) -> datetime:
    """at, or the next whole second when it has a fraction: what was recorded that second counts."""
    return at if not at.microsecond else at.replace(microsecond=0) + timedelta(seconds=1)


def default_as_of() -> datetime:
    """The instant a report speaks for when none is asked: now in UTC, up to the next whole
    second, the same for `cobranza report` and `GET /reports`."""
    return whole_second_after(datetime.now(UTC))


def parse_as_of(text: str | None, now: datetime, field: str = "--as-of") -> datetime:
    """The instant a report speaks for: `now` when not given, the end of a day given as a date
    (23:59:59.999999 UTC, so the whole day counts), or an instant carrying its UTC offset.

    A time without an offset is refused: which zone it meant is not ours to guess.
    """
    if now.tzinfo is None:
        raise ValueError(f"now {now.isoformat()} must carry a UTC offset")
    if text is None:
        return now
    given = text.strip()
    try:
        day = date.fromisoformat(given)
    except ValueError:
        pass
    else:
        return datetime.combine(day, time.max, UTC)
    try:
        instant = datetime.fromisoformat(given)
    except ValueError:
        raise ReportRequestError(
            field, f"{text!r} is not an ISO 8601 date or instant, e.g. {AS_OF_EXAMPLE}"
        ) from None
    if instant.tzinfo is None:
        raise ReportRequestError(
            field,
            f"{text!r} has no UTC offset: add one, e.g. {given}-05:00, or Z for UTC "
            "(a bare date such as 2026-04-30 means the end of that day in UTC)",
        )
    return instant


def tenants(store: Store) -> list[str]:
    """The tenants that have invoices in the store, sorted."""
    column = InvoiceRow.__table__.c.tenant  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        return sorted(str(t) for t in conn.execute(select(column).distinct()).scalars())


def report_for(
    store: Store, as_of: datetime, tenant: str | None = None, field: str = "--tenant"
) -> CollectionReport:
    """The collection report of one tenant, or of every tenant in the store when None.

    A tenant the store has no invoice of is refused, naming the ones it has, rather than
    answered with an empty report that reads like "nothing is owed".
    """
    if tenant is not None:
        known = tenants(store)
        if tenant not in known:
            have = ", ".join(known) if known else "none"
            raise ReportRequestError(
                field, f"no invoice of tenant {tenant!r} in the store (tenants there: {have})"
            )
    return build_report(store, as_of=as_of, tenant=tenant)
