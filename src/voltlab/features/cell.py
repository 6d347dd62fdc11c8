"""Unit-cell features from lattice parameters and cell contents: crystal descriptors without atomic positions.

Literature tables of solid electrolytes and electrodes (OBELiX, the Liverpool
ionics database, ICSD summaries) give a material's composition, space group
and lattice parameters for far more entries than have a full CIF. From those
numbers alone :class:`CellFeaturizer` (matminer protocol) computes the cell
descriptors that :class:`~voltlab.features.structure.StructureFeaturizer`
computes from a structure, where they need no atomic positions, plus the
working ion's concentration and the disorder implied by non-integer cell
contents.

Input: one mapping per material (a dict, a pandas row) or a DataFrame, with

==============================================  ===================================================
``cell_composition``                            atoms per unit cell, e.g. ``"Li56La24Zr16O96"``
                                                (or ``composition`` + ``formula_units_per_cell``:
                                                the formula unit times Z)
``a_angstrom``, ``b_angstrom``, ``c_angstrom``  cell edge lengths, Å (> 0)
``alpha_degree``, ``beta_degree``,              cell angles, degrees, in (0, 180) and forming a
``gamma_degree``                                cell (positive volume)
``space_group_number``                          international number 1-230; optional (NaN)
==============================================  ===================================================

Features (``<ion>`` is the working ion, ``li`` by default):

=========================================  ============================================================
``density_g_per_cm3``                      cell mass / cell volume
``volume_angstrom3``                       cell volume, abc sqrt(1 - cos²α - cos²β - cos²γ + 2 cosα cosβ cosγ)
``volume_per_atom_angstrom3``              cell volume / atoms in the cell
``packing_fraction_ionic_radii``           sum of (4/3) pi r^3 over the cell's atoms / cell volume; radii and
``packing_fraction_atomic_radii``          anion rule exactly as in ``StructureFeaturizer`` (equal to its
                                           values for the same cell and contents)
``a_angstrom`` ... ``gamma_degree``        the lattice parameters as given
``axis_ratio_max_min``                     longest / shortest of a, b, c
``space_group_number``                     as given (NaN when missing)
``crystal_system_<name>``                  one-hot of the 7 crystal systems (NaN without a space group)
``atoms_per_cell``                         sum of the cell contents
``<ion>_atomic_fraction``                  working-ion atoms / all atoms
``<ion>_per_nm3``                          working-ion number density, atoms per nm³ (carrier
                                           concentration if every ion is mobile)
``<ion>_mean_spacing_angstrom``            (cell volume / working-ion atoms)^(1/3): the edge of the cube
                                           each ion has to itself; a/2 for antifluorite Li2O, whose Li
                                           form a simple cubic lattice of edge a/2. NaN without the ion
``<ion>_per_anion``                        working-ion atoms / anion atoms (NaN without anions)
``volume_per_anion_angstrom3``             cell volume / anion atoms: the anion framework's openness
``noninteger_content_per_atom``            sum over elements of |n - round(n)| / atoms per cell: 0 for
                                           integer cell contents; non-integer contents mean partially
                                           occupied sites (aliovalent doping, Li off-stoichiometry)
``noninteger_elements``                    number of elements with a non-integer count (tolerance 1e-6)
``<ion>_noninteger_content``               |n_ion - round(n_ion)| of the cell
``composition_entropy_kb_per_atom``        -sum x ln x over the atomic fractions x (units of k_B per atom)
=========================================  ============================================================

The cell contents must be those of the cell whose parameters are given (a
conventional cell and a primitive cell have different contents and
volumes); per-atom and per-volume features then do not depend on the
choice, the cell-size features (``volume_angstrom3``, ``atoms_per_cell``,
the non-integer counts) do.

Vectorised: the formulas are parsed once each (voltlab's composition parser), then numpy
computes every feature of the table at once on the (rows x elements present) arrays, with the
element tables built once from pymatgen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from voltlab.errors import DataFormatError
from voltlab.features.base import BaseFeaturizer
from voltlab.features.composition import _parse_padded
from voltlab.features.structure import (
    _DENSITY_FACTOR,
    CRYSTAL_SYSTEMS,
    PYMATGEN_BIBTEX,
    STRUCTURE_ANION_ELEMENTS,
    element_index,
    element_table,
    ionic_radii,
)

__all__ = ["CELL_INPUTS", "CellFeaturizer", "cell_volume_angstrom3"]

#: Lattice inputs of :class:`CellFeaturizer`, in the order of its lattice features.
CELL_INPUTS: tuple[str, ...] = ("a_angstrom", "b_angstrom", "c_angstrom", "alpha_degree", "beta_degree",
                                "gamma_degree")
_NONINTEGER_TOL = 1e-6


def cell_volume_angstrom3(a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike, alpha: npt.ArrayLike,
                          beta: npt.ArrayLike, gamma: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Volume of cells with edges ``a, b, c`` (Å) and angles ``alpha, beta, gamma`` (degrees), Å³.

    NaN where the angles do not form a cell (the factor under the square root is not positive).

    Examples
    --------
    >>> float(cell_volume_angstrom3(2.0, 3.0, 4.0, 90.0, 90.0, 90.0))
    24.0
    """
    ca, cb, cg = (np.cos(np.radians(np.asarray(v, dtype=np.float64))) for v in (alpha, beta, gamma))
    factor = 1.0 - ca**2 - cb**2 - cg**2 + 2.0 * ca * cb * cg
    with np.errstate(invalid="ignore"):
        vol = np.asarray(a, dtype=np.float64) * np.asarray(b, dtype=np.float64) * np.asarray(c, dtype=np.float64) \
            * np.sqrt(np.where(factor > 0, factor, np.nan))
    return np.asarray(vol, dtype=np.float64)


