"""Customer-facing messages rendered from per-language jinja templates, many invoices each."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    select_autoescape,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict

from cobranza.domain.compliance_file import profile_for
from cobranza.domain.compliance_profile import ContactChannel, ContentRequirement
from cobranza.domain.creditor import DEMO_CREDITOR, Creditor
from cobranza.domain.effects import LineItem
from cobranza.domain.invoice import Channel, Customer
from cobranza.domain.local_methods import reference_for
from cobranza.domain.money import Money
from cobranza.integrations.errors import MessageTemplateError

TEMPLATES_DIR = Path(__file__).parent / "templates"
FALLBACK_LANGUAGE = "en"
# Names become file paths, so only lower-case words joined by underscores are accepted.
_SAFE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# Email needs all three parts; SMS and WhatsApp send one short text part of their own.
CHANNEL_PARTS: dict[Channel, tuple[str, ...]] = {
    Channel.EMAIL: ("subject", "txt", "html"),
    Channel.SMS: ("sms",),
    Channel.WHATSAPP: ("sms",),
}


class RenderedMessage(BaseModel):
    """The parts of a message and a digest that proves later what was sent.

    For SMS and WhatsApp only `text` is filled; `subject` and `html` are empty.
    """

    model_config = ConfigDict(frozen=True)

    template: str
    language: str
    locale: str
    subject: str
    text: str
    html: str
    content_sha256: str


class MessageCatalog:
    """The templates under one directory, laid out as `<lang>/<name>.<part>.j2`."""

    def __init__(self, root: Path = TEMPLATES_DIR) -> None:
        self.root = root
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader(root),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def languages(self) -> list[str]:
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("_")
        )

    def template_names(self) -> list[str]:
        """Names that every language provides for email, the channel that needs the most parts."""
        return sorted(n for n in self._names_in(FALLBACK_LANGUAGE) if self.has_template(n))

    def has_template(self, name: str, channel: Channel = Channel.EMAIL) -> bool:
        """True when every language has every part the channel needs, so no customer is left out."""
        return _SAFE_NAME.match(name) is not None and not self.missing_files(name, channel)

    def missing_files(self, name: str, channel: Channel = Channel.EMAIL) -> list[Path]:
        """The files of that template and channel missing in some language, by language."""
        parts = CHANNEL_PARTS[channel]
        return [
            self.root / lang / f"{name}.{part}.j2"
            for lang in self.languages()
            for part in parts
            if not (self.root / lang / f"{name}.{part}.j2").is_file()
        ]

    def render(
        self,
        template: str,
        locale: str,
        customer: Customer,
        items: Sequence[LineItem],
        creditor: Creditor = DEMO_CREDITOR,
        channel: Channel = Channel.EMAIL,
        requires: frozenset[ContentRequirement] | None = None,
    ) -> RenderedMessage:
        """Render one message; `requires` (default: the customer's law for the channel) says
        which lines it must carry: the opt-out line, the creditor's tax identification."""
        if not _SAFE_NAME.match(template):
            raise MessageTemplateError(
                f"template name {template!r} is invalid: expected lower-case words joined by _"
            )
        if not items:
            raise MessageTemplateError(f"message {template!r} must list at least one invoice")
        language, format_locale = self._resolve(locale)
        if requires is None:
            requires = required_content(customer, channel)
        context = _context(format_locale, customer, items, creditor)
        context["opt_out"] = ContentRequirement.OPT_OUT in requires
        context["creditor_tax_id"] = ""
        if ContentRequirement.CREDITOR_TAX_ID in requires:
            tax_id = creditor.tax_id_for(customer.country)
            if tax_id is None:
                raise MessageTemplateError(
                    f"creditor {creditor.name!r} has no tax id for {customer.country}, "
                    f"which the law there requires in every message (tax_ids.{customer.country})"
                )
            context["creditor_tax_id"] = tax_id
        if channel is Channel.EMAIL:
            subject = " ".join(self._render_part(language, template, "subject", context).split())
            text = self._render_part(language, template, "txt", context).strip() + "\n"
            html = self._render_part(language, template, "html", context).strip() + "\n"
        else:
            subject, html = "", ""
            text = " ".join(self._render_part(language, template, "sms", context).split())
        digest = hashlib.sha256("\x00".join((subject, text, html)).encode()).hexdigest()
        return RenderedMessage(
            template=template,
            language=language,
            locale=format_locale,
            subject=subject,
            text=text,
            html=html,
            content_sha256=digest,
        )

    def _names_in(self, language: str) -> set[str]:
        return {
            p.name.split(".", 1)[0]
            for p in (self.root / language).glob("*.j2")
            if not p.name.startswith("_")
        }

    def _resolve(self, locale: str) -> tuple[str, str]:
        """The template language and the babel locale used to format money and dates.

        A language without templates gets English text formatted the English way, so one
        message never mixes English words with another language's digit grouping.
        """
        try:
            parsed = Locale.parse(locale.replace("-", "_"))
        except (UnknownLocaleError, ValueError, TypeError):
            return FALLBACK_LANGUAGE, FALLBACK_LANGUAGE
        if parsed.language in self.languages():
            return parsed.language, str(parsed)
        return FALLBACK_LANGUAGE, FALLBACK_LANGUAGE

    def _render_part(self, language: str, name: str, part: str, context: dict[str, Any]) -> str:
        path = f"{language}/{name}.{part}.j2"
        try:
            return self._env.get_template(path).render(context)
        except TemplateNotFound as exc:
            known = ", ".join(self.template_names()) or "none"
            raise MessageTemplateError(
                f"no template {path!r} under {self.root} (missing {exc.name!r}); known: {known}"
            ) from exc
        except UndefinedError as exc:
            raise MessageTemplateError(f"template {path!r}: {exc}") from exc
        except TemplateSyntaxError as exc:
            raise MessageTemplateError(
                f"template {exc.filename or path!r} line {exc.lineno}: {exc.message}"
            ) from exc
        except SecurityError as exc:
            raise MessageTemplateError(f"template {path!r} is not allowed to: {exc}") from exc


def _context(
    locale: str, customer: Customer, items: Sequence[LineItem], creditor: Creditor
) -> dict[str, Any]:
    totals: dict[str, Money] = {}
    for item in items:
        currency = item.outstanding.currency
        totals[currency] = totals.get(currency, Money.zero(currency)) + item.outstanding
    return {
        "customer_name": customer.name,
        "creditor": creditor.name,
        "items": [_item_view(locale, customer, item, creditor) for item in items],
        # Invoices in different currencies cannot be summed; list one total per currency.
        "total": " + ".join(total.format(locale) for total in totals.values()),
    }


def _item_view(
    locale: str, customer: Customer, item: LineItem, creditor: Creditor
) -> dict[str, Any]:
    transfer = None
    if creditor.accounts is not None and item.outstanding.is_positive():
        # Where the customer lives people pay by transfer (SPEI, PIX, PSE): say how, for
        # what is still outstanding.
        transfer = reference_for(customer, item.invoice_id, item.outstanding, creditor.accounts)
    return {
        "invoice_id": item.invoice_id,
        "amount": item.amount.format(locale),
        "paid": item.paid.format(locale),
        "has_paid": item.paid.is_positive(),
        "credited": item.credited.format(locale) if item.credited is not None else None,
        "outstanding": item.outstanding.format(locale),
        "due_on": format_date(item.due_on, format="long", locale=locale),
        "days_overdue": item.days_overdue,
        "payment_link": item.payment_link,
        "transfer": transfer.model_dump() if transfer is not None else None,
    }


@lru_cache(maxsize=1)
def default_catalog() -> MessageCatalog:
    return MessageCatalog()


def render_message(
    template: str,
    locale: str,
    customer: Customer,
    items: Sequence[LineItem],
    creditor: Creditor = DEMO_CREDITOR,
    channel: Channel = Channel.EMAIL,
) -> RenderedMessage:
    """Render a shipped template in the customer's language (es_CO -> es; unknown -> en).

    Email gets subject, text and HTML; SMS and WhatsApp get the short `<name>.sms.j2` text.
    """
    return default_catalog().render(template, locale, customer, items, creditor, channel)


def required_content(customer: Customer, channel: Channel) -> frozenset[ContentRequirement]:
    """What the law of the customer's country (and state) asks every message on `channel` to say."""
    profile = profile_for(customer.country, customer.subdivision)
    return frozenset(
        need
        for rule in profile.content_for(ContactChannel(channel.value))
        for need in rule.requires
    )


def template_names() -> list[str]:
    return default_catalog().template_names()


def has_template(name: str, channel: Channel = Channel.EMAIL) -> bool:
    return default_catalog().has_template(name, channel)
