"""The matching rules of `matching_rules._Matcher`, compiled (numba) over integer columns.

The same decisions, line by line in booking order, with every string already resolved by
`matching_keys` to integers: which open items a line names (in the order the rules look
them up), who its payer is, and each item's owner, currency and dates as day numbers. What a
line decides is written to per-line arrays (outcome, rule, confidence, credit, why, owner)
and to two growing lists of (line, item, amount) for allocations and (line, item) for the
invoices an exception names; reasons are worded afterwards from the `why` codes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

# outcome codes
MATCHED, CREDITED, EXCEPTION, DEBIT, DUPLICATE = 0, 1, 2, 3, 4
# rule codes (-1: none)
EXACT_REFERENCE, PARTIAL, GROUPED, AMOUNT_CUSTOMER, OVERPAYMENT = 0, 1, 2, 3, 4
# why codes: what the reason says
(
    NO_REASON,
    SEEN_EARLIER,
    MONEY_OUT,
    OVERPAID,
    SETTLED_ONE,
    SETTLED_GROUP,
    CURRENCY_MISMATCH,
    MANY_CUSTOMERS,
    GROUP_SHORT,
    UNKNOWN_PAYER,
    SEVERAL_PAYERS,
    EXACT_AMBIGUOUS,
    SEVERAL_SETS,
    SEARCH_GAVE_UP,
    NO_SET,
) = range(15)
# line kinds
ACTIVE, SEEN, OUT = 0, 1, 2
# confidence table rows: one per (rule, from_text) the rules round; see matching_frames
C_EXACT, C_EXACT_TEXT, C_PARTIAL, C_PARTIAL_TEXT, C_GROUPED, C_GROUPED_TEXT = range(6)
C_AMOUNT_CUSTOMER, C_GROUPED_BY_AMOUNT, C_CREDIT = 6, 7, 8


@njit(cache=True)
def group_by_key(key: Any, n_keys: int) -> tuple[Any, Any, Any]:
    """Positions grouped by a small integer key, input order kept inside each group (a
    counting sort): (ptr, order, group of each key or -1); group g is order[ptr[g]:ptr[g+1]]."""
    counts = np.zeros(n_keys, dtype=np.int64)
    for k in key:
        counts[k] += 1
    group_of_key = np.full(n_keys, -1, dtype=np.int64)
    groups = 0
    for k in range(n_keys):
        if counts[k] > 0:
            group_of_key[k] = groups
            groups += 1
    ptr = np.zeros(groups + 1, dtype=np.int64)
    for k in range(n_keys):
        if counts[k] > 0:
            ptr[group_of_key[k] + 1] = counts[k]
    ptr = np.cumsum(ptr)
    fill = ptr[:-1].copy()
    order = np.empty(key.shape[0], dtype=np.int64)
    for i in range(key.shape[0]):
        g = group_of_key[key[i]]
        order[fill[g]] = i
        fill[g] += 1
    return ptr, order, group_of_key


@njit(cache=True)
def hits_by_line(pos: Any, order: Any, item: Any, n: int) -> tuple[Any, Any]:
    """Each line's items in lookup order: sorted by (order, item), an item kept only where
    first found. (ptr, items): line p's items are items[ptr[p]:ptr[p + 1]]."""
    ptr = np.zeros(n + 1, dtype=np.int64)
    for p in pos:
        ptr[p + 1] += 1
    ptr = np.cumsum(ptr)
    fill = ptr[:-1].copy()
    keys = np.empty((pos.shape[0], 2), dtype=np.int64)
    for k in range(pos.shape[0]):
        keys[fill[pos[k]]] = order[k], item[k]
        fill[pos[k]] += 1
    out = np.empty(pos.shape[0], dtype=np.int64)
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    w = 0
    for p in range(n):
        first, last = ptr[p], ptr[p + 1]
        for a in range(first + 1, last):  # insertion sort: a line names few items
            o, i = keys[a, 0], keys[a, 1]
            b = a - 1
            while b >= first and (keys[b, 0] > o or (keys[b, 0] == o and keys[b, 1] > i)):
                keys[b + 1] = keys[b]
                b -= 1
            keys[b + 1, 0], keys[b + 1, 1] = o, i
        start = w
        for a in range(first, last):
            seen = False
            for c in range(start, w):
                if out[c] == keys[a, 1]:
                    seen = True
                    break
            if not seen:
                out[w] = keys[a, 1]
                w += 1
        out_ptr[p + 1] = w
    return out_ptr, out[:w].copy()


