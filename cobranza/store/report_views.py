"""Renders a collection report as JSON, as a self-contained HTML page, or as terminal tables."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from rich.console import Console
from rich.table import Table

from cobranza.store.report_model import (
    AGING_BUCKETS,
    AutopayRecovery,
    CollectionReport,
    MoneyInReport,
)

LABEL_WIDTH = 220
BAR_WIDTH = 420
PALETTE = ("#2f6fab", "#3f9c6d", "#d08c2e", "#b8434f", "#7a5ba8", "#5b7083")


@dataclass(frozen=True)
class Bar:
    """One bar of an SVG chart; width is in pixels, scaled to the largest bar of its chart."""

    label: str
    value: str
    width: int
    colour: str


def bars(items: list[tuple[str, Decimal, str]]) -> list[Bar]:
    """Scale (label, quantity, shown value) triples into bars; zero-only charts stay flat."""
    largest = max((quantity for _, quantity, _ in items), default=Decimal(0))
    return [
        Bar(
            label=label,
            value=shown,
            width=int(quantity * BAR_WIDTH / largest) if largest > 0 else 0,
            colour=PALETTE[index % len(PALETTE)],
        )
        for index, (label, quantity, shown) in enumerate(items)
    ]


def _counts(items: list[tuple[str, int]]) -> list[Bar]:
    return bars([(label, Decimal(count), str(count)) for label, count in items])


def _amount_rows(report: CollectionReport) -> list[tuple[str, dict[str, str]]]:
    return [
        ("invoiced", report.amount_invoiced),
        ("collected", report.amount_collected),
        ("credited", report.amount_credited),
        ("outstanding", report.amount_outstanding),
        ("written off", report.amount_written_off),
        ("overpaid", report.amount_overpaid),
    ]


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("cobranza.store", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report_html(report: CollectionReport) -> str:
    outcome_bars = _counts(
        [(name.replace("_", " "), count) for name, count in report.outcomes.model_dump().items()]
    )
    aging_charts = [
        (
            currency,
            bars(
                [
                    (label, Decimal(getattr(buckets, name)), getattr(buckets, name))
                    for name, label in AGING_BUCKETS
                ]
            ),
        )
        for currency, buckets in report.aging.items()
    ]
    reminder_bars = _counts(
        [
            (f"{step} · {channel}", count)
            for step, by_channel in report.reminders_by_step_and_channel.items()
            for channel, count in by_channel.items()
        ]
    )
    escalation_bars = _counts(
        [(f"level {level}", count) for level, count in report.escalations_by_level.items()]
    )
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            report=report,
            amount_rows=_amount_rows(report),
            outcome_bars=outcome_bars,
            disputes_line=_disputes_line(report),
            aging_charts=aging_charts,
            reminder_bars=reminder_bars,
            escalation_bars=escalation_bars,
            label_width=LABEL_WIDTH,
            bar_width=BAR_WIDTH,
        )
    )


def write_report_html(report: CollectionReport, path: Path | str) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report_html(report), encoding="utf-8")
    return target


def write_report_json(report: CollectionReport, path: Path | str) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return target


def emit_report(
    report: CollectionReport,
    console: Console,
    json_path: Path | None = None,
    html_path: Path | None = None,
    *,
    note: str | None = None,
) -> None:
    """The report as tables on the console, then the note (where its figures came from), then
    written as JSON and HTML to those paths given, each write confirmed by a line."""
    print_report(report, console)
    if note is not None:
        console.print(note)
    if json_path:
        write_report_json(report, json_path)
        console.print(f"wrote {json_path}")
    if html_path:
        write_report_html(report, html_path)
        console.print(f"wrote {html_path}")


def print_report(report: CollectionReport, console: Console) -> None:
    """The report as rich tables, one per question finance asks."""
    scope = f" · tenant {report.tenant}" if report.tenant else " · all tenants"
    console.print(
        f"[bold]Collection report[/bold] as of {report.as_of.isoformat()}{scope}: "
        f"{report.invoices_total} invoices"
    )
    console.print(_amounts_table(report))
    late = report.average_days_late
    console.print(f"Average days late at payment: {'–' if late is None else late}")
    console.print(_outcomes_table(report))
    console.print(_disputes_line(report))
    console.print(_aging_table(report))
    console.print(_reminders_table(report))
    console.print(_escalations_table(report))
    console.print(_countries_table(report))
    if report.autopay is not None:
        _print_autopay(report.autopay, console)
    if report.money_in is not None:
        _print_money_in(report.money_in, console)


def _amounts_table(report: CollectionReport) -> Table:
    """Each currency's amounts and its days sales outstanding."""
    amounts = Table(title="Amounts by currency")
    amounts.add_column("currency")
    for label, _ in _amount_rows(report):
        amounts.add_column(label, justify="right")
    amounts.add_column("DSO days", justify="right")
    for currency in report.currencies:
        dso = report.dso_days.get(currency)
        amounts.add_row(
            currency,
            *(column[currency] for _, column in _amount_rows(report)),
            "–" if dso is None else str(dso),
        )
    return amounts


def _outcomes_table(report: CollectionReport) -> Table:
    """How many invoices ended (or stand) in each outcome."""
    outcomes = Table(title="Outcomes")
    outcomes.add_column("outcome")
    outcomes.add_column("invoices", justify="right")
    for name, count in report.outcomes.model_dump().items():
        outcomes.add_row(name.replace("_", " "), str(count))
    return outcomes


