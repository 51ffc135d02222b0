"""Statement lines' strings turned into the integers the compiled rules read.

Booking order, the open items each line names (in the order
`matching_rules._Matcher.by_reference` looks them up), the customers a payer may be and each
item's owner, each as `matching_rules._Matcher` reads them. Strings are read as bytes by
`matching_strings`, by row of the input; only integer arrays are put in booking order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import polars as pl

from cobranza.domain import matching_kernel as kernel
from cobranza.domain import matching_strings as strings
from cobranza.domain.matching_lookup import Lookup, first_per_owner, groups
from cobranza.domain.matching_strings import Strings

_BOOKING = ["booked_on", "source", "line", "entry_id"]  # matching.BOOKING_ORDER
_LINE_BITS = 40  # line numbers below 2**40 sort inside a day as one integer
_COMPARED_ONE_BY_ONE = 16  # up to this many currencies are coded by comparing with each


class Booking(NamedTuple):
    """order: the input row at each booking position; at: the position of each row; kind:
    each position's kind (active, seen earlier or money out)."""

    order: np.ndarray
    at: np.ndarray
    kind: np.ndarray


def booking(lines: pl.DataFrame) -> Booking:
    """The lines in the order `matching.BOOKING_ORDER` sorts them, stable."""
    n = lines.height
    order = _one_file_order(lines) if n else np.zeros(0, dtype=np.int64)
    if order is None:
        order = (
            lines.select(_BOOKING)
            .with_row_index("row")
            .sort(_BOOKING, maintain_order=True)
            .get_column("row")
            .to_numpy()
        )
    order = order.astype(np.int64, copy=False)
    at = np.empty(n, dtype=np.int64)
    at[order] = np.arange(n, dtype=np.int64)
    # An entry seen earlier in booking order is a duplicate, whatever its direction.
    group, first = groups(lines.select("entry_id"))
    seen = np.zeros(n, dtype=np.bool_)
    if first.shape[0] < n:
        earliest = np.full(first.shape[0], n, dtype=np.int64)
        np.minimum.at(earliest, group, at)
        seen = at != earliest[group]
    credit = (lines.get_column("direction") == "credit").to_numpy()
    kind = np.where(seen, kernel.SEEN, np.where(credit, kernel.ACTIVE, kernel.OUT))
    return Booking(order, at, kind[order].astype(np.int8))


def _one_file_order(lines: pl.DataFrame) -> np.ndarray | None:
    """Booking order of lines from one file, sorted on integers; None when the lines come
    from several files or two share a day and a line (then every key decides)."""
    source = lines.get_column("source")
    if not (source == source[0]).all():  # (no nulls: match_frames refused them)
        return None
    day = lines.get_column("booked_on").cast(pl.Int64).to_numpy()
    line = lines.get_column("line").to_numpy()
    if np.all(line[1:] > line[:-1]) and int(day.max() - day.min()) < (1 << 16):
        # Lines as the file numbers them, the commonest case: a stable sort on the day alone
        # (a radix sort, on 16 bits) keeps them by line inside each day.
        order: np.ndarray = np.argsort((day - day.min()).astype(np.uint16), kind="stable")
        return order
    if int(line.max()) >= (1 << _LINE_BITS):
        return None
    key = day * (1 << _LINE_BITS) + line
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    return None if np.any(ordered[1:] == ordered[:-1]) else order


class ItemKeys(NamedTuple):
    """The keys lines name the items by (invoice numbers then references, normalised;
    `key_item` says whose each is)."""

    lookup: Lookup
    key_item: np.ndarray


def item_keys(items: pl.DataFrame) -> ItemKeys:
    """What the items' strings become, read once (beside the lines' own; see match_frames)."""
    numbers = strings.references(strings.of_series(items.get_column("invoice_id")))
    listed, listed_item, _ = strings.of_lists(items.get_column("references"))
    keys = strings.concat([numbers, strings.references(listed)])
    key_item = np.concatenate([np.arange(items.height, dtype=np.int64), listed_item])
    return ItemKeys(Lookup(keys), key_item)


class Printed(NamedTuple):
    """What the items print for payers to be known by, normalised, each (customer, string)
    once, and the customer (owner) of each."""

    accounts: Strings
    account_owner: np.ndarray
    names: Strings
    name_owner: np.ndarray


