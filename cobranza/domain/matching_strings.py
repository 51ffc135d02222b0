"""Columns of strings as bytes, for the compiled rules: normalised and tokenised.

A column becomes one buffer of UTF-8 bytes and the offsets where each string ends (polars
joins the strings into one, about a millisecond for 100,000 of them). Compiled loops then do
what the per-line rules do (`normalise_reference`, `normalise_name`, `remittance_tokens`);
`matching_lookup` looks them up. ASCII is read byte by byte; references and names outside
ASCII character by character, from what the rules' function makes of each Latin letter,
accent and punctuation mark (`_CharMap`); remittance text outside ASCII byte by byte too, its
other characters ending tokens as they do in Python. The rest goes to the rules' own Python
function, so both read every string alike: a reference or name with a character not mapped
(Greek, CJK, emoji), and remittance text holding a character that upper-cases to ASCII
("ß", "ﬁ") or "RF" and two digits (where a printed creditor reference may be added).
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
    lengths = list_lengths(column)
    if not lengths.any():  # (statements and invoices mostly list nothing)
        return of_texts([]), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    rows = np.repeat(np.arange(column.len(), dtype=np.int64), lengths)
    places = counts_within(lengths)
    return of_series(column.filter(pl.Series(lengths > 0)).explode()), rows, places


def list_lengths(column: pl.Series) -> np.ndarray:
    """The length of each list of a List column, 0 where null, as int64."""
    lengths = column.list.len()
    if lengths.null_count():
        lengths = lengths.fill_null(0)
    return lengths.to_numpy().astype(np.int64)


def counts_within(lengths: np.ndarray) -> np.ndarray:
    """0, 1, ..., length - 1 for each length, one after another."""
    starts = np.cumsum(lengths) - lengths
    within: np.ndarray = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(starts, lengths)
    return within


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
    above 127 flagged _ODD (the string is read by characters, `_CharMap`)."""
    table = np.full(256, _ODD, dtype=np.int64)
    for b in range(128):
        upper = b - 32 if 97 <= b <= 122 else b
        table[b] = upper | (_KEEP if keep(upper) else 0)
    return table


# normalise_reference drops str.split()'s ASCII whitespace; normalise_name all but A-Z, 0-9.
_REFERENCE = _byte_map(lambda b: not (b == 32 or 9 <= b <= 13 or 28 <= b <= 31))
_NAME = _byte_map(lambda b: 65 <= b <= 90 or 48 <= b <= 57)

# Characters outside ASCII read by table: Latin-1 to the combining accents, and general
# punctuation (quotes, dashes). Both normalising functions work character by character
# (unicodedata's NFKD decomposes each alone, str.upper() and str.split() look at no
# neighbour, and reordering combining marks moves only marks the name drops), so what they
# make of each character here, joined, is what they make of the string. A string with any
# other character is left to the function itself.
_MAPPED = (range(0x80, 0x370), range(0x2000, 0x2070))
_MAPPED_END = 0x2070


class _CharMap(NamedTuple):
    """What a function makes of each mapped character, as UTF-8: made[first[c]:last[c]]
    for code point c + 128, first -1 where c is not mapped."""

    first: np.ndarray
    last: np.ndarray
    made: np.ndarray


def _char_map(fn: Callable[[str], str]) -> _CharMap:
    first = np.full(_MAPPED_END - 0x80, -1, dtype=np.int64)
    last = np.full(_MAPPED_END - 0x80, -1, dtype=np.int64)
    made = bytearray()
    for span in _MAPPED:
        for c in span:
            out, read = fn(chr(c)).encode(), len(chr(c).encode())
            if len(out) > 2 * read:
                # The compiled loop writes into a buffer twice the input's size, unchecked: a
                # longer mapping would write past it, so refuse it here, even under python -O.
                raise ValueError(
                    f"{fn.__name__} maps U+{c:04X} to {len(out)} bytes, more than twice its "
                    f"{read}: the compiled matching buffers have no room for that"
                )
            first[c - 0x80], last[c - 0x80] = len(made), len(made) + len(out)
            made += out
    return _CharMap(first, last, np.frombuffer(bytes(made) or b"\0", dtype=np.uint8))