@njit(cache=True)
def _grown(buf: Any) -> Any:
    """A (capacity x 3) int64 buffer's rows in one twice as large (plus 16)."""
    bigger = np.empty((buf.shape[0] * 2 + 16, 3), dtype=np.int64)
    bigger[: buf.shape[0]] = buf
    return bigger


@njit(cache=True)
def _put(buf: Any, size: int, a: int, b: int, c: int) -> None:
    """Row `size` of a buffer with room for it set to (a, b, c). Callers grow the buffer
    (`_grown`) only when full: a helper returning the buffer on every append costs its
    reference counting on every line (a quarter of `decide`'s time)."""
    buf[size, 0] = a
    buf[size, 1] = b
    buf[size, 2] = c


@njit(cache=True)
def _search(values: Any, suffix: Any, target: int, budget: int, found: Any) -> tuple[bool, int]:
    """`subsets_summing_to`'s depth-first search, step for step, with a stack of its own
    (a recursive function is not safe to load from numba's cache): (completed, sets found).
    A set is kept as the bits of an int64, so the search may look at 63 items at most.

    Each frame is one call walk(k, left): counted, then its "take k" branch explored in full
    before its "skip k" branch, as the recursion does.
    """
    depth = values.shape[0] + 2
    ks = np.empty(depth, dtype=np.int64)
    lefts = np.empty(depth, dtype=np.int64)
    masks = np.empty(depth, dtype=np.int64)
    ks[0], lefts[0], masks[0] = 0, target, 0
    top, steps, sets = 1, 0, 0
    while top > 0:
        top -= 1
        k, left, mask = ks[top], lefts[top], masks[top]
        steps += 1
        if steps > budget:
            return False, sets
        if left == 0:
            found[sets] = mask
            sets += 1
            if sets == found.shape[0]:
                return False, sets
            continue
        if k == values.shape[0] or suffix[k] < left:
            continue
        ks[top], lefts[top], masks[top] = k + 1, left, mask  # skip k: after the branch below
        top += 1
        if values[k] <= left:
            ks[top], lefts[top], masks[top] = k + 1, left - values[k], mask | (1 << k)
            top += 1
    return True, sets


@njit(cache=True)
def _by_value(members: Any, m: int, remaining: Any, order: Any, values: Any, suffix: Any) -> None:
    """The first m members ranked by what each still owes, largest first, ties in member
    order (a stable insertion sort: m is small): order[k] is the member ranked k, values[k]
    what it owes, suffix[k] the sum of values[k:m]."""
    for k in range(m):
        v = remaining[members[k]]
        b = k
        while b > 0 and values[b - 1] < v:
            values[b], order[b] = values[b - 1], order[b - 1]
            b -= 1
        values[b], order[b] = v, k
    suffix[m] = 0
    for k in range(m - 1, -1, -1):
        suffix[k] = suffix[k + 1] + values[k]


@njit(cache=True)
def _owner_of(items: Any, item_owner: Any) -> int:
    """The one owner of these items, or -1 when they belong to several."""
    owner: int = item_owner[items[0]]
    for i in items[1:]:
        if item_owner[i] != owner:
            return -1
    return owner