def printed(items: pl.DataFrame, owner: np.ndarray, first_of_owner: np.ndarray) -> Printed:
    """The accounts and names on the items, normalised as the rules compare them."""
    accounts, account_owner = _printed(items.get_column("customer_accounts"), owner, first_of_owner)
    names, name_owner = _printed(items.get_column("customer_names"), owner, first_of_owner)
    accounts, names = strings.references(accounts), strings.names(names)
    account_keep = first_per_owner(accounts, account_owner)
    name_keep = first_per_owner(names, name_owner)
    return Printed(
        strings.take(accounts, account_keep),
        account_owner[account_keep],
        strings.take(names, name_keep),
        name_owner[name_keep],
    )


def _printed(
    column: pl.Series, owner: np.ndarray, first_of_owner: np.ndarray
) -> tuple[Strings, np.ndarray]:
    """Every string of a List(String) column, with the owner of the item it came from, less
    those of lists equal to their owner's first item's (a customer prints the same names on
    each of its invoices): each of those comes after the same string of the same owner, so
    keeping each (owner, string) where first found drops it anyway. Lists are compared by
    polars, element for element; only the strings kept are read as bytes."""
    lengths = strings.list_lengths(column)
    if not lengths.any():
        return strings.of_texts([]), np.zeros(0, dtype=np.int64)
    elements = column.filter(pl.Series(lengths > 0)).explode()  # (an empty list explodes to null)
    starts = np.cumsum(lengths) - lengths
    kept = np.flatnonzero(~_same_as_others(elements, lengths, starts, first_of_owner[owner]))
    kept_lengths = lengths[kept]
    at = np.repeat(starts[kept], kept_lengths) + strings.counts_within(kept_lengths)
    found = strings.of_series(elements.gather(at) if at.shape[0] < elements.len() else elements)
    return found, np.repeat(owner[kept], kept_lengths)


def _same_as_others(
    elements: pl.Series, lengths: np.ndarray, starts: np.ndarray, other: np.ndarray
) -> np.ndarray:
    """Whether each list k (elements[starts[k]:][:lengths[k]]) is the list other[k] (its
    owner's first), element for element, null equal to null: such a list adds no string."""
    n = lengths.shape[0]
    asked = np.flatnonzero((other != np.arange(n)) & (lengths > 0) & (lengths == lengths[other]))
    asked_lengths = lengths[asked]
    within = strings.counts_within(asked_lengths)
    mine = np.repeat(starts[asked], asked_lengths) + within
    theirs = np.repeat(starts[other[asked]], asked_lengths) + within
    equal = elements.gather(mine).eq_missing(elements.gather(theirs)).to_numpy()
    pair_list = np.repeat(np.arange(asked.shape[0]), asked_lengths)
    differing = np.bincount(pair_list[~equal], minlength=asked.shape[0])
    repeats = np.zeros(n, dtype=np.bool_)
    repeats[asked[differing == 0]] = True
    return repeats


class LineKeys(NamedTuple):
    """The lines' references normalised: the structured one, and the listed others with the
    row and place of each; and their remittance text as it is."""

    reference: Strings
    listed: Strings
    listed_row: np.ndarray
    listed_order: np.ndarray
    remittance: Strings


def line_keys(lines: pl.DataFrame) -> LineKeys:
    """The lines' references as the rules compare them, and their remittance text as bytes."""
    listed, listed_row, listed_order = strings.of_lists(lines.get_column("references"))
    return LineKeys(
        strings.references(strings.of_series(lines.get_column("reference"))),
        strings.references(listed),
        listed_row,
        listed_order,
        strings.of_series(lines.get_column("remittance")),
    )


class Hits(NamedTuple):
    """ptr, items: the items line p (booking position) names are items[ptr[p]:ptr[p + 1]];
    from_text: whether they came from its other references or remittance text."""

    ptr: np.ndarray
    items: np.ndarray
    from_text: np.ndarray


def reference_hits(line: LineKeys, active: np.ndarray, at: np.ndarray, item: ItemKeys) -> Hits:
    """What `matching_rules._Matcher.by_reference` finds for each active row: the items its
    structured reference names, else those its other references then its remittance tokens
    name, each in input order of the items."""
    n = active.shape[0]
    refs = line.reference
    row, j = item.lookup.find(refs._replace(valid=refs.valid & active))
    strong_item = item.key_item[j]
    rest = active.copy()
    rest[row] = False
    listed = line.listed._replace(valid=line.listed.valid & rest[line.listed_row])
    remittance = line.remittance._replace(valid=line.remittance.valid & rest)
    tokens, token_row, token_order = strings.tokens(remittance)
    # Tokens come after the line's listed references.
    listed_count = np.bincount(line.listed_row, minlength=n)
    weak = strings.concat([listed, tokens])
    weak_row = np.concatenate([line.listed_row, token_row])
    weak_order = np.concatenate([line.listed_order, token_order + listed_count[token_row]])
    w, wj = item.lookup.find(weak)
    from_text = np.zeros(n, dtype=np.bool_)
    from_text[at[weak_row[w]]] = True
    ptr, hit_items = kernel.hits_by_line(
        np.concatenate([at[row], at[weak_row[w]]]),
        np.concatenate([np.zeros(row.shape[0], dtype=np.int64), weak_order[w] + 1]),
        np.concatenate([strong_item, item.key_item[wj]]),
        n,
    )
    return Hits(ptr, hit_items, from_text)


