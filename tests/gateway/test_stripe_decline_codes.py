"""Every Stripe decline code has a category on purpose: mapped in declines.yaml, or listed here
as meant for the file's `unknown_code` default. A code that reaches the default unlisted would
be retried on the soft schedule whatever it means (a `do_not_try_again` retried for weeks)."""

from __future__ import annotations

import csv
from pathlib import Path

from cobranza.domain.declines import CodeSource, Decline, DeclineCategory, classify
from cobranza.domain.declines_file import load_retry_rules

CODES = (
    Path(__file__).resolve().parents[1] / "fixtures" / "webhooks" / "stripe" / "decline_codes.csv"
)

# Codes whose right category is the default (`unknown_code` in declines.yaml), each with why.
MEANT_FOR_THE_DEFAULT: dict[str, str] = {}

# Codes declines.yaml maps that are not Stripe decline codes: an error code, error types, a
# PaymentIntent status and cobranza's own.
NOT_DECLINE_CODES = {
    "card_declined",
    "api_connection_error",
    "rate_limit",
    "processing",
    "no_payment_method",
}


def stripe_codes() -> list[str]:
    with CODES.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [row["decline_code"] for row in rows]


def test_the_file_lists_47_distinct_codes() -> None:
    codes = stripe_codes()
    assert len(codes) == len(set(codes)) == 47


def test_no_stripe_code_falls_to_the_default_unless_meant_to() -> None:
    rules = load_retry_rules()
    silent = [
        code
        for code in stripe_codes()
        if rules.rule(CodeSource.GATEWAY, code) is None and code not in MEANT_FOR_THE_DEFAULT
    ]
    assert not silent, (
        f"Stripe decline codes that declines.yaml does not map, so they would be classified "
        f"{rules.unknown_code.value!r} (its unknown_code) without anyone deciding it: "
        f"{', '.join(silent)}. Map each under `gateway:` with its category, or add it to "
        "MEANT_FOR_THE_DEFAULT with the reason."
    )


def test_a_code_no_table_lists_gets_the_files_default_soft() -> None:
    rules = load_retry_rules()
    made_up = "cobranza_made_up_code"
    assert rules.rule(CodeSource.GATEWAY, made_up) is None

    classified = classify(Decline(card_id="card-1", code=made_up), rules)

    assert classified.category is rules.unknown_code is DeclineCategory.SOFT
    assert classified.matched == ()


def test_every_mapped_gateway_code_is_a_stripe_code_or_a_known_other() -> None:
    # A misspelt code in declines.yaml would never match and leave the real one unmapped.
    rules = load_retry_rules()
    known = set(stripe_codes()) | NOT_DECLINE_CODES
    strays = sorted(r.code for r in rules.gateway if r.code not in known)
    assert not strays, f"declines.yaml maps codes Stripe does not send: {', '.join(strays)}"


def test_codes_that_say_never_again_are_hard() -> None:
    rules = load_retry_rules()
    for code in ("do_not_try_again", "stolen_card", "lost_card", "pickup_card", "fraudulent"):
        category = classify(Decline(card_id="card-1", code=code), rules).category
        assert category is DeclineCategory.HARD, code