class CellFeaturizer(BaseFeaturizer):
    """Cell, symmetry, working-ion and disorder features from lattice parameters and cell contents.

    Parameters
    ----------
    ion
        Working ion whose concentration is described (an element symbol, default ``"Li"``);
        its features are named ``<ion lower case>_...``.

    Raises
    ------
    DataFormatError
        ``ion`` is not an element symbol.

    Examples
    --------
    Antifluorite Li2O (Fm-3m, a = 4.619 Å, 4 formula units per cell): its Li ions form a
    simple cubic lattice of edge a / 2.

    >>> f = CellFeaturizer()
    >>> row = {"composition": "Li2O", "formula_units_per_cell": 4, "a_angstrom": 4.619,
    ...        "b_angstrom": 4.619, "c_angstrom": 4.619, "alpha_degree": 90, "beta_degree": 90,
    ...        "gamma_degree": 90, "space_group_number": 225}
    >>> x = dict(zip(f.feature_labels(), f.featurize(row)))
    >>> round(x["li_mean_spacing_angstrom"], 4), round(x["li_per_nm3"], 2)
    (2.3095, 81.18)
    """

    def __init__(self, ion: str = "Li") -> None:
        if not isinstance(ion, str) or ion not in set(element_table()["symbols"].tolist()):
            raise DataFormatError(f"ion must be an element symbol such as 'Li' or 'Na', got {ion!r}", value=ion)
        self.ion = ion

    # ------------------------------------------------------------------ protocol

    def feature_labels(self) -> list[str]:
        """Feature names with units (see the module docstring)."""
        p = self.ion.lower()
        return [
            "density_g_per_cm3", "volume_angstrom3", "volume_per_atom_angstrom3", "packing_fraction_ionic_radii",
            "packing_fraction_atomic_radii", *CELL_INPUTS, "axis_ratio_max_min", "space_group_number",
            *[f"crystal_system_{name}" for name, _ in CRYSTAL_SYSTEMS], "atoms_per_cell",
            f"{p}_atomic_fraction", f"{p}_per_nm3", f"{p}_mean_spacing_angstrom", f"{p}_per_anion",
            "volume_per_anion_angstrom3", "noninteger_content_per_atom", "noninteger_elements",
            f"{p}_noninteger_content", "composition_entropy_kb_per_atom",
        ]

    def citations(self) -> list[str]:
        """pymatgen (element data: masses, radii)."""
        return [PYMATGEN_BIBTEX]

    def implementors(self) -> list[str]:
        """Authors of the implementation."""
        return ["voltlab developers"]

    def featurize(self, x: Mapping[str, Any]) -> list[float]:
        """Features of one material.

        Parameters
        ----------
        x
            A mapping with the keys of the module docstring (``cell_composition``, or
            ``composition`` and ``formula_units_per_cell``; the six lattice parameters;
            optionally ``space_group_number``).

        Returns
        -------
        list of float
            In the order of :meth:`feature_labels`; units in the labels.

        Raises
        ------
        DataFormatError
            A missing key, an unparseable formula, a lattice parameter that is not a positive
            finite length or an angle that does not form a cell, or a space-group number
            outside 1-230.
        """
        if not isinstance(x, Mapping):
            raise DataFormatError(f"expected a mapping of cell inputs (a dict or a pandas row), got "
                                  f"{type(x).__name__}", value=x)
        return [float(v) for v in self._table(pd.DataFrame([dict(x)]), ignore_errors=False)[0][0]]

    def featurize_many(  # type: ignore[override]
        self, items: pd.DataFrame | Iterable[Mapping[str, Any]], *, ignore_errors: bool = False,
        index: Sequence[Any] | None = None,
    ) -> pd.DataFrame:
        """Features of many materials (vectorised).

        Parameters
        ----------
        items
            A DataFrame with the input columns, or mappings (one per material).
        ignore_errors
            If True, a row with bad inputs gets NaN features and its message is kept in
            ``df.attrs["errors"]`` (position -> message); otherwise its ``DataFormatError``
            (naming the row and the column) is raised.
        index
            Row labels (default: the DataFrame's index, else 0..n-1).

        Raises
        ------
        DataFormatError
            A missing input column (always), or a bad row with ``ignore_errors=False``.
        """
        if isinstance(items, pd.DataFrame):
            table, own_index = items, items.index
        else:
            rows = list(items)
            for k, r in enumerate(rows):
                if not isinstance(r, Mapping):
                    raise DataFormatError(f"expected mappings of cell inputs, got {type(r).__name__}", row=k,
                                          value=r)
            table, own_index = pd.DataFrame([dict(r) for r in rows]), None
        values, errors = self._table(table.reset_index(drop=True), ignore_errors=ignore_errors)
        labels = index if index is not None else own_index
        df = pd.DataFrame(values, columns=self.feature_labels(), index=list(labels) if labels is not None else None)
        df.attrs["errors"] = errors
        return df

    # ------------------------------------------------------------------ pieces

    def _table(self, t: pd.DataFrame, *, ignore_errors: bool) -> tuple[npt.NDArray[np.float64], dict[int, str]]:
        n = len(t)
        errors: dict[int, str] = {}

        def fail(rows: npt.NDArray[np.bool_], column: str, message: str) -> None:
            for r in np.flatnonzero(rows):
                if int(r) in errors:
                    continue
                err = DataFormatError(message, row=int(r), column=column, value=t[column].iloc[r]
                                      if column in t.columns else None)
                if not ignore_errors:
                    raise err
                errors[int(r)] = str(err)

        idx, amounts = self._cell_amounts(t, fail)
        lat = np.column_stack([self._numbers(t, c) for c in CELL_INPUTS]) if n else np.zeros((0, 6))
        for j, c in enumerate(CELL_INPUTS[:3]):
            fail(~(np.isfinite(lat[:, j]) & (lat[:, j] > 0)), c, "a cell edge must be a positive finite length in Å")
        for j, c in enumerate(CELL_INPUTS[3:], start=3):
            fail(~(np.isfinite(lat[:, j]) & (lat[:, j] > 0) & (lat[:, j] < 180)), c,
                 "a cell angle must be in degrees, between 0 and 180")
        vol = cell_volume_angstrom3(*lat.T) if n else np.zeros(0)
        fail(~np.isfinite(vol), "alpha_degree", "the angles alpha, beta, gamma do not form a cell (zero or "
             "negative volume); check them and their order")
        sg = self._numbers(t, "space_group_number", optional=True)
        fail(np.isfinite(sg) & ~((sg >= 1) & (sg <= 230) & (sg == np.round(sg))), "space_group_number",
             "a space-group number must be an integer from 1 to 230 (or missing)")
        out = self._features(idx, amounts, lat, vol, sg)
        if errors:
            out[list(errors)] = np.nan
        return out, errors

    def _numbers(self, t: pd.DataFrame, column: str, *, optional: bool = False) -> npt.NDArray[np.float64]:
        if column not in t.columns:
            if optional:
                return np.full(len(t), np.nan)
            raise DataFormatError(f"missing input {column!r}; cell features need {', '.join(CELL_INPUTS)} "
                                  "(Å, degrees), the cell contents and optionally space_group_number",
                                  column=column)
        return pd.to_numeric(t[column], errors="coerce").to_numpy(dtype=np.float64)

    def _cell_amounts(self, t: pd.DataFrame, fail: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Atoms per cell of every row as padded (n, K) element columns (Z - 1) and amounts (padding 0,
        invalid rows NaN): ``cell_composition``, or ``composition`` x Z."""
        if "cell_composition" in t.columns:
            column, z = "cell_composition", np.ones(len(t))
        elif "composition" in t.columns and "formula_units_per_cell" in t.columns:
            column, z = "composition", self._numbers(t, "formula_units_per_cell")
            fail(~(np.isfinite(z) & (z > 0)), "formula_units_per_cell",
                 "formula_units_per_cell (Z) must be a positive number")
        else:
            raise DataFormatError("missing the cell contents: give 'cell_composition' (atoms per unit cell) or "
                                  "'composition' with 'formula_units_per_cell' (Z)", column="cell_composition")
        idx, amt, bad = _parse_padded(t[column].tolist(), ignore_errors=True)
        for r, msg in bad.items():
            fail(np.arange(len(t)) == r, column, msg)
        empty = ~(amt.sum(axis=1) > 0)
        fail(empty & ~np.isin(np.arange(len(t)), list(bad)), column, "the cell contents have no atoms")
        return idx, amt * z[:, None]

    def _features(self, idx: npt.NDArray[np.int64], amt: npt.NDArray[np.float64], lat: npt.NDArray[np.float64],
                  vol: npt.NDArray[np.float64], sg: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """All features from the padded cell contents (element columns ``idx``, amounts ``amt``)."""
        tab = element_table()
        present = np.asarray(amt > 0)
        std = np.isin(idx, [element_index(e) for e in STRUCTURE_ANION_ELEMENTS]) & present
        has_std = np.asarray(std.any(axis=1), dtype=bool)
        is_anion = std | (np.isin(idx, [element_index("P"), element_index("H")]) & present & ~has_std[:, None])
        atomic = tab["atomic"][idx]
        ionic = ionic_radii(idx, is_anion)
        sphere = 4.0 / 3.0 * math.pi
        with np.errstate(invalid="ignore", divide="ignore"):
            n_atoms = amt.sum(axis=1)
            v_ionic = np.where(present, amt * sphere * ionic**3, 0.0).sum(axis=1)
            v_atomic = np.where(present, amt * sphere * atomic**3, 0.0).sum(axis=1)
            mass = np.where(present, amt * tab["mass"][idx], 0.0).sum(axis=1)
            n_ion = np.where(idx == element_index(self.ion), amt, 0.0).sum(axis=1)
            n_anion = np.where(is_anion, amt, 0.0).sum(axis=1)
            ion_or_nan = np.where(n_ion > 0, n_ion, np.nan)
            anion_or_nan = np.where(n_anion > 0, n_anion, np.nan)
            frac_part = np.abs(amt - np.round(amt))
            x = amt / n_atoms[:, None]
            entropy = -np.where(present, x * np.log(np.where(present, x, 1.0)), 0.0).sum(axis=1)
            abc = lat[:, :3]
            systems = np.full((len(sg), len(CRYSTAL_SYSTEMS)), np.nan)
            ok = np.isfinite(sg)
            last = np.array([n for _, n in CRYSTAL_SYSTEMS])
            which = np.searchsorted(last, sg[ok], side="left")
            systems[ok] = (which[:, None] == np.arange(len(CRYSTAL_SYSTEMS))).astype(float)
            cols = [
                mass / vol * _DENSITY_FACTOR, vol, vol / n_atoms, v_ionic / vol, v_atomic / vol, *lat.T,
                abc.max(axis=1) / abc.min(axis=1), sg, *systems.T, n_atoms,
                n_ion / n_atoms, n_ion / vol * 1000.0, (vol / ion_or_nan) ** (1.0 / 3.0), n_ion / anion_or_nan,
                vol / anion_or_nan, frac_part.sum(axis=1) / n_atoms, (frac_part > _NONINTEGER_TOL).sum(axis=1),
                np.abs(n_ion - np.round(n_ion)), entropy,
            ]
        return np.column_stack(cols).astype(np.float64) if len(vol) else np.zeros((0, len(cols)))