@njit(cache=True)
def decide(
    kind: Any,
    amount: Any,
    currency: Any,
    booked: Any,
    hit_ptr: Any,
    hit_item: Any,
    from_text: Any,
    payer_count: Any,
    payer_owner: Any,
    line_group: Any,
    item_outstanding: Any,
    item_currency: Any,
    item_owner: Any,
    item_issued: Any,
    item_due: Any,
    group_ptr: Any,
    group_items: Any,
    group_by_due: Any,
    confidence_of: Any,
    window_before: int,
    window_after: int,
    search_items: int,
    search_steps: int,
) -> tuple[Any, Any, Any, Any, Any, Any, Any, Any, Any, int, Any, int]:
    """Every line's result, in booking order: rule 1 over every line, then rules 2 and 3 over
    the lines that named nothing, exactly as `matching._match_in_passes` runs `_Matcher`.

    Returns (outcome, rule, confidence, credit, why, owner, count, owed_sum) per line, then the
    allocations (line, item, amount) and how many, then the named invoices (line, item, 0) and
    how many. Amounts must leave room to be summed in int64 (`matching.fits_compiled`).
    """
    n = kind.shape[0]
    remaining = item_outstanding.copy()
    outcome = np.full(n, EXCEPTION, dtype=np.int8)
    rule = np.full(n, -1, dtype=np.int8)
    confidence = np.zeros(n, dtype=np.float64)
    credit = np.full(n, -1, dtype=np.int64)
    why = np.zeros(n, dtype=np.int8)
    owner = np.full(n, -1, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)  # customers, open invoices or exact fits the reason names
    owed_sum = np.zeros(n, dtype=np.int64)
    allocations = np.empty((n + 1024, 3), dtype=np.int64)
    n_alloc = 0
    named = np.empty((1024, 3), dtype=np.int64)
    n_named = 0
    unnamed = np.empty(n, dtype=np.int64)
    n_unnamed = 0
    for pos in range(n):
        if kind[pos] == SEEN:
            outcome[pos], why[pos] = DUPLICATE, SEEN_EARLIER
            continue
        if kind[pos] == OUT:
            outcome[pos], why[pos] = DEBIT, MONEY_OUT
            continue
        first, last = hit_ptr[pos], hit_ptr[pos + 1]
        if first == last:
            unnamed[n_unnamed] = pos
            n_unnamed += 1
            continue
        paid = amount[pos]
        text = 1 if from_text[pos] else 0
        i = hit_item[first]
        if last - first > 1 or item_currency[i] != currency[pos]:
            # Rare: several invoices named, or one in another currency. The commonest line
            # (one invoice, its currency) skips straight to the single-invoice rule below.
            hits = hit_item[first:last]
            same = hits[item_currency[hits] == currency[pos]]
            if same.shape[0] == 0:
                why[pos], owner[pos] = CURRENCY_MISMATCH, _owner_of(hits, item_owner)
                for i in hits:
                    if n_named == named.shape[0]:
                        named = _grown(named)
                    _put(named, n_named, pos, i, 0)
                    n_named += 1
                continue
            customers = np.unique(item_owner[same]).shape[0]
            if customers > 1:
                why[pos], count[pos] = MANY_CUSTOMERS, customers
                for i in hits:
                    if n_named == named.shape[0]:
                        named = _grown(named)
                    _put(named, n_named, pos, i, 0)
                    n_named += 1
                continue
            if same.shape[0] > 1:
                open_ones = same[remaining[same] > 0]
                owed = remaining[open_ones].sum()
                owner[pos] = item_owner[same[0]]
                if paid < owed:
                    why[pos], count[pos], owed_sum[pos] = GROUP_SHORT, open_ones.shape[0], owed
                    for i in open_ones:
                        if n_named == named.shape[0]:
                            named = _grown(named)
                        _put(named, n_named, pos, i, 0)
                        n_named += 1
                    continue
                if open_ones.shape[0] == 0:
                    outcome[pos], rule[pos], why[pos] = CREDITED, OVERPAYMENT, SETTLED_GROUP
                    confidence[pos], credit[pos] = confidence_of[C_CREDIT], paid
                    if n_named == named.shape[0]:
                        named = _grown(named)
                    _put(named, n_named, pos, same[0], 0)
                    n_named += 1
                    continue
                outcome[pos], rule[pos] = MATCHED, GROUPED
                confidence[pos] = confidence_of[C_GROUPED + text]
                given = 0  # what the open ones take (all they owe: at most what was paid)
                for i in open_ones:
                    if n_alloc == allocations.shape[0]:
                        allocations = _grown(allocations)
                    _put(allocations, n_alloc, pos, i, remaining[i])
                    n_alloc += 1
                    given += remaining[i]
                    remaining[i] = 0
                if paid > given:
                    credit[pos], why[pos] = paid - given, OVERPAID
                continue
            i = same[0]
        # One invoice named in the line's currency: it takes what is still owed.
        owed = remaining[i]
        owner[pos] = item_owner[i]
        if owed <= 0:  # settled, or owing less than nothing: it takes no money
            outcome[pos], rule[pos], why[pos] = CREDITED, OVERPAYMENT, SETTLED_ONE
            confidence[pos], credit[pos] = confidence_of[C_CREDIT], paid
            if n_named == named.shape[0]:
                named = _grown(named)
            _put(named, n_named, pos, i, 0)
            n_named += 1
            continue
        take = min(owed, paid)
        remaining[i] -= take
        outcome[pos] = MATCHED
        if paid < owed:
            rule[pos], confidence[pos] = PARTIAL, confidence_of[C_PARTIAL + text]
        else:
            rule[pos], confidence[pos] = EXACT_REFERENCE, confidence_of[C_EXACT + text]
        if n_alloc == allocations.shape[0]:
            allocations = _grown(allocations)
        _put(allocations, n_alloc, pos, i, take)
        n_alloc += 1
        if paid > take:
            credit[pos], why[pos] = paid - take, OVERPAID

    found = np.empty(2, dtype=np.int64)  # the rules look for a second set only to refuse
    # The grouped-by-amount search's buffers, made once: at most search_items invoices each.
    members = np.empty(search_items, dtype=np.int64)
    order = np.empty(search_items, dtype=np.int64)
    values = np.empty(search_items, dtype=np.int64)
    suffix = np.zeros(search_items + 1, dtype=np.int64)
    taken = np.zeros(search_items, dtype=np.bool_)
    for u in range(n_unnamed):
        pos = unnamed[u]
        if payer_count[pos] == 0:
            why[pos] = UNKNOWN_PAYER
            continue
        if payer_count[pos] > 1:
            why[pos] = SEVERAL_PAYERS
            continue
        owner[pos] = payer_owner[pos]
        g = line_group[pos]
        paid, day = amount[pos], booked[pos]
        if g < 0:
            why[pos] = NO_SET
            continue
        start, end = group_ptr[g], group_ptr[g + 1]
        exact = 0
        first = -1
        for i in group_items[start:end]:
            if (
                item_outstanding[i] == paid
                and remaining[i] == paid
                and item_issued[i] - window_before <= day <= item_due[i] + window_after
            ):
                exact += 1
                if first < 0:
                    first = i
        if exact == 1:
            outcome[pos], rule[pos] = MATCHED, AMOUNT_CUSTOMER
            confidence[pos] = confidence_of[C_AMOUNT_CUSTOMER]
            remaining[first] -= paid
            if n_alloc == allocations.shape[0]:
                allocations = _grown(allocations)
            _put(allocations, n_alloc, pos, first, paid)
            n_alloc += 1
            continue
        if exact > 1:
            why[pos], count[pos] = EXACT_AMBIGUOUS, exact
            for i in group_items[start:end]:
                if (
                    item_outstanding[i] == paid
                    and remaining[i] == paid
                    and item_issued[i] - window_before <= day <= item_due[i] + window_after
                ):
                    if n_named == named.shape[0]:
                        named = _grown(named)
                    _put(named, n_named, pos, i, 0)
                    n_named += 1
            continue
        m = 0
        for i in group_by_due[start:end]:
            if m == search_items:
                break
            if (
                remaining[i] > 0
                and item_issued[i] - window_before <= day <= item_due[i] + window_after
            ):
                members[m] = i
                m += 1
        _by_value(members, m, remaining, order, values, suffix)
        completed, sets = _search(values[:m], suffix, paid, search_steps, found)
        exhausted = (not completed) and sets < found.shape[0]
        if sets == 1 and not exhausted:
            taken[:m] = False
            for k in range(m):
                if found[0] >> k & 1:
                    taken[order[k]] = True
            outcome[pos] = MATCHED
            if (found[0] & (found[0] - 1)) == 0:  # one bit: one invoice
                rule[pos], confidence[pos] = AMOUNT_CUSTOMER, confidence_of[C_AMOUNT_CUSTOMER]
            else:
                rule[pos], confidence[pos] = GROUPED, confidence_of[C_GROUPED_BY_AMOUNT]
            for c in range(m):  # by due date, as the rules allocate
                if not taken[c]:
                    continue
                i = members[c]
                if n_alloc == allocations.shape[0]:
                    allocations = _grown(allocations)
                _put(allocations, n_alloc, pos, i, remaining[i])
                n_alloc += 1
                remaining[i] = 0
            continue
        if sets > 1:
            why[pos] = SEVERAL_SETS
        else:
            why[pos] = SEARCH_GAVE_UP if exhausted else NO_SET
    return (
        outcome,
        rule,
        confidence,
        credit,
        why,
        owner,
        count,
        owed_sum,
        allocations,
        n_alloc,
        named,
        n_named,
    )