class Payers(NamedTuple):
    """(row, owner) pairs, each once: the customers each unnamed row's payer may be."""

    row: np.ndarray
    owner: np.ndarray


def payers_of(
    lines: pl.DataFrame, unnamed: np.ndarray, known: Printed, item_owner: np.ndarray
) -> Payers:
    """Who each unnamed row may be from, as `matching_index._Index.payers` finds it: by
    account when that finds anyone, otherwise by name."""
    owners = max(int(item_owner.max()) + 1, 1) if item_owner.shape[0] else 1
    asked = np.flatnonzero(unnamed)  # only these rows' strings are read
    row, owner = _payers(
        lines.get_column("counterparty_account"),
        asked,
        known.accounts,
        known.account_owner,
        strings.references,
    )
    by_account = np.zeros(lines.height, dtype=np.bool_)
    by_account[row] = True
    name_row, name_owner = _payers(
        lines.get_column("counterparty_name"),
        asked[~by_account[asked]],
        known.names,
        known.name_owner,
        strings.names,
    )
    pairs = np.unique(
        np.concatenate([row, name_row]) * owners + np.concatenate([owner, name_owner])
    )
    return Payers(pairs // owners, pairs % owners)


def _payers(
    column: pl.Series,
    asked: np.ndarray,
    known: Strings,
    known_owner: np.ndarray,
    normalise: Callable[[Strings], Strings],
) -> tuple[np.ndarray, np.ndarray]:
    """(row, owner) for every asked row whose string, not empty, is, normalised, one an owner
    prints."""
    if asked.shape[0] == 0:
        return asked, asked
    given = strings.of_series(column.gather(asked))
    rows = asked[given.valid & (np.diff(given.ends) > 0)]
    if rows.shape[0] == 0:
        return rows, rows
    if rows.shape[0] < asked.shape[0]:
        given = strings.take(given, np.flatnonzero(given.valid & (np.diff(given.ends) > 0)))
    # Few lines need a payer: look the items' many strings up among theirs.
    j, k = Lookup(normalise(given), empty=True).find(known)
    return rows[k], known_owner[j]


def owners_of(items: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(owner of each item, first item of each owner): owners are (tenant, customer_id),
    numbered by first appearance."""
    return groups(items.select("tenant", "customer_id"))


def codes(*columns: pl.Series) -> tuple[np.ndarray, ...]:
    """Each column's strings (currencies: a few values) as integers, equal strings equal
    across columns."""
    found = _few_values(columns)
    if found is not None:
        return found
    values = pl.concat([c.unique() for c in columns]).unique().sort().to_list()
    if len(values) > _COMPARED_ONE_BY_ONE:
        group, _ = groups(pl.DataFrame({"code": pl.concat(columns)}))
        bounds = np.cumsum([0, *(c.len() for c in columns)])
        return tuple(group[a:b] for a, b in itertools.pairwise(bounds))
    codes = []
    for column in columns:
        code = np.zeros(column.len(), dtype=np.int64)
        for k, value in enumerate(values[1:], start=1):
            code[(column == value).to_numpy()] = k
        codes.append(code)
    return tuple(codes)


def _few_values(columns: tuple[pl.Series, ...]) -> tuple[np.ndarray, ...] | None:
    """`codes` of columns without nulls holding few values, found by comparing each column
    with one value after another (no hashing of every string); None when there are nulls or
    more than a few values."""
    if any(c.null_count() for c in columns):
        return None
    equal: dict[str, list[np.ndarray]] = {}  # each value: where each column holds it
    for c, column in enumerate(columns):
        left = np.ones(column.len(), dtype=np.bool_)
        while left.any():
            value = column[int(np.argmax(left))]
            if value not in equal:
                if len(equal) == _COMPARED_ONE_BY_ONE:
                    return None
                equal[value] = [np.zeros(other.len(), dtype=np.bool_) for other in columns]
            where = (column == value).to_numpy()
            equal[value][c] = where
            left &= ~where
    found = [np.zeros(column.len(), dtype=np.int64) for column in columns]
    for k, value in enumerate(sorted(equal)):
        for c in range(len(columns)):
            found[c][equal[value][c]] = k
    return tuple(found)