_REFERENCE_CHARS = _char_map(normalise_reference)
_NAME_CHARS = _char_map(normalise_name)


@njit(cache=True, nogil=True)
def _code_point(data: Any, p: int) -> tuple[Any, int]:
    """(code point, bytes) of the UTF-8 character starting at data[p], a byte above 127."""
    b = np.int64(data[p])
    if b < 0xE0:
        return ((b & 0x1F) << 6) | (np.int64(data[p + 1]) & 0x3F), 2
    if b < 0xF0:
        c = ((b & 0x0F) << 12) | ((np.int64(data[p + 1]) & 0x3F) << 6)
        return c | (np.int64(data[p + 2]) & 0x3F), 3
    c = ((b & 0x07) << 18) | ((np.int64(data[p + 1]) & 0x3F) << 12)
    c |= (np.int64(data[p + 2]) & 0x3F) << 6
    return c | (np.int64(data[p + 3]) & 0x3F), 4


@njit(cache=True, nogil=True)
def _by_characters(data: Any, first: int, last: int, chars: Any, out: Any, w: int) -> int:
    """Write data[first:last] to out[w:] as `chars` maps each character, ASCII by the
    byte map in chars[0]; where the string ends, or -1 if it holds a character not mapped."""
    table, mapped_first, mapped_last, mapped = chars
    p = first
    while p < last:
        b = data[p]
        if b < 128:
            v = table[b]
            out[w] = v & 255
            w += (v & _KEEP) >> 8
            p += 1
            continue
        c, width = _code_point(data, p)
        p += width
        at = c - 0x80
        if at >= mapped_first.shape[0] or mapped_first[at] < 0:
            return -1
        for q in range(mapped_first[at], mapped_last[at]):
            out[w] = mapped[q]
            w += 1
    return w


@njit(cache=True, nogil=True)
def _normalise(data: Any, ends: Any, chars: Any) -> tuple[Any, Any, Any]:
    """(bytes, ends, left to Python) with each string mapped by `chars` (a byte map, then a
    `_CharMap`): ASCII strings byte by byte, others character by character; a string with a
    character not mapped is flagged and copied unchanged."""
    table = chars[0]
    n = ends.shape[0] - 1
    out = np.empty(2 * data.shape[0], dtype=np.uint8)
    out_ends = np.zeros(n + 1, dtype=np.int64)
    odd = np.zeros(n, dtype=np.bool_)
    w = 0
    for k in range(n):
        start = w
        flags = 0
        for p in range(ends[k], ends[k + 1]):
            v = table[data[p]]
            out[w] = v & 255
            w += (v & _KEEP) >> 8
            flags |= v
        if flags & _ODD:
            w = _by_characters(data, ends[k], ends[k + 1], chars, out, start)
            if w < 0:
                odd[k] = True
                w = start
                for p in range(ends[k], ends[k + 1]):
                    out[w] = data[p]
                    w += 1
        out_ends[k + 1] = w
    return out[:w], out_ends, odd


@njit(cache=True, nogil=True)
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


def _normalised(
    strings: Strings, table: np.ndarray, chars: _CharMap, fn: Callable[[str], str]
) -> Strings:
    data, ends, odd = _normalise(strings.data, strings.ends, (table, *chars))
    odd &= strings.valid
    if not odd.any():
        return Strings(data, ends, strings.valid)
    at = np.flatnonzero(odd)
    fixed = of_texts([fn(strings.text(k)) for k in at.tolist()])
    data, ends = _splice(data, ends, at, fixed.data, fixed.ends)
    return Strings(data, ends, strings.valid)


