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
