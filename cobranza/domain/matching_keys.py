"""Statement lines' strings turned into the integers the compiled rules read, with polars.

Booking order, the open items each line names (in the order `_Matcher.by_reference` looks them
up) and the customers a payer may be, each as `matching._Matcher` reads them. Strings are
normalised by polars where they are ASCII; the few that are not go through the very functions
the per-line rules use, so both read every reference and name alike.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from cobranza.domain import matching_kernel as kernel
from cobranza.domain.matching import normalise_name, normalise_reference, remittance_tokens

_ASCII_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f ]"  # str.split()'s whitespace within ASCII
_NON_ASCII = r"[^\x00-\x7f]"
_NOT_AS_COMPARED = r"[^\x21-\x60\x7b-\x7e]"  # space, control, lower case or not ASCII
_TOKEN = r"[A-Z0-9]+(?:[-_/.][A-Z0-9]+)*"  # matching._TOKEN
_MAYBE_RF = "RF[0-9]{2}"  # remittance_tokens may add a creditor reference: let it read those
_BOOKING = ["booked_on", "source", "line", "entry_id"]  # matching.BOOKING_ORDER
_LINE_BITS = 40  # line numbers below 2**40 sort inside a day as one integer


def in_booking_order(lines: pl.DataFrame) -> pl.DataFrame:
    """The lines sorted as `matching.BOOKING_ORDER` sorts them, with `row` (input position),
    `pos` (booking position) and `kind` (active, seen earlier or money out)."""
    numbered = lines.with_row_index("row")
    day_and_line = pl.col("booked_on").cast(pl.Int64) * (1 << _LINE_BITS) + pl.col("line")
    # One file whose (day, line) pairs are distinct sorts on one integer; anything else on
    # every key, as the rules do.
    simple = numbered.height == 0 or (
        numbered.get_column("source").n_unique() <= 1
        and numbered.get_column("line").max() < (1 << _LINE_BITS)  # type: ignore[operator]
        and numbered.select(day_and_line.is_unique().all()).item()
    )
    keys: list[str | pl.Expr] = [day_and_line] if simple else list(_BOOKING)
    credit = pl.col("direction") == "credit"
    return (
        numbered.sort(keys, maintain_order=True)
        .with_row_index("pos")
        .with_columns(
            kind=pl.when(~pl.col("entry_id").is_first_distinct())
            .then(kernel.SEEN)
            .when(~credit)
            .then(kernel.OUT)
            .otherwise(kernel.ACTIVE)
        )
    )


def reference_hits(
    active: pl.DataFrame, items: pl.DataFrame, n: int
) -> tuple[pl.DataFrame, np.ndarray]:
    """(pos, item) sorted as `_Matcher.by_reference` looks items up (its structured reference,
    else its other references then its remittance tokens, each in input order of the items),
    and for each line whether its hits came from that second, weaker look."""
    keys = _item_keys(items)
    # A missing reference stays null and an empty one normalises to "": neither is a key.
    strong = (
        _references(active.select("pos", key="reference"))
        .join(keys, on="key", how="inner")
        .select("pos", "item", order=pl.lit(0, dtype=pl.Int64))
    )
    named = np.zeros(n, dtype=np.bool_)
    named[strong.get_column("pos").to_numpy()] = True
    rest = active.filter(~pl.Series(named).gather(active.get_column("pos")))
    weak_keys = pl.concat(
        [_listed_references(rest), _remittance_tokens(rest)], how="vertical_relaxed"
    )
    weak = (
        weak_keys.join(keys, on="key", how="inner")
        .select("pos", "item", order=pl.col("order") + 1)
        .sort("pos", "order", "item")
        .unique(["pos", "item"], keep="first", maintain_order=True)
    )
    hits = pl.concat([strong, weak], how="vertical_relaxed").sort("pos", "order", "item")
    text = np.zeros(n, dtype=np.bool_)
    text[weak.get_column("pos").to_numpy()] = True
    return hits.select("pos", "item"), text


def _listed_references(rest: pl.DataFrame) -> pl.DataFrame:
    """(pos, key, order): each line's other references, normalised, in their order."""
    listed = rest.filter(pl.col("references").list.len() > 0).select(
        "pos", key="references", order=pl.int_ranges(pl.col("references").list.len())
    )
    return _normalised(
        listed.explode("key", "order").drop_nulls("key"), normalise_reference, _ref_expr
    ).with_columns(pl.col("order").cast(pl.Int64))