def _disputes_line(report: CollectionReport) -> str:
    """Disputes over the period, whatever became of their invoices since."""
    d = report.disputes
    return (
        f"Disputes opened: {d.opened} on {d.invoices} invoices; resolved for the customer "
        f"{d.resolved_for_customer}, for the creditor {d.resolved_for_creditor}; "
        f"invoices disputed now {report.outcomes.disputed}"
    )


def _aging_table(report: CollectionReport) -> Table:
    """Outstanding amounts per currency, by how long past due."""
    aging = Table(title="Aging of outstanding")
    aging.add_column("currency")
    for _, label in AGING_BUCKETS:
        aging.add_column(label, justify="right")
    for currency, buckets in report.aging.items():
        aging.add_row(currency, *(getattr(buckets, name) for name, _ in AGING_BUCKETS))
    return aging


def _reminders_table(report: CollectionReport) -> Table:
    """Messages sent, per policy step and channel."""
    reminders = Table(title="Messages sent by step and channel")
    reminders.add_column("step")
    reminders.add_column("channel")
    reminders.add_column("sent", justify="right")
    for step, by_channel in report.reminders_by_step_and_channel.items():
        for channel, count in by_channel.items():
            reminders.add_row(step, channel, str(count))
    return reminders


def _escalations_table(report: CollectionReport) -> Table:
    """Escalations, per escalation level."""
    escalations = Table(title="Escalations by level")
    escalations.add_column("level", justify="right")
    escalations.add_column("count", justify="right")
    for level, count in report.escalations_by_level.items():
        escalations.add_row(str(level), str(count))
    return escalations


def _countries_table(report: CollectionReport) -> Table:
    """Per country: invoices, amounts, and messages sent, deferred (by which rule) or merged."""
    countries = Table(title="By country")
    columns = (
        "country",
        "invoices",
        "invoiced",
        "collected",
        "outstanding",
        "messages",
        "deferred",
        "deferred by rule",
        "consolidated",
    )
    for column in columns:
        countries.add_column(
            column, justify="left" if column in ("country", "deferred by rule") else "right"
        )
    for country, figures in report.by_country.items():
        countries.add_row(
            country,
            str(figures.invoices),
            _per_currency(figures.amount_invoiced),
            _per_currency(figures.amount_collected),
            _per_currency(figures.amount_outstanding),
            str(figures.messages_sent),
            str(figures.messages_deferred),
            "\n".join(f"{rule}: {n}" for rule, n in figures.deferred_by_rule.items()),
            str(figures.messages_consolidated),
        )
    return countries


def _print_autopay(recovery: AutopayRecovery, console: Console) -> None:
    """Autopay: money recovered by charge number and by the decline it came after."""
    declines = ", ".join(f"{k} {n}" for k, n in recovery.declines_by_category.items()) or "none"
    console.print(
        f"Autopay: {recovery.charges} charges, {recovery.succeeded} paid; declines: {declines}"
    )
    table = Table(title="Recovered by autopay")
    for column in ("by", "value", "recovered"):
        table.add_column(column, justify="right" if column == "recovered" else "left")
    for attempt, amounts in recovery.recovered_by_attempt.items():
        table.add_row("charge", attempt, _per_currency(amounts))
    for category, amounts in recovery.recovered_by_decline_category.items():
        table.add_row("after decline", category, _per_currency(amounts))
    console.print(table)


def _print_money_in(report: MoneyInReport, console: Console) -> None:
    """Money in: matched by rule, unmatched amount and age, hours from money-in to closed."""
    console.print(f"Money in: {report.statement_entries} statement entries imported")
    matched = Table(title="Money in matched by rule")
    for column in ("rule", "entries", "amount"):
        matched.add_column(column, justify="left" if column == "rule" else "right")
    for rule, figures in report.matched_by_rule.items():
        matched.add_row(rule, str(figures.entries), _per_currency(figures.amount))
    if report.credit:
        matched.add_row("credit (overpaid)", "", _per_currency(report.credit))
    console.print(matched)
    unmatched = Table(title="Unmatched money (open exceptions)")
    for column in ("currency", "exceptions", "amount", "oldest days", "by age"):
        unmatched.add_column(
            column, justify="left" if column in ("currency", "by age") else "right"
        )
    for currency, u in report.unmatched.items():
        ages = "\n".join(f"{label}: {value}" for label, value in u.by_age.items())
        unmatched.add_row(currency, str(u.exceptions), u.amount, str(u.oldest_days), ages)
    if report.unmatched_without_amount:
        unmatched.add_row("no amount", str(report.unmatched_without_amount), "", "", "")
    console.print(unmatched)
    closing = Table(title="Hours from money in to invoice closed")
    for column in ("source", "invoices", "median", "p90"):
        closing.add_column(column, justify="left" if column == "source" else "right")
    for source, t in report.money_in_to_closed.items():
        closing.add_row(source, str(t.invoices), str(t.median_hours), str(t.p90_hours))
    console.print(closing)


def _per_currency(amounts: dict[str, str]) -> str:
    return "\n".join(f"{value} {currency}" for currency, value in amounts.items())