def references(strings: Strings) -> Strings:
    """Each string as `matching_text.normalise_reference` gives it."""
    return _normalised(strings, _REFERENCE, _REFERENCE_CHARS, normalise_reference)


def names(strings: Strings) -> Strings:
    """Each string as `matching_text.normalise_name` gives it."""
    return _normalised(strings, _NAME, _NAME_CHARS, normalise_name)


# -- remittance tokens -------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _is_alnum(b: int) -> bool:
    return 65 <= b <= 90 or 48 <= b <= 57


@njit(cache=True, nogil=True)
def _is_separator(b: int) -> bool:
    return b == 45 or b == 95 or b == 47 or b == 46  # - _ / .


# The characters outside ASCII whose str.upper() holds ASCII ("ß" is "SS", "ﬁ" is "FI", "ı" is
# "I"): text holding one may hold tokens its bytes do not show. Every other character outside
# ASCII upper-cases to characters outside ASCII, which end a token as its bytes do.
# tests/domain/test_matching_strings.py holds this list to the running Python's str.upper().
UPPER_TO_ASCII = np.array(
    [
        *(0xDF, 0x131, 0x149, 0x17F, 0x1F0),  # ß ı ŉ ſ ǰ
        *range(0x1E96, 0x1E9B),  # ẖ ẗ ẘ ẙ ẚ
        *range(0xFB00, 0xFB07),  # ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ
    ],
    dtype=np.int64,
)


@njit(cache=True, nogil=True)
def _may_be_digit(b: int) -> bool:
    """An ASCII digit, or the first byte of a character that may be one to `\\d`."""
    return 48 <= b <= 57 or b >= 128


@njit(cache=True, nogil=True)
def _left_to_python(upper: Any, ends: Any, valid: Any, widening: Any) -> Any:
    """The rows the compiled tokens cannot stand for: holding a character that upper-cases
    to ASCII (`widening`), or "RF" and two characters that may be digits where a word may
    begin (where remittance_tokens may add a printed creditor reference; "TRF2025" is not
    one, `matching_text._RF` wants a word boundary before the R)."""
    n = ends.shape[0] - 1
    odd = np.zeros(n, dtype=np.bool_)
    for k in range(n):
        if not valid[k]:
            continue
        p, end = ends[k], ends[k + 1]
        while p < end:
            b = upper[p]
            if b >= 128:
                c, width = _code_point(upper, p)
                p += width
                if widening[0] <= c <= widening[-1] and np.any(widening == c):
                    odd[k] = True
                    break
                continue
            if (
                b == 82
                and (p == ends[k] or not (_is_alnum(upper[p - 1]) or upper[p - 1] == 95))
                and p + 3 < end
                and upper[p + 1] == 70
                and _may_be_digit(upper[p + 2])
                and _may_be_digit(upper[p + 3])
            ):
                odd[k] = True
                break
            p += 1
    return odd


@njit(cache=True, nogil=True)
def _tokens(data: Any, ends: Any, valid: Any) -> tuple[Any, Any, Any, Any, Any]:
    """`matching_text._TOKEN.findall` over each string upper-cased (ASCII letters; other bytes
    only end tokens): (bytes, ends, row, order within its row) of every token, and the rows
    left to Python."""
    n = ends.shape[0] - 1
    upper = np.empty(data.shape[0], dtype=np.uint8)
    for p in range(data.shape[0]):
        b = data[p]
        upper[p] = b - 32 if 97 <= b <= 122 else b
    odd = _left_to_python(upper, ends, valid, UPPER_TO_ASCII)
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
    return out, out_ends, row[:t].copy(), order[:t].copy(), odd


def tokens(strings: Strings) -> tuple[Strings, np.ndarray, np.ndarray]:
    """`matching_text.remittance_tokens` of each string: (tokens, row of each, order in its row),
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


@njit(cache=True, nogil=True)
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