def _remittance_tokens(rest: pl.DataFrame) -> pl.DataFrame:
    """(pos, key, order): the reference-like tokens of each line's remittance text, numbered
    after its listed references."""
    texts = rest.filter(pl.col("remittance").is_not_null() & (pl.col("remittance") != ""))
    upper = pl.col("remittance").str.to_uppercase()
    odd = pl.col("remittance").str.contains(_NON_ASCII) | upper.str.contains(_MAYBE_RF)
    plain = (
        texts.filter(~odd)
        .select("pos", "references", key=upper.str.extract_all(_TOKEN))
        .with_columns(order=pl.int_ranges(pl.col("key").list.len()))
        .explode("key", "order")
        .drop_nulls("key")
    )
    special = pl.DataFrame(
        [
            (pos, refs, token, k)
            for pos, refs, text in texts.filter(odd)
            .select("pos", "references", "remittance")
            .iter_rows()
            for k, token in enumerate(remittance_tokens(text))
        ],
        schema={
            "pos": pl.UInt32,
            "references": pl.List(pl.String),
            "key": pl.String,
            "order": pl.Int64,
        },
        orient="row",
    )
    return pl.concat([plain, special], how="vertical_relaxed").select(
        "pos", "key", order=pl.col("order") + pl.col("references").list.len()
    )


def _item_keys(items: pl.DataFrame) -> pl.DataFrame:
    """(key, item): every normalised invoice number and reference of every item, once."""
    numbers = _references(items.select("item", key="invoice_id"))
    listed = items.filter(pl.col("references").list.len() > 0).select("item", key="references")
    others = (
        _normalised(listed.explode("key").drop_nulls("key"), normalise_reference, _ref_expr)
        .unique()
        .join(numbers, on=["item", "key"], how="anti")
    )
    return pl.concat([numbers, others]).filter(pl.col("key") != "")


def payers_of(unnamed: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """(pos, owner): who each line naming no item may be from, as `_Index.payers` finds it:
    by account when that finds anyone, otherwise by name. `items` carries `owner`."""
    given = pl.col("key").is_not_null() & (pl.col("key") != "")
    accounts = unnamed.select("pos", key="counterparty_account").filter(given)
    found = [pl.DataFrame(schema={"pos": pl.UInt32, "owner": pl.Int64})]
    if accounts.height:
        printed = items.select("owner", key="customer_accounts").explode("key").drop_nulls("key")
        known = _normalised(printed.unique(), normalise_reference, _ref_expr).unique()
        found.append(
            _normalised(accounts, normalise_reference, _ref_expr)
            .join(known, on="key", how="inner")
            .select("pos", "owner")
        )
    by_account = pl.concat(found, how="vertical_relaxed")
    names = (
        unnamed.join(by_account, on="pos", how="anti")
        .select("pos", key="counterparty_name")
        .filter(given)
    )
    if names.height:
        # A customer's invoices mostly carry the same names: normalise each once.
        spelled = items.select("owner", key="customer_names").explode("key").drop_nulls("key")
        known = _names(spelled.unique()).unique()
        found.append(_names(names).join(known, on="key", how="inner").select("pos", "owner"))
    return pl.concat(found, how="vertical_relaxed").unique()


def _ref_expr(col: pl.Expr) -> pl.Expr:
    return col.str.replace_all(_ASCII_SPACE, "").str.to_uppercase()


def _name_expr(col: pl.Expr) -> pl.Expr:
    return col.str.to_uppercase().str.replace_all(r"[^A-Z0-9]+", "")


def _normalised(
    frame: pl.DataFrame, fn: Callable[[str], str], expr: Callable[[pl.Expr], pl.Expr]
) -> pl.DataFrame:
    """Column `key` normalised: by `expr` where ASCII, by the rules' own `fn` where not."""
    key = frame.get_column("key")
    odd = key.str.contains(_NON_ASCII).fill_null(False)
    done = frame.with_columns(key=expr(pl.col("key")))
    if not odd.any():
        return done
    at = odd.arg_true()
    fixed = pl.Series("key", [fn(text) for text in key.gather(at).to_list()], dtype=pl.String)
    return done.with_columns(done.get_column("key").scatter(at, fixed))


def _names(frame: pl.DataFrame) -> pl.DataFrame:
    """Column `key` normalised as `normalise_name` does. Most names need only upper case and no
    spaces ("Cliente 7 SA de CV"); the others (punctuation, accents) take the whole rule."""
    key = frame.get_column("key")
    simple = frame.with_columns(
        key=pl.col("key").str.to_uppercase().str.replace_all(" ", "", literal=True)
    )
    odd = (
        simple.get_column("key").str.contains("[^A-Z0-9]") | key.str.contains(_NON_ASCII)
    ).fill_null(False)
    if not odd.any():
        return simple
    at = odd.arg_true()
    fixed = _normalised(pl.DataFrame({"key": key.gather(at)}), normalise_name, _name_expr)
    return simple.with_columns(simple.get_column("key").scatter(at, fixed.get_column("key")))


def _references(frame: pl.DataFrame) -> pl.DataFrame:
    """Column `key` normalised as `normalise_reference` does. Most references arrive as they
    compare (printable ASCII, no lower case, no space): those are left as they are and only
    the others are normalised."""
    key = frame.get_column("key")
    changes = key.str.contains(_NOT_AS_COMPARED).fill_null(False)
    if not changes.any():
        return frame
    at = changes.arg_true()
    fixed = _normalised(pl.DataFrame({"key": key.gather(at)}), normalise_reference, _ref_expr)
    return frame.with_columns(key.scatter(at, fixed.get_column("key")))
