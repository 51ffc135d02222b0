"""Templates checked against the law before any of them is sent: the check run at load time.

Each content rule of a compliance profile (an opt-out line for email and SMS in the US, the
creditor's name and CNPJ in Brazil) is checked by rendering every template, in every language,
on every channel the rule governs, with marked values: the creditor's name and tax id must
appear in the text, and the opt-out line must change what is rendered. A template that leaves
one out is named with its file, the requirement (the field) and the rule with its legal source.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from pathlib import Path

from cobranza.domain.compliance_file import (
    DEFAULT,
    available_countries,
    load_profile,
    subdivisions_with_rules,
)
from cobranza.domain.compliance_profile import (
    ComplianceProfile,
    ContactChannel,
    ContentRequirement,
    ContentRule,
)
from cobranza.domain.creditor import DEMO_CREDITOR, Creditor
from cobranza.domain.effects import LineItem
from cobranza.domain.invoice import Channel, Customer
from cobranza.domain.money import Money
from cobranza.integrations.errors import MessageTemplateError
from cobranza.integrations.messages import CHANNEL_PARTS, MessageCatalog, default_catalog

NAME_MARK = "[[creditor-name]]"
TAX_ID_MARK = "[[creditor-tax-id]]"
_MESSAGE_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP)


class TemplateContentError(ValueError):
    """Templates or the creditor's identity fall short of a compliance profile's content rules."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} message template problem(s):\n" + "\n".join(problems))
        self.problems = problems


def shipped_profiles() -> list[ComplianceProfile]:
    """Every shipped profile, nationally and for each state with rules of its own."""
    profiles = []
    for country in [*available_countries(), DEFAULT]:
        national = load_profile(country)
        profiles.append(national)
        profiles.extend(load_profile(country, code) for code in subdivisions_with_rules(country))
    return profiles


def content_problems(
    catalog: MessageCatalog,
    profiles: Iterable[ComplianceProfile],
    creditor: Creditor = DEMO_CREDITOR,
) -> list[str]:
    """Every way the templates (and the creditor's identity) fail the profiles' content rules."""
    problems: dict[str, None] = {}  # ordered and without repeats
    for profile in profiles:
        for rule in profile.content:
            for problem in _rule_problems(catalog, profile, rule, creditor):
                problems[problem] = None
    return list(problems)


def check_templates(
    catalog: MessageCatalog | None = None, creditor: Creditor = DEMO_CREDITOR
) -> None:
    """Raise TemplateContentError unless every shipped profile's content rules hold."""
    root = (catalog or default_catalog()).root
    problems = _shipped_problems(root, creditor.model_dump_json())
    if problems:
        raise TemplateContentError(list(problems))


@lru_cache(maxsize=8)
def _shipped_problems(root: Path, creditor_json: str) -> tuple[str, ...]:
    """Cached per directory and creditor: a worker checks once, however often it is built."""
    return tuple(templates_dir_problems(root, Creditor.model_validate_json(creditor_json)))


def _rule_problems(
    catalog: MessageCatalog, profile: ComplianceProfile, rule: ContentRule, creditor: Creditor
) -> Iterable[str]:
    law = f"{profile.ref} rule {rule.id} ({rule.source})"
    country = "US" if profile.country == DEFAULT else profile.country
    if ContentRequirement.CREDITOR_TAX_ID in rule.requires and not creditor.tax_id_for(country):
        yield (
            f"creditor: tax_ids.{country}: {law} requires the creditor's tax identification "
            f"in every message; none is configured for {country}"
        )
    probe = Creditor(name=NAME_MARK, tax_ids={country: TAX_ID_MARK})
    for channel in _MESSAGE_CHANNELS:
        if not rule.covers(ContactChannel(channel.value)):
            continue
        for name in catalog.template_names():
            if not catalog.has_template(name, channel):
                continue
            for language in catalog.languages():
                customer = _probe_customer(country, profile.subdivision, language)
                try:
                    found = list(_shortfalls(catalog, name, customer, probe, channel, rule))
                except MessageTemplateError as exc:
                    yield f"{catalog.root / language / name}: cannot be rendered: {exc}"
                    continue
                for part, need, missing in found:
                    where = catalog.root / language / f"{name}.{part}.j2"
                    yield f"{where}: {need.value}: {law} requires {missing} on {channel.value}"


