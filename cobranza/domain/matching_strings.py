"""Columns of strings as bytes, for the compiled rules: normalised, tokenised, looked up.

A column becomes one buffer of UTF-8 bytes and the offsets where each string ends (polars
joins the strings into one, about a millisecond for 100,000 of them). Compiled loops then do
to ASCII strings what the per-line rules do (`normalise_reference`, `normalise_name`,
`remittance_tokens`), and look strings up in a hash table whose every hit is confirmed byte
for byte. A string with a byte outside ASCII is flagged and given to the rules' own Python
function instead, so both read every string alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import polars as pl
from numba import njit

from cobranza.domain.matching import normalise_name, normalise_reference, remittance_tokens


class Strings(NamedTuple):
    """n strings: string k is data[ends[k]:ends[k + 1]]; `valid` is False where null."""

    data: np.ndarray  # uint8
    ends: np.ndarray  # int64, n + 1, from 0
    valid: np.ndarray  # bool, n

    def text(self, k: int) -> str:
        return bytes(self.data[self.ends[k] : self.ends[k + 1]]).decode()


def of_series(column: pl.Series) -> Strings:
    """A String column as bytes."""
    lengths = column.str.len_bytes().fill_null(0).to_numpy()
    ends = np.zeros(column.len() + 1, dtype=np.int64)
    np.cumsum(lengths, out=ends[1:])
    joined = column.str.join("", ignore_nulls=True).item() if column.len() else ""
    data = np.frombuffer((joined or "").encode(), dtype=np.uint8)
    return Strings(data, ends, column.is_not_null().to_numpy())


def of_lists(column: pl.Series) -> tuple[Strings, np.ndarray, np.ndarray]:
    """Every element of a List(String) column as bytes, the row each came from and its
    place in that row's list."""
    lengths = column.list.len().fill_null(0).to_numpy().astype(np.int64)
    rows = np.repeat(np.arange(column.len(), dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    places = np.arange(rows.shape[0], dtype=np.int64) - starts[rows]
    if rows.shape[0] == 0:
        return of_texts([]), rows, places
    return of_series(column.filter(pl.Series(lengths > 0)).explode()), rows, places


def of_texts(texts: list[str]) -> Strings:
    """Python strings as bytes (the few the Python rules had to read)."""
    encoded = [t.encode() for t in texts]
    ends = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=ends[1:])
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return Strings(data, ends, np.ones(len(encoded), dtype=np.bool_))


# -- normalising -------------------------------------------------------------------------------


_KEEP, _ODD = 256, 512  # flags beside the byte in a byte map


def _byte_map(keep: Callable[[int], bool]) -> np.ndarray:
    """What each byte becomes: ASCII upper-cased, flagged _KEEP where it stays; any byte
    above 127 flagged _ODD (the string is left to Python)."""
    table = np.full(256, _ODD, dtype=np.int64)
    for b in range(128):
        upper = b - 32 if 97 <= b <= 122 else b
        table[b] = upper | (_KEEP if keep(upper) else 0)
    return table


# normalise_reference drops str.split()'s ASCII whitespace; normalise_name all but A-Z, 0-9.
_REFERENCE = _byte_map(lambda b: not (b == 32 or 9 <= b <= 13 or 28 <= b <= 31))
_NAME = _byte_map(lambda b: 65 <= b <= 90 or 48 <= b <= 57)


@njit(cache=True)
def _normalise(data: Any, ends: Any, table: Any) -> tuple[Any, Any, Any]:
    """(bytes, ends, not ASCII) with each byte mapped by `table` (a `_byte_map`). A string
    with a byte above 127 is flagged and copied unchanged."""
    n = ends.shape[0] - 1
    out = np.empty(data.shape[0], dtype=np.uint8)
    out_ends = np.zeros(n + 1, dtype=np.int64)
    odd = np.zeros(n, dtype=np.bool_)
    w = 0
    for k in range(n):
        start = w
        flags = 0
        for p in range(ends[k], ends[k + 1]):
            v = table[data[p]]
            out[w] = v & 255
            w += (v >> 8) & 1  # _KEEP
            flags |= v
        if flags & _ODD:
            odd[k] = True
            w = start
            for p in range(ends[k], ends[k + 1]):
                out[w] = data[p]
                w += 1
        out_ends[k + 1] = w
    return out[:w], out_ends, odd


@njit(cache=True)
def _splice(data: Any, ends: Any, at: Any, new_data: Any, new_ends: Any) -> tuple[Any, Any]:
    """The strings with string at[i] replaced by new string i (`at` ascending)."""
    n = ends.shape[0] - 1
    out = np.empty(data.shape[0] + new_data.shape[0], dtype=np.uint8)
    out_ends = np.zeros(n + 1, dtype=np.int64)
    w, i = 0, 0
    for k in range(n):
        if i < at.shape[0] and at[i] == k:
            source, first, last = new_data, new_ends[i], new_ends[i + 1]
            i += 1
        else:
            source, first, last = data, ends[k], ends[k + 1]
        for p in range(first, last):
            out[w] = source[p]
            w += 1
        out_ends[k + 1] = w
    return out[:w], out_ends


def _normalised(strings: Strings, table: np.ndarray, fn: Callable[[str], str]) -> Strings:
    data, ends, odd = _normalise(strings.data, strings.ends, table)
    odd &= strings.valid
    if not odd.any():
        return Strings(data, ends, strings.valid)
    at = np.flatnonzero(odd)
    fixed = of_texts([fn(strings.text(k)) for k in at.tolist()])
    data, ends = _splice(data, ends, at, fixed.data, fixed.ends)
    return Strings(data, ends, strings.valid)


def references(strings: Strings) -> Strings:
    """Each string as `matching.normalise_reference` gives it."""
    return _normalised(strings, _REFERENCE, normalise_reference)


def names(strings: Strings) -> Strings:
    """Each string as `matching.normalise_name` gives it."""
    return _normalised(strings, _NAME, normalise_name)


# -- remittance tokens -------------------------------------------------------------------------


@njit(cache=True)
def _is_alnum(b: int) -> bool:
    return 65 <= b <= 90 or 48 <= b <= 57


@njit(cache=True)
def _is_separator(b: int) -> bool:
    return b == 45 or b == 95 or b == 47 or b == 46  # - _ / .


@njit(cache=True)
def _tokens(data: Any, ends: Any, valid: Any) -> tuple[Any, Any, Any, Any, Any]:
    """`matching._TOKEN.findall` over each ASCII string upper-cased: (bytes, ends, row,
    order within its row) of every token, and the rows left to Python: not ASCII, or holding
    "RF" and two digits (where remittance_tokens may add a printed creditor reference)."""
    n = ends.shape[0] - 1
    upper = np.empty(data.shape[0], dtype=np.uint8)
    for p in range(data.shape[0]):
        b = data[p]
        upper[p] = b - 32 if 97 <= b <= 122 else b
    odd = np.zeros(n, dtype=np.bool_)
    for k in range(n):
        for p in range(ends[k], ends[k + 1]):
            b = upper[p]
            if b >= 128 or (
                b == 82
                and p + 3 < ends[k + 1]
                and upper[p + 1] == 70
                and 48 <= upper[p + 2] <= 57
                and 48 <= upper[p + 3] <= 57
            ):
                odd[k] = True
                break
    spans = np.empty((data.shape[0] + 1, 2), dtype=np.int64)  # a token takes a byte or more
    row = np.empty(spans.shape[0], dtype=np.int64)
    order = np.empty(spans.shape[0], dtype=np.int64)
    t = 0
    for k in range(n):
        if odd[k] or not valid[k]:
            continue
        p, end, m = ends[k], ends[k + 1], 0
        while p < end:
            if not _is_alnum(upper[p]):
                p += 1
                continue
            start = p
            while p < end and _is_alnum(upper[p]):
                p += 1
            # a separator joins the token only when a letter or digit follows it
            while p + 1 < end and _is_separator(upper[p]) and _is_alnum(upper[p + 1]):
                p += 1
                while p < end and _is_alnum(upper[p]):
                    p += 1
            spans[t, 0], spans[t, 1] = start, p
            row[t], order[t] = k, m
            t += 1
            m += 1
    out_ends = np.zeros(t + 1, dtype=np.int64)
    for i in range(t):
        out_ends[i + 1] = out_ends[i] + spans[i, 1] - spans[i, 0]
    out = np.empty(out_ends[t], dtype=np.uint8)
    for i in range(t):
        out[out_ends[i] : out_ends[i + 1]] = upper[spans[i, 0] : spans[i, 1]]
    return out, out_ends, row[:t].copy(), order[:t].copy(), odd & valid


def tokens(strings: Strings) -> tuple[Strings, np.ndarray, np.ndarray]:
    """`matching.remittance_tokens` of each string: (tokens, row of each, order in its row),
    ordered by row except for the rows Python read, which come last."""
    data, ends, row, order, odd = _tokens(strings.data, strings.ends, strings.valid)
    found = Strings(data, ends, np.ones(row.shape[0], dtype=np.bool_))
    if not odd.any():
        return found, row, order
    texts, rows, orders = [], [], []
    for k in np.flatnonzero(odd):
        for m, token in enumerate(remittance_tokens(strings.text(int(k)))):
            texts.append(token)
            rows.append(k)
            orders.append(m)
    return (
        concat([found, of_texts(texts)]),
        np.concatenate([row, np.array(rows, dtype=np.int64)]),
        np.concatenate([order, np.array(orders, dtype=np.int64)]),
    )


def concat(parts: list[Strings]) -> Strings:
    """The strings of every part, one part after another."""
    ends = [np.zeros(1, dtype=np.int64)]
    offset = 0
    for part in parts:
        ends.append(part.ends[1:] + offset)
        offset += part.data.shape[0]
    return Strings(
        np.concatenate([p.data for p in parts]),
        np.concatenate(ends),
        np.concatenate([p.valid for p in parts]),
    )


@njit(cache=True)
def _take(data: Any, ends: Any, rows: Any) -> tuple[Any, Any]:
    out_ends = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    for k in range(rows.shape[0]):
        out_ends[k + 1] = out_ends[k] + ends[rows[k] + 1] - ends[rows[k]]
    out = np.empty(out_ends[-1], dtype=np.uint8)
    for k in range(rows.shape[0]):
        out[out_ends[k] : out_ends[k + 1]] = data[ends[rows[k]] : ends[rows[k] + 1]]
    return out, out_ends


def take(strings: Strings, rows: np.ndarray) -> Strings:
    """The strings at `rows`, in that order."""
    data, ends = _take(strings.data, strings.ends, rows.astype(np.int64, copy=False))
    return Strings(data, ends, strings.valid[rows])


# -- hashing and looking up --------------------------------------------------------------------

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing spreads a hash over the table


@njit(cache=True)
def _hash(data: Any, first: int, last: int, seed: Any) -> Any:
    """FNV-1a over data[first:last], from `seed`."""
    h = _FNV_OFFSET ^ (seed * _MIX)
    for p in range(first, last):
        h = (h ^ np.uint64(data[p])) * _FNV_PRIME
    return h


@njit(cache=True)
def _same(a: Any, a_ends: Any, i: int, b: Any, b_ends: Any, j: int) -> bool:
    length = a_ends[i + 1] - a_ends[i]
    if length != b_ends[j + 1] - b_ends[j]:
        return False
    x, y = a_ends[i], b_ends[j]
    for p in range(length):  # noqa: SIM110 (a loop numba compiles; all() of a generator is not)
        if a[x + p] != b[y + p]:
            return False
    return True


@njit(cache=True)
def _table(hashes: Any, usable: Any) -> tuple[Any, Any, int]:
    """Open addressing over distinct hashes, one cache line a look: (slots, members, shift).
    A slot is (hash as int64, where, count; count 0 when empty): with one position, `where`
    is that position; with several, they are members[where:where + count], in input order."""
    n = hashes.shape[0]
    bits = 4
    while (1 << bits) < 2 * usable.sum():
        bits += 1
    size = 1 << bits
    shift = 64 - bits
    slots = np.zeros((size, 3), dtype=np.int64)
    slot_of = np.empty(n, dtype=np.int64)
    for i in range(n):
        if not usable[i]:
            continue
        h = hashes[i]
        s = np.int64((h * _MIX) >> np.uint64(shift))
        while slots[s, 2] > 0 and slots[s, 0] != np.int64(h):
            s = (s + 1) & (size - 1)
        if slots[s, 2] == 0:
            slots[s, 0], slots[s, 1] = np.int64(h), i
        slots[s, 2] += 1
        slot_of[i] = s
    shared = 0
    for t in range(size):
        if slots[t, 2] > 1:
            slots[t, 1] = shared
            shared += slots[t, 2]
    members = np.empty(shared, dtype=np.int64)
    filled = np.zeros(size, dtype=np.int64)
    for i in range(n):
        if usable[i]:
            s = slot_of[i]
            if slots[s, 2] > 1:
                members[slots[s, 1] + filled[s]] = i
                filled[s] += 1
    return slots, members, shift


@njit(cache=True)
def _slot(slots: Any, shift: int, h: Any) -> int:
    """The slot holding hash `h`, or -1."""
    s = np.int64((h * _MIX) >> np.uint64(shift))
    while slots[s, 2] > 0:
        if slots[s, 0] == np.int64(h):
            return int(s)
        s = (s + 1) & (slots.shape[0] - 1)
    return -1


@njit(cache=True)
def _hashes(data: Any, ends: Any, seeds: Any) -> Any:
    n = ends.shape[0] - 1
    out = np.empty(n, dtype=np.uint64)
    for k in range(n):
        out[k] = _hash(data, ends[k], ends[k + 1], np.uint64(seeds[k]))
    return out


@njit(cache=True)
def _head(data: Any, first: int, last: int) -> tuple[int, Any, Any]:
    """(length, bytes 0-7, bytes 8-15) of data[first:last], the bytes packed into integers."""
    w0, w1 = np.int64(0), np.int64(0)
    for p in range(min(last - first, 16)):
        if p < 8:
            w0 |= np.int64(data[first + p]) << (8 * p)
        else:
            w1 |= np.int64(data[first + p]) << (8 * (p - 8))
    return last - first, w0, w1


@njit(cache=True)
def _heads(data: Any, ends: Any) -> Any:
    """Every string's `_head`: comparing with it costs one memory access, not two."""
    heads = np.empty((ends.shape[0] - 1, 3), dtype=np.int64)
    for k in range(ends.shape[0] - 1):
        heads[k, 0], heads[k, 1], heads[k, 2] = _head(data, ends[k], ends[k + 1])
    return heads


@njit(cache=True)
def _find(
    keys: tuple[Any, Any, Any],
    table: tuple[Any, Any, int],
    data: Any,
    ends: Any,
    usable: Any,
) -> tuple[Any, Any]:
    """(i, j) for every usable probe i equal, byte for byte, to key j: i ascending, then j."""
    key_data, key_ends, heads = keys
    slots, members, shift = table
    pairs = np.empty((ends.shape[0] + 16, 2), dtype=np.int64)
    k = 0
    for i in range(ends.shape[0] - 1):
        if not usable[i]:
            continue
        s = _slot(slots, shift, _hash(data, ends[i], ends[i + 1], np.uint64(0)))
        if s < 0:
            continue
        length, w0, w1 = _head(data, ends[i], ends[i + 1])
        count = slots[s, 2]
        for m in range(count):
            j = slots[s, 1] if count == 1 else members[slots[s, 1] + m]
            if heads[j, 0] != length or heads[j, 1] != w0 or heads[j, 2] != w1:
                continue
            if length > 16 and not _same(data, ends, i, key_data, key_ends, j):
                continue
            if k == pairs.shape[0]:
                bigger = np.empty((2 * k, 2), dtype=np.int64)
                bigger[:k] = pairs
                pairs = bigger
            pairs[k, 0], pairs[k, 1] = i, j
            k += 1
    return pairs[:k, 0].copy(), pairs[:k, 1].copy()


class Lookup:
    """Strings to look other strings up in. Nulls are never found, nor empty strings unless
    `empty` (a name of punctuation only normalises to "", and the rules index it)."""

    def __init__(self, keys: Strings, *, empty: bool = False) -> None:
        self.keys = keys
        self.empty = empty
        usable = self._usable(keys)
        seeds = np.zeros(usable.shape[0], dtype=np.int64)
        self._table = _table(_hashes(keys.data, keys.ends, seeds), usable)
        self._keys = (keys.data, keys.ends, _heads(keys.data, keys.ends))

    def find(self, probes: Strings) -> tuple[np.ndarray, np.ndarray]:
        """(i, j) for every probes[i] equal to keys[j]: i ascending, then j ascending."""
        usable = self._usable(probes)
        return _find(self._keys, self._table, probes.data, probes.ends, usable)

    def _usable(self, strings: Strings) -> np.ndarray:
        if self.empty:
            return strings.valid
        usable: np.ndarray = strings.valid & (np.diff(strings.ends) > 0)
        return usable


@njit(cache=True)
def _groups(hashes: Any) -> tuple[Any, Any]:
    """(group of each position, first position of each group): positions with equal hashes
    share a group, numbered by first appearance."""
    n = hashes.shape[0]
    bits = 4
    while (1 << bits) < 2 * n:
        bits += 1
    size = 1 << bits
    shift = np.uint64(64 - bits)
    slot_hash = np.zeros(size, dtype=np.uint64)
    slot_group = np.full(size, -1, dtype=np.int64)
    group = np.empty(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    groups = 0
    for i in range(n):
        h = hashes[i]
        s = np.int64((h * _MIX) >> shift)
        while slot_group[s] >= 0 and slot_hash[s] != h:
            s = (s + 1) & (size - 1)
        if slot_group[s] < 0:
            slot_hash[s] = h
            slot_group[s] = groups
            first[groups] = i
            groups += 1
        group[i] = slot_group[s]
    return group, first[:groups].copy()


def groups(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(group of each row, first row of each group): rows equal in every column (null equal
    to null) share a group, numbered by first appearance. Rows are grouped by polars' hash
    of them, then each is compared with its group's first row; should two different rows
    share a hash, the rows are grouped again on their values."""
    group, first = _groups(frame.hash_rows().to_numpy())
    if first.shape[0] < frame.height:  # some rows share a group: are they equal?
        representative = frame.gather(first[group])
        if all(representative[c].eq_missing(frame[c]).all() for c in frame.columns):
            return group, first
        return _groups_by_value(frame)
    return group, first


def _groups_by_value(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    numbered = (
        frame.with_row_index("_row")
        .group_by(frame.columns, maintain_order=True)
        .agg(pl.col("_row"))
        .with_row_index("_group")
    )
    first = numbered.get_column("_row").list.first().to_numpy().astype(np.int64)
    rows = numbered.select("_group", "_row").explode("_row")
    group = np.empty(frame.height, dtype=np.int64)
    group[rows.get_column("_row").to_numpy()] = rows.get_column("_group").to_numpy()
    return group, first
