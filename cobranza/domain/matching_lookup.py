"""Strings looked up and grouped through hashes, every answer checked on the strings.

`Lookup` is a hash table over byte strings (`matching_strings.Strings`): open addressing
over 64-bit hashes, each slot holding the top half of its hash and the index of its first
record; the records (full hash, length and key, first 16 bytes) of the keys sharing a hash
lie next to each other, so that confirming a hit byte for byte mostly costs one more
memory read, not two. `groups` numbers equal rows by first appearance from polars' row hash,
then compares each row with its group's first, and groups on the values themselves should two
different rows share a hash.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from numba import njit

from cobranza.domain.matching_strings import Strings, _take

_SEED = np.uint64(0xCBF29CE484222325)
_PRIME = np.uint64(0xFF51AFD7ED558CCD)  # murmur3's finaliser constant
_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing spreads a hash over the table


@njit(cache=True, nogil=True)
def _word(data: Any, first: int, last: int) -> Any:
    """Up to 8 bytes from `first` (not past `last`) as one little-endian integer."""
    w = np.uint64(0)
    for q in range(min(8, last - first)):
        w |= np.uint64(data[first + q]) << np.uint64(8 * q)
    return w


@njit(cache=True, nogil=True)
def _hash(data: Any, first: int, last: int) -> Any:
    """A 64-bit hash of data[first:last], eight bytes a step (a byte at a time chained one
    multiplication per byte, the slowest part of a lookup)."""
    h = _SEED ^ np.uint64(last - first)
    for p in range(first, last, 8):
        h = (h ^ _word(data, p, last)) * _PRIME
        h ^= h >> np.uint64(32)
    return h


@njit(cache=True, nogil=True)
def _same(a: Any, a_ends: Any, i: int, b: Any, b_ends: Any, j: int) -> bool:
    length = a_ends[i + 1] - a_ends[i]
    if length != b_ends[j + 1] - b_ends[j]:
        return False
    x, y = a_ends[i], b_ends[j]
    for p in range(length):  # noqa: SIM110 (a loop numba compiles; all() of a generator is not)
        if a[x + p] != b[y + p]:
            return False
    return True


_EMPTY = -1  # a table slot holding no key
_LOW = (1 << 32) - 1  # the low 32 bits of a table slot or a record's second word
_MAX_BYTES = 1 << 31  # a length shifted into a record's sign bit would read back negative


class LookupTooLarge(ValueError):
    """Keys beyond what a record can say (their count or bytes)."""


@njit(cache=True, nogil=True)
def _table(hashes: Any, usable: Any, data: Any, ends: Any) -> tuple[Any, Any, int]:
    """Open addressing over distinct hashes: (slots, records, shift).

    A record per usable key, 32 bytes: (hash, length << 32 | key, bytes 0-7, bytes 8-15);
    the keys of one hash are consecutive records, in input order. A slot (8 bytes; the table
    of 100,000 keys is 2 MB) is the top 32 bits of a hash over the first of its records, or
    _EMPTY: looking a string up reads one slot, mostly in cache, and one record, which holds
    what confirms the hit but for bytes past the 16th."""
    n = hashes.shape[0]
    m = usable.sum()
    bits = 4
    while (1 << bits) < 2 * m:
        bits += 1
    size = 1 << bits
    shift = 64 - bits
    slots = np.full(size, _EMPTY, dtype=np.int64)  # first a run number, then the slot itself
    run_hash = np.empty(m, dtype=np.uint64)
    run_size = np.zeros(m + 1, dtype=np.int64)
    run_of = np.empty(n, dtype=np.int64)
    runs = 0
    for i in range(n):
        if not usable[i]:
            continue
        h = hashes[i]
        s = np.int64((h * _MIX) >> np.uint64(shift))
        while slots[s] != _EMPTY and run_hash[slots[s]] != h:
            s = (s + 1) & (size - 1)
        if slots[s] == _EMPTY:
            slots[s] = runs
            run_hash[runs] = h
            runs += 1
        run_of[i] = slots[s]
        run_size[slots[s] + 1] += 1
    start = np.cumsum(run_size)
    fill = start[:-1].copy()
    records = np.empty((m, 4), dtype=np.int64)
    for i in range(n):
        if usable[i]:
            r = fill[run_of[i]]
            fill[run_of[i]] += 1
            length, w0, w1 = _head(data, ends[i], ends[i + 1])
            records[r, 0] = np.int64(hashes[i])
            records[r, 1] = (np.int64(length) << 32) | i
            records[r, 2], records[r, 3] = w0, w1
    for t in range(size):
        if slots[t] != _EMPTY:
            run = slots[t]
            slots[t] = np.int64((run_hash[run] >> np.uint64(32)) << np.uint64(32)) | start[run]
    return slots, records, shift


@njit(cache=True, nogil=True)
def _hashes(data: Any, ends: Any) -> Any:
    n = ends.shape[0] - 1
    out = np.empty(n, dtype=np.uint64)
    for k in range(n):
        out[k] = _hash(data, ends[k], ends[k + 1])
    return out


@njit(cache=True, nogil=True)
def _head(data: Any, first: int, last: int) -> tuple[int, Any, Any]:
    """(length, bytes 0-7, bytes 8-15) of data[first:last], the bytes packed into integers."""
    w0, w1 = np.int64(0), np.int64(0)
    for p in range(min(last - first, 16)):
        if p < 8:
            w0 |= np.int64(data[first + p]) << (8 * p)
        else:
            w1 |= np.int64(data[first + p]) << (8 * (p - 8))
    return last - first, w0, w1


@njit(cache=True, nogil=True)
def _first_record(slots: Any, records: Any, h: Any, s: int) -> int:
    """The first record of hash h, or -1, probing on from slot s: a slot whose top bits are
    h's stands for h only if its record's hash is h (another hash may share the top bits)."""
    mask = slots.shape[0] - 1
    top = np.int64((h >> np.uint64(32)) << np.uint64(32))
    while True:
        e = slots[s]
        s = (s + 1) & mask
        if e == _EMPTY:
            return -1
        if (e & ~np.int64(_LOW)) == top:
            r: int = e & np.int64(_LOW)
            if records[r, 0] == np.int64(h):
                return r


@njit(cache=True, nogil=True)
def _find(
    key_data: Any,
    key_ends: Any,
    table: tuple[Any, Any, int],
    data: Any,
    ends: Any,
    usable: Any,
) -> tuple[Any, Any]:
    """(i, j) for every usable probe i equal, byte for byte, to key j: i ascending, then j.

    In passes, each a tight loop over every probe (hashes; slots; heads; records, counting
    the keys each probe equals; then the pairs, into arrays of the size counted): the memory
    reads of one probe do not wait on the last's, so many are in flight at once, and no
    array is grown (or its reference counted) inside a loop."""
    slots, records, shift = table
    mask = slots.shape[0] - 1
    n = ends.shape[0] - 1
    probes = np.empty(n, dtype=np.int64)
    hashes = np.empty(n, dtype=np.uint64)
    m = 0
    for i in range(n):
        if usable[i]:
            probes[m] = i
            hashes[m] = _hash(data, ends[i], ends[i + 1])
            m += 1
    first = np.empty(m, dtype=np.int64)  # the record a slot names, else -1
    after = np.empty(m, dtype=np.int64)  # the slot after that slot
    for q in range(m):
        h = hashes[q]
        s = np.int64((h * _MIX) >> np.uint64(shift))
        top = np.int64((h >> np.uint64(32)) << np.uint64(32))
        e = slots[s]
        while e != _EMPTY and (e & ~np.int64(_LOW)) != top:
            s = (s + 1) & mask
            e = slots[s]
        first[q] = -1 if e == _EMPTY else e & np.int64(_LOW)
        after[q] = (s + 1) & mask
    heads = np.empty((m, 3), dtype=np.int64)  # each probe's length and first 16 bytes
    for q in range(m):
        i = probes[q]
        length, w0, w1 = _head(data, ends[i], ends[i + 1])
        heads[q, 0], heads[q, 1], heads[q, 2] = length, w0, w1
    n_records = records.shape[0]
    count = np.zeros(m, dtype=np.int64)
    total = 0
    for q in range(m):
        r = first[q]
        if r < 0:
            continue
        h = np.int64(hashes[q])
        if records[r, 0] != h:  # another hash's top bits: probe on, checking each record
            r = _first_record(slots, records, hashes[q], after[q])
            first[q] = r
        # (This loop and the next are written out in each: a compiled helper returning the
        # next equal record, called from both, made the whole lookup six times slower.)
        while r >= 0 and r < n_records and records[r, 0] == h:
            if _equal_record(records, r, heads, q) and (
                heads[q, 0] <= 16
                or _same(data, ends, probes[q], key_data, key_ends, records[r, 1] & _LOW)
            ):
                count[q] += 1
            r += 1
        total += count[q]
    found_i = np.empty(total, dtype=np.int64)
    found_j = np.empty(total, dtype=np.int64)
    k = 0
    for q in range(m):
        if count[q] == 0:
            continue
        r, h = first[q], np.int64(hashes[q])
        while r < n_records and records[r, 0] == h:
            if _equal_record(records, r, heads, q) and (
                heads[q, 0] <= 16
                or _same(data, ends, probes[q], key_data, key_ends, records[r, 1] & _LOW)
            ):
                found_i[k] = probes[q]
                found_j[k] = records[r, 1] & _LOW
                k += 1
            r += 1
    return found_i, found_j


@njit(cache=True, nogil=True)
def _equal_record(records: Any, r: int, heads: Any, q: int) -> bool:
    """Whether record r's length and first 16 bytes are probe q's."""
    return bool(
        records[r, 1] >> 32 == heads[q, 0]
        and records[r, 2] == heads[q, 1]
        and records[r, 3] == heads[q, 2]
    )


class Lookup:
    """Strings to look other strings up in. Nulls are never found, nor empty strings unless
    `empty` (a name of punctuation only normalises to "", and the rules index it)."""

    def __init__(self, keys: Strings, *, empty: bool = False) -> None:
        self.empty = empty
        # A record packs (length << 32 | key) into a signed int64: a key's length and the
        # bytes of all keys stay below 2**31, their count below 2**32.
        if keys.ends.shape[0] > _LOW or keys.data.shape[0] >= _MAX_BYTES:
            raise LookupTooLarge(
                f"a lookup holds fewer than 2**32 keys of fewer than 2**31 bytes in all, not "
                f"{keys.ends.shape[0] - 1} keys of {keys.data.shape[0]} bytes"
            )
        self._keys = (keys.data, keys.ends)
        self._table = _table(_hashes(keys.data, keys.ends), self._usable(keys), *self._keys)

    def find(self, probes: Strings) -> tuple[np.ndarray, np.ndarray]:
        """(i, j) for every probes[i] equal to keys[j]: i ascending, then j ascending."""
        usable = self._usable(probes)
        return _find(*self._keys, self._table, probes.data, probes.ends, usable)

    def _usable(self, strings: Strings) -> np.ndarray:
        if self.empty:
            return strings.valid
        usable: np.ndarray = strings.valid & (np.diff(strings.ends) > 0)
        return usable


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _owned_hashes(data: Any, ends: Any, owner: Any) -> Any:
    out = np.empty(ends.shape[0] - 1, dtype=np.uint64)
    for k in range(out.shape[0]):
        out[k] = _hash(data, ends[k], ends[k + 1]) ^ (np.uint64(owner[k]) * _MIX)
    return out


@njit(cache=True, nogil=True)
def _each_equal_to_first(data: Any, ends: Any, owner: Any, group: Any, first: Any) -> bool:
    for i in range(group.shape[0]):
        f = first[group[i]]
        if owner[i] != owner[f] or not _same(data, ends, i, data, ends, f):
            return False
    return True


def first_per_owner(strings: Strings, owner: np.ndarray) -> np.ndarray:
    """The first position of each distinct (owner, string), among the valid strings: where a
    customer prints the same name on many invoices, one stands for all. Should two pairs
    share a hash, every valid position is kept (the same answer, only slower)."""
    valid = np.flatnonzero(strings.valid)
    data, ends = strings.data, strings.ends
    if valid.shape[0] < strings.valid.shape[0]:
        data, ends = _take(data, ends, valid)
    owned = owner[valid]
    group, first = _groups(_owned_hashes(data, ends, owned))
    if first.shape[0] < valid.shape[0] and not _each_equal_to_first(
        data, ends, owned, group, first
    ):
        return valid
    kept: np.ndarray = valid[first]
    return kept


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