def _shortfalls(
    catalog: MessageCatalog,
    name: str,
    customer: Customer,
    creditor: Creditor,
    channel: Channel,
    rule: ContentRule,
) -> Iterable[tuple[str, ContentRequirement, str]]:
    """(part, requirement, what is missing) for one template as one customer would get it."""
    with_rule = _parts(catalog, name, customer, creditor, channel, frozenset(rule.requires))
    without = _parts(catalog, name, customer, creditor, channel, frozenset())
    for part, text in with_rule.items():
        for need in rule.requires:
            missing = _missing(need, text, without[part])
            if missing:
                yield part, need, missing


def _missing(need: ContentRequirement, text: str, without_rule: str) -> str | None:
    if need is ContentRequirement.CREDITOR_NAME and NAME_MARK not in text:
        return "the creditor's name; the rendered part does not print {{ creditor }}"
    if need is ContentRequirement.CREDITOR_TAX_ID and TAX_ID_MARK not in text:
        return "the creditor's tax id; the rendered part does not print {{ creditor_tax_id }}"
    if need is ContentRequirement.OPT_OUT and text == without_rule:
        return "an opt-out line; the rendered part is the same with {{ opt_out }} set"
    return None


def _parts(
    catalog: MessageCatalog,
    name: str,
    customer: Customer,
    creditor: Creditor,
    channel: Channel,
    requires: frozenset[ContentRequirement],
) -> dict[str, str]:
    rendered = catalog.render(
        name, customer.locale, customer, [_PROBE_ITEM], creditor, channel, requires
    )
    if channel is Channel.EMAIL:
        return {"txt": rendered.text, "html": rendered.html}
    (part,) = CHANNEL_PARTS[channel]
    return {part: rendered.text}


def _probe_customer(country: str, subdivision: str | None, language: str) -> Customer:
    return Customer(
        tenant="template-check",
        customer_id="template-check",
        name="Template Check",
        email="check@example.com",
        country=country,
        subdivision=subdivision,
        timezone="UTC",
        locale=language,
    )


_PROBE_ITEM = LineItem(
    invoice_id="INV-CHECK",
    amount=Money(minor=12_345, currency="USD"),
    outstanding=Money(minor=12_345, currency="USD"),
    paid=Money(minor=0, currency="USD"),
    due_on=date(2026, 1, 15),
    days_overdue=3,
    payment_link="https://pay.example.com/INV-CHECK",
)


def templates_dir_problems(root: Path, creditor: Creditor = DEMO_CREDITOR) -> list[str]:
    """The check over a template directory of one's own, e.g. before deploying new wording:
    every template the shipped ones provide is there for each channel, and the law's content
    rules hold for all of them."""
    catalog = MessageCatalog(root)
    missing = missing_templates(catalog, default_catalog())
    return missing + content_problems(catalog, shipped_profiles(), creditor)


def missing_templates(catalog: MessageCatalog, shipped: MessageCatalog) -> list[str]:
    """What a catalog lacks that the shipped one sends: a folder with no templates, or a
    template missing a part for a channel in some language (a folder one level too deep, a
    typo'd name), so that no check passes on templates that are not there."""
    if not catalog.languages():
        return [f"{catalog.root}: no templates (expected <lang>/<name>.<part>.j2 folders)"]
    return [
        f"{missing}: missing: template {name!r} is sent by {channel.value} in the shipped "
        "templates, in every language"
        for name in shipped.template_names()
        for channel in _MESSAGE_CHANNELS
        if shipped.has_template(name, channel)
        for missing in catalog.missing_files(name, channel)
    ]
