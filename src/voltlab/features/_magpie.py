"""Magpie element tables and a fast formula parser (private helpers of :mod:`voltlab.features.composition`).

The element data are read from matminer's own installed files
(``matminer/utils/data_files/magpie_elementdata/<Property>.table``, one line
per element Z = 1..118), never retyped, and post-processed exactly as
matminer's ``MagpieData(impute_nan=True)`` does: a line that is missing or
not a number becomes NaN, then every NaN is replaced by the mean of that
property over the elements that have a value.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Sequence
from types import ModuleType

import numpy as np
import numpy.typing as npt

from voltlab.errors import DependencyError

__all__ = [
    "MAGPIE_PROPERTIES",
    "MAGPIE_UNITS",
    "element_symbols",
    "import_pymatgen_core",
    "magpie_table",
    "parse_simple_formula",
    "parse_simple_formulas",
    "symbol_index",
]

#: Properties of matminer's ``ElementProperty.from_preset("magpie")``, in its order.
MAGPIE_PROPERTIES: tuple[str, ...] = (
    "Number",
    "MendeleevNumber",
    "AtomicWeight",
    "MeltingT",
    "Column",
    "Row",
    "CovalentRadius",
    "Electronegativity",
    "NsValence",
    "NpValence",
    "NdValence",
    "NfValence",
    "NValence",
    "NsUnfilled",
    "NpUnfilled",
    "NdUnfilled",
    "NfUnfilled",
    "NUnfilled",
    "GSvolume_pa",
    "GSbandgap",
    "GSmagmom",
    "SpaceGroupNumber",
)

#: Unit suffix of each property in voltlab's labels ("" = dimensionless count or index).
MAGPIE_UNITS: dict[str, str] = {
    "Number": "",
    "MendeleevNumber": "",
    "AtomicWeight": "g_per_mol",
    "MeltingT": "kelvin",
    "Column": "",
    "Row": "",
    "CovalentRadius": "pm",
    "Electronegativity": "pauling",
    "NsValence": "electrons",
    "NpValence": "electrons",
    "NdValence": "electrons",
    "NfValence": "electrons",
    "NValence": "electrons",
    "NsUnfilled": "electrons",
    "NpUnfilled": "electrons",
    "NdUnfilled": "electrons",
    "NfUnfilled": "electrons",
    "NUnfilled": "electrons",
    "GSvolume_pa": "angstrom3_per_atom",
    "GSbandgap": "ev",
    "GSmagmom": "bohr_magneton_per_atom",
    "SpaceGroupNumber": "",
}

N_ELEMENTS = 118

# A "simple" formula: element symbols and (), [] or {} groups, each followed by an
# optional plain decimal amount. Anything else (charges, spaces, '*', exponents)
# goes to pymatgen's parser.
_NUM = r"(\d+(?:\.\d*)?|\.\d+)?"
_TOKEN = re.compile(r"([A-Z][a-z]?)" + _NUM + r"|([(\[{])|([)\]}])" + _NUM)
# pymatgen's Composition drops amounts below this (Composition.amount_tolerance).
AMOUNT_TOLERANCE = 1e-8


def import_pymatgen_core() -> ModuleType:
    """``pymatgen.core``, or a :class:`DependencyError` saying how to install it."""
    try:
        import pymatgen.core
    except ImportError as exc:
        raise DependencyError(
            "composition features need pymatgen (formula parsing, element data); install it with "
            "`pip install pymatgen matminer` (versions pinned in constraints.txt)"
        ) from exc
    return pymatgen.core


@functools.cache
def element_symbols() -> tuple[str, ...]:
    """Element symbols in atomic-number order, Z = 1..118 (index Z - 1), from pymatgen."""
    Element = import_pymatgen_core().Element
    return tuple(Element.from_Z(z).symbol for z in range(1, N_ELEMENTS + 1))


@functools.cache
def symbol_index() -> dict[str, int]:
    """Symbol -> column index (Z - 1)."""
    return {s: k for k, s in enumerate(element_symbols())}


def _table_dir() -> importlib.resources.abc.Traversable:
    try:
        root = importlib.resources.files("matminer.utils.data_files")
    except ModuleNotFoundError as exc:
        raise DependencyError(
            "the Magpie element tables are read from the installed matminer package, which is missing; "
            "install it with `pip install matminer` (pinned in constraints.txt)"
        ) from exc
    return root.joinpath("magpie_elementdata")


@functools.cache
def magpie_table(properties: Sequence[str] = MAGPIE_PROPERTIES) -> npt.NDArray[np.float64]:
    """Element property table, shape (118, n_properties), NaNs imputed as matminer does.

    Parameters
    ----------
    properties
        Names of matminer's Magpie ``.table`` files (without the suffix).

    Returns
    -------
    numpy.ndarray
        ``table[Z - 1, j]`` is property ``properties[j]`` of element Z, in the
        units of the Magpie files.
    """
    folder = _table_dir()
    out = np.full((N_ELEMENTS, len(properties)), np.nan)
    for j, name in enumerate(properties):
        lines = folder.joinpath(f"{name}.table").read_text().splitlines()
        for z in range(N_ELEMENTS):
            try:
                out[z, j] = float(lines[z])
            except (ValueError, IndexError):
                out[z, j] = np.nan
        col = out[:, j]
        col[np.isnan(col)] = np.nanmean(col)
    out.setflags(write=False)
    return out


def parse_simple_formula(formula: str) -> dict[int, float] | None:
    """Element index (Z - 1) -> amount of a simple formula, or None if it needs pymatgen's parser.

    Reproduces pymatgen's ``Composition(formula)`` for the formulas it accepts
    (tested on every formula of the shared datasets): a group's amounts are
    multiplied by its factor, repeated symbols are summed in order of
    appearance, a missing amount is 1, amounts below 1e-8 are dropped, surrounding
    whitespace is ignored. Returns
    None (so the caller falls back to pymatgen) for anything else, including
    unknown symbols and unbalanced brackets, so that error messages come from
    one place.
    """
    formula = formula.strip()
    index = symbol_index()
    # Each open group is a list of (column, amount) tokens in order of appearance.
    stack: list[list[tuple[int, float]]] = [[]]
    pos = 0
    for m in _TOKEN.finditer(formula):
        if m.start() != pos:
            return None
        pos = m.end()
        sym, num, opening, _closing, factor = m.groups()
        if sym is not None:
            k = index.get(sym)
            if k is None:
                return None
            stack[-1].append((k, float(num) if num else 1.0))
        elif opening is not None:
            stack.append([])
        else:
            if len(stack) == 1 or not stack[-1]:
                return None
            mult = float(factor) if factor else 1.0
            merged: dict[int, float] = {}
            for k, amt in stack.pop():
                merged[k] = merged.get(k, 0.0) + amt * mult
            stack[-1].extend(merged.items())
    if pos != len(formula) or len(stack) != 1 or not stack[0]:
        return None
    amounts: dict[int, float] = {}
    for k, amt in stack[0]:
        amounts[k] = amounts.get(k, 0.0) + amt
    return {k: v for k, v in amounts.items() if v >= AMOUNT_TOLERANCE}


#: What :func:`parse_simple_formulas` takes: symbols each with an optional plain amount of at
#: most 15 digits in all (so its digits are an exact float64 integer); anything else (groups,
#: spaces, "2." or ".5", longer amounts, repeated symbols, tiny amounts) is left to
#: :func:`parse_simple_formula`, which handles it as before.
_PLAIN_FORMULA = r"^(?:[A-Z][a-z]?(?:[0-9]{1,15}(?:\.[0-9]{1,15})?)?)+$"
_MAX_DIGITS = 15
_POW10 = 10.0 ** np.arange(_MAX_DIGITS + 1)  # exact powers of ten


@functools.cache
def _symbol_codes() -> npt.NDArray[np.int64]:
    """Column (Z - 1) of each symbol by code ``(upper - 'A') * 27 + (lower - 'a' + 1 or 0)``; -1 if none."""
    table = np.full(26 * 27, -1, dtype=np.int64)
    for k, sym in enumerate(element_symbols()):
        table[(ord(sym[0]) - 65) * 27 + (ord(sym[1]) - 96 if len(sym) > 1 else 0)] = k
    return table


def parse_simple_formulas(
    items: Sequence[object],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """:func:`parse_simple_formula` of many plain formulas at once, on the bytes of an Arrow string array.

    One regular-expression pass (Arrow) picks the plain formulas; their symbols and amounts are
    then read with numpy from the concatenated bytes: a token starts at each capital letter, its
    amount is its digits as an exact integer divided by a power of ten, which rounds once, as
    Python's ``float`` does (the same double).

    Returns
    -------
    taken : numpy.ndarray
        Shape (n,): which items were parsed here (plain formula strings of known symbols, each
        symbol once, every amount >= the tolerance); the others need the per-formula parser.
    index, amount : numpy.ndarray
        Shape (n_taken, K): element columns (Z - 1) in order of appearance and their amounts,
        padded with column 0 / amount 0; row for row what ``parse_simple_formula`` gives.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if all(isinstance(x, str) for x in items):
        arr = pa.array(items, type=pa.string())
    else:  # Compositions (or bytes, which Arrow would take as text) go the per-formula way
        arr = pa.array([x if isinstance(x, str) else None for x in items], type=pa.string())
    taken = pc.fill_null(pc.match_substring_regex(arr, _PLAIN_FORMULA), False).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(taken)
    if rows.size == 0:
        return taken, np.zeros((0, 1), dtype=np.int64), np.zeros((0, 1))
    plain = arr.take(pa.array(rows))
    offsets = np.frombuffer(plain.buffers()[1], dtype=np.int32, count=len(plain) + 1, offset=plain.offset * 4)
    b = np.frombuffer(plain.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    upper = (b >= 65) & (b <= 90)  # every plain string starts with one: tokens never span two strings
    starts = np.flatnonzero(upper)
    n_tok = starts.size
    # the symbol: a capital, and a small letter if one follows
    nxt = np.minimum(starts + 1, b.size - 1)
    lower = (b[nxt] >= 97) & (b[nxt] <= 122) & (starts + 1 < b.size)
    second = np.where(lower, b[nxt].astype(np.int64) - 96, 0)
    col = _symbol_codes()[(b[starts].astype(np.int64) - 65) * 27 + second]
    # the amount: its digits as one integer (exact: at most 15 digits), over 10 ** (digits after the point)
    token = np.cumsum(upper, dtype=np.int32) - 1  # token of each byte
    is_digit = (b >= 48) & (b <= 57)
    digit_pos = np.flatnonzero(is_digit)
    tok_d = token[digit_pos]
    n_digits = np.bincount(tok_d, minlength=n_tok)
    first_digit = np.cumsum(n_digits) - n_digits
    exponent = n_digits[tok_d] - 1 - (np.arange(digit_pos.size) - first_digit[tok_d])
    ok_token = (col >= 0) & (n_digits <= _MAX_DIGITS)
    exponent = np.minimum(exponent, _MAX_DIGITS)  # (tokens with more digits are not taken)
    mantissa = np.bincount(tok_d, weights=(b[digit_pos] - 48) * _POW10[exponent], minlength=n_tok)
    dot_pos = np.flatnonzero(b == 46)
    tok_dot = token[dot_pos]
    digits_before_dot = np.cumsum(is_digit, dtype=np.int32)[dot_pos] - first_digit[tok_dot]
    after_dot = np.zeros(n_tok, dtype=np.int64)
    after_dot[tok_dot] = n_digits[tok_dot] - digits_before_dot
    amount_tok = np.where(n_digits > 0, mantissa / _POW10[np.minimum(after_dot, _MAX_DIGITS)], 1.0)
    ok_token &= amount_tok >= AMOUNT_TOLERANCE
    # tokens per formula and their places in the padded table
    string_of = np.searchsorted(offsets, starts + offsets[0], side="right") - 1
    lengths = np.bincount(string_of, minlength=rows.size)
    width = int(lengths.max())
    pos = np.arange(n_tok) - (np.cumsum(lengths) - lengths)[string_of]
    index = np.full((rows.size, width), -1, dtype=np.int64)  # -1: padding, for the repeat check
    amount = np.zeros((rows.size, width))
    index[string_of, pos] = np.where(col >= 0, col, -2 - pos)
    amount[string_of, pos] = amount_tok
    good = np.ones(rows.size, dtype=bool)
    good[string_of[~ok_token]] = False
    # a symbol written twice (LiFeLiO2) is summed by the per-formula parser: leave those rows to it
    ordered = np.sort(np.where(index >= 0, index, -1 - np.arange(width)), axis=1)
    good &= ~(ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
    index[index < 0] = 0
    taken[rows[~good]] = False
    w = int(lengths[good].max()) if good.any() else 1  # padded to the widest row taken
    return taken, index[good, :w], amount[good, :w]
