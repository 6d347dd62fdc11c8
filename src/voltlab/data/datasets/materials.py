"""Loaders for public materials data sets: OBELiX, Materials Project insertion electrodes, doped NCM.

Each loader takes the path of the files as published (no downloads), renames
the columns to snake_case with units in the name, and raises a
:class:`~voltlab.errors.MissingFileError` naming the official source when a
path does not exist.

:func:`load_obelix`
    OBELiX (Therrien et al. 2025): room-temperature Li-ion conductivity of
    599 solid electrolytes with the authors' official train/test split (478 /
    121, from ``train.csv`` / ``test.csv``). Upper bounds written as text
    (``<1E-10``, 37 entries) are kept as censored values.
:func:`load_obelix_structures`
    The 321 OBELiX CIFs as pymatgen structures, read from the archive in memory.
:func:`load_liverpool_ionics`
    The Liverpool Ionics Dataset (820 Li-ion conductivities with temperature); the
    temperature's unit is not stated and mixed, so room-temperature rows are flagged.
:func:`load_mp_insertion_electrodes`
    Materials Project insertion electrodes (4,351 DFT entries, 10 working
    ions); unphysical average voltages are filtered with a stated rule.
:func:`load_doped_ncm`
    168 doped NCM cathodes from 59 papers, with ``group`` = source paper DOI
    for group-aware cross-validation.
"""

from __future__ import annotations

import os
import tarfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from voltlab.data.datasets._common import missing, numeric_column, read_csv_table, require_columns
from voltlab.errors import DataFormatError, DependencyError

__all__ = [
    "DOPED_NCM_SOURCE",
    "LIVERPOOL_AMBIGUOUS_RANGE",
    "LIVERPOOL_ROOM_TEMPERATURE_RANGE",
    "LIVERPOOL_SOURCE",
    "MP_ELECTRODES_SOURCE",
    "OBELIX_SOURCE",
    "ObelixStructures",
    "load_doped_ncm",
    "load_liverpool_ionics",
    "load_mp_insertion_electrodes",
    "load_obelix",
    "load_obelix_structures",
    "read_obelix_table",
]

OBELIX_SOURCE = (
    "https://github.com/NRC-Mila/OBELiX (data/downloads/train.csv and test.csv; CC BY 4.0; "
    "Therrien et al., arXiv:2502.14234)"
)
MP_ELECTRODES_SOURCE = (
    "the Materials Project insertion-electrode collection (https://next-gen.materialsproject.org/batteries; "
    "CC BY 4.0), e.g. the CSV export mp_batteries.csv of github.com/xRantai/project_adm_r"
)
DOPED_NCM_SOURCE = (
    "https://github.com/Tawheed-tariq/Application-of-ML-in-lithium-ion-batteries (NMC_numerical_new.csv and "
    "Dataset_references.docx); voltlab needs the version with the 'dopant' and 'ref_doi' columns "
    "(NMC_doped_with_dopant_and_doi.csv)"
)

_OBELIX_IC = "Ionic conductivity (S cm-1)"
_OBELIX_COLUMNS = {
    "ID": "id",
    "Reduced Composition": "composition",
    "True Composition": "true_composition",
    "Z": "formula_units_per_cell",
    "Space group": "space_group",
    "Space group #": "space_group_number",
    "a": "a_angstrom",
    "b": "b_angstrom",
    "c": "c_angstrom",
    "alpha": "alpha_degree",
    "beta": "beta_degree",
    "gamma": "gamma_degree",
    "Family": "family",
    "DOI": "doi",
    "ICSD ID": "icsd_id",
}

MP_ELECTRODE_FIELDS = (
    # (CSV export header, REST API field, voltlab column); the first five are text
    ("Battery ID", "battery_id", "battery_id"),
    ("Battery Formula", "battery_formula", "battery_formula"),
    ("Working Ion", "working_ion", "working_ion"),
    ("Formula Charge", "formula_charge", "formula_charge"),
    ("Formula Discharge", "formula_discharge", "formula_discharge"),
    ("Max Delta Volume", "max_delta_volume", "max_delta_volume_fraction"),
    ("Average Voltage", "average_voltage", "average_voltage_volt"),
    ("Gravimetric Capacity", "capacity_grav", "gravimetric_capacity_mah_per_g"),
    ("Volumetric Capacity", "capacity_vol", "volumetric_capacity_mah_per_cm3"),
    ("Gravimetric Energy", "energy_grav", "gravimetric_energy_wh_per_kg"),
    ("Volumetric Energy", "energy_vol", "volumetric_energy_wh_per_l"),
    ("Atomic Fraction Charge", "fracA_charge", "atomic_fraction_charge"),
    ("Atomic Fraction Discharge", "fracA_discharge", "atomic_fraction_discharge"),
    ("Stability Charge", "stability_charge", "stability_charge_ev_per_atom"),
    ("Stability Discharge", "stability_discharge", "stability_discharge_ev_per_atom"),
    ("Steps", "num_steps", "steps"),
    ("Max Voltage Step", "max_voltage_step", "max_voltage_step_volt"),
)
"""The Materials Project insertion-electrode fields: one table for the CSV loader and the API client."""
MP_ELECTRODE_TEXT_FIELDS = 5
_MP_COLUMNS = {csv: col for csv, _, col in MP_ELECTRODE_FIELDS}
_MP_TEXT = tuple(csv for csv, _, _ in MP_ELECTRODE_FIELDS[:MP_ELECTRODE_TEXT_FIELDS])

_NCM_COLUMNS = {
    "dopant": "dopant",
    "Li": "li",
    "Ni": "ni",
    "Co": "co",
    "Mn": "mn",
    "M": "dopant_amount",
    "LC_a": "lattice_a_angstrom",
    "LC_c": "lattice_c_angstrom",
    "CV": "cell_volume_angstrom3",
    "CD": "current_density_ma_per_g",
    "V_min": "v_min_volt",
    "V_max": "v_max_volt",
    "Mr_dopant": "dopant_molar_mass_g_per_mol",
    "Mr": "molar_mass_g_per_mol",
    "no_electron_M": "dopant_atomic_number",
    "EN_M": "dopant_electronegativity_pauling",
    "No_iso_dopant": "dopant_isotope_count",
    "E_ion_dopant": "dopant_first_ionisation_energy_kj_per_mol",
    "EA_dopant": "dopant_electron_affinity_ev",
    "AR_dopant": "dopant_atomic_radius_pm",
    "IR_dopant": "dopant_ionic_radius_pm",
    "IC": "initial_discharge_capacity_mah_per_g",
    "EC": "discharge_capacity_cycle50_mah_per_g",
    "ref_doi": "ref_doi",
}
_NCM_FILE = "NMC_doped_with_dopant_and_doi.csv"


# ---------------------------------------------------------------------------- OBELiX


def _obelix_conductivity(raw: pd.Series, path: Path) -> pd.DataFrame:
    """Conductivity, its log10 and the censoring flag from OBELiX's text column."""
    text = raw.astype("string").str.strip()
    censored = text.str.startswith("<").fillna(False).to_numpy(dtype=bool)
    bound = pd.to_numeric(text.where(censored).str.lstrip("<"), errors="coerce").to_numpy(dtype=np.float64)
    value = pd.to_numeric(text.where(~censored), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero((np.isnan(value) & ~censored) | (np.isnan(bound) & censored)
                         | (value <= 0) | (bound <= 0))
    if bad.size:
        r = int(bad[0])
        raise DataFormatError(
            f"conductivity {raw.iloc[r]!r} is neither a positive number (S/cm) nor an upper bound such as "
            f"'<1E-10' ({bad.size} such row(s)); pass the unmodified OBELiX file",
            path=path, row=r, column=_OBELIX_IC, value=raw.iloc[r],
        )
    with np.errstate(invalid="ignore"):
        return pd.DataFrame({
            "ionic_conductivity_s_per_cm": value,
            "log10_ionic_conductivity_s_per_cm": np.log10(value),
            "is_upper_bound": censored,
            "ionic_conductivity_upper_bound_s_per_cm": bound,
            "log10_ionic_conductivity_upper_bound_s_per_cm": np.log10(bound),
        }, index=raw.index)


def read_obelix_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """One OBELiX table (``train.csv``, ``test.csv`` or a file with their columns) in :func:`load_obelix`'s
    columns, without ``split``.

    Raises
    ------
    MissingFileError, SchemaError, DataFormatError
        As :func:`load_obelix`, naming ``path``.
    """
    path = Path(path)
    raw = read_csv_table(path, dtype={_OBELIX_IC: str})
    require_columns(raw, [*_OBELIX_COLUMNS, _OBELIX_IC, "Cif ID"], path, "an OBELiX table")
    out = raw[list(_OBELIX_COLUMNS)].rename(columns=_OBELIX_COLUMNS)
    for col in ("a", "b", "c", "alpha", "beta", "gamma"):
        out[_OBELIX_COLUMNS[col]] = numeric_column(raw, col, path)
    out["icsd_id"] = pd.array(numeric_column(raw, "ICSD ID", path), dtype="Float64").astype("Int64")
    out["has_cif"] = raw["Cif ID"].astype("string").str.strip().eq("done").fillna(False).to_numpy(dtype=bool)
    return pd.concat([out, _obelix_conductivity(raw[_OBELIX_IC], path)], axis=1)


def load_obelix(folder: str | os.PathLike[str]) -> pd.DataFrame:
    """OBELiX solid-electrolyte conductivities with the official train/test split.

    Parameters
    ----------
    folder
        Folder holding OBELiX's ``train.csv`` and ``test.csv`` (from the
        repository's ``data/downloads``).

    Returns
    -------
    pandas.DataFrame
        One row per material (599: 478 ``split == "train"`` then 121
        ``"test"``): ``id``, ``composition`` (the reduced formula),
        ``true_composition``, ``formula_units_per_cell``, ``space_group``,
        ``space_group_number``, lattice ``a_angstrom`` ... ``gamma_degree``,
        ``family``, ``doi``, ``icsd_id``, ``has_cif``, ``split``, and the
        room-temperature total ionic conductivity:

        ``ionic_conductivity_s_per_cm``, ``log10_ionic_conductivity_s_per_cm``
            S/cm and its log10; NaN for censored entries.
        ``is_upper_bound``
            True where the source gives only an upper bound (``<1E-10``).
        ``ionic_conductivity_upper_bound_s_per_cm``, ``log10_..._upper_bound_...``
            That bound (S/cm, log10), NaN elsewhere. Censored rows are kept,
            never dropped: drop them (``df[~df.is_upper_bound]``) or treat the
            bound as a value explicitly.

    Raises
    ------
    MissingFileError
        ``train.csv`` or ``test.csv`` is missing (says where to get them).
    SchemaError, DataFormatError
        A column is missing, a conductivity is neither a positive number nor
        ``<bound``, or an id is in both parts.
    """
    root = Path(folder)
    parts = []
    for split in ("train", "test"):
        p = root / f"{split}.csv"
        if not p.is_file():
            raise missing(p, f"OBELiX {split} split ({split}.csv)", OBELIX_SOURCE)
        part = read_obelix_table(p)
        part.insert(2, "split", split)
        parts.append(part)
    both = set(parts[0]["id"]) & set(parts[1]["id"])
    if both:
        raise DataFormatError(f"ids {sorted(both)[:5]} are in both train.csv and test.csv; the official split is "
                              "disjoint, pass the unmodified files", path=root)
    df = pd.concat(parts, ignore_index=True)
    df.attrs["source"] = OBELIX_SOURCE
    return df


# ---------------------------------------------------------------------------- Liverpool Ionics Dataset

LIVERPOOL_SOURCE = (
    "the Liverpool Ionics Dataset of Li-ion conductors as redistributed by OBELiX "
    "(https://github.com/NRC-Mila/OBELiX, data/misc/LiIonDatabase.csv); the Liverpool data's own licence "
    "is not stated there"
)
_LIVERPOOL_COLUMNS = ["ID", "composition", "source", "temperature", "target", "family"]
#: Recorded temperatures in this range (°C, and not below 0 K as kelvin) are room temperature.
LIVERPOOL_ROOM_TEMPERATURE_RANGE = (15.0, 35.0)
#: Recorded temperatures in this range read as either kelvin near room temperature or as °C.
LIVERPOOL_AMBIGUOUS_RANGE = (250.0, 400.0)


def load_liverpool_ionics(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The Liverpool Ionics Dataset: 820 measured Li-ion conductivities with composition and temperature.

    The file records one temperature column without a unit, and its values run from 5 to 873.
    Some rows are clearly °C (``Li14ZnGe4O16``, 0.125 S/cm "at 300": LISICON reaches that at 300 °C)
    and some clearly kelvin (``Li6.4La3Zr1.7W0.3O12``, 7.9e-4 S/cm "at 303", a room-temperature
    garnet value). The loader therefore converts nothing and says what it can:

    ``temperature_as_recorded``
        The number in the file, no unit assumed.
    ``is_room_temperature``
        Recorded value in ``LIVERPOOL_ROOM_TEMPERATURE_RANGE`` (15-35): room temperature in °C,
        and impossible as kelvin for a conductivity measurement. The safe subset to compare
        with room-temperature data such as OBELiX.
    ``temperature_unit_ambiguous``
        Recorded value in ``LIVERPOOL_AMBIGUOUS_RANGE`` (250-400): kelvin near room temperature
        or °C well above it; do not use these as room-temperature values without checking the paper.

    Parameters
    ----------
    path
        ``LiIonDatabase.csv`` (OBELiX's ``data/misc``), or the folder holding it (or OBELiX's
        folder with ``related_databases/LiIonDatabase.csv``).

    Returns
    -------
    pandas.DataFrame
        One row per measurement: ``id``, ``composition``, ``doi``, ``temperature_as_recorded``,
        ``ionic_conductivity_s_per_cm`` (> 0), ``log10_ionic_conductivity_s_per_cm``, ``family``,
        ``is_room_temperature``, ``temperature_unit_ambiguous``.

    Raises
    ------
    MissingFileError
        The file is not there (says where to get it).
    SchemaError, DataFormatError
        A column is missing, or a conductivity or temperature is not a positive number (the row is named).
    """
    p = Path(path)
    if p.is_dir():
        for cand in (p / "LiIonDatabase.csv", p / "related_databases" / "LiIonDatabase.csv"):
            if cand.is_file():
                p = cand
                break
    if not p.is_file():
        raise missing(p, "Liverpool Ionics Dataset (LiIonDatabase.csv)", LIVERPOOL_SOURCE)
    raw = read_csv_table(p, encoding="utf-8-sig")
    require_columns(raw, _LIVERPOOL_COLUMNS, p, "the Liverpool Ionics Dataset")
    sigma = numeric_column(raw, "target", p, allow_nan=False)
    temp = numeric_column(raw, "temperature", p, allow_nan=False)
    for name, values in (("target", sigma), ("temperature", temp)):
        bad = np.flatnonzero(values <= 0)
        if len(bad):
            r = int(bad[0])
            raise DataFormatError(f"{name} must be > 0 (S/cm for target), got {values[r]!r}; pass the unmodified "
                                  "file", path=p, row=r, column=name)
    lo, hi = LIVERPOOL_ROOM_TEMPERATURE_RANGE
    alo, ahi = LIVERPOOL_AMBIGUOUS_RANGE
    df = pd.DataFrame({
        "id": raw["ID"].astype(str).to_numpy(),
        "composition": raw["composition"].astype(str).str.strip().to_numpy(),
        "doi": raw["source"].astype("string").str.strip().to_numpy(),
        "temperature_as_recorded": temp,
        "ionic_conductivity_s_per_cm": sigma,
        "log10_ionic_conductivity_s_per_cm": np.log10(sigma),
        "family": raw["family"].astype("string").str.strip().to_numpy(),
        "is_room_temperature": (temp >= lo) & (temp <= hi),
        "temperature_unit_ambiguous": (temp >= alo) & (temp <= ahi),
    })
    df.attrs["source"] = LIVERPOOL_SOURCE
    return df


# ---------------------------------------------------------------------------- Materials Project


def load_mp_insertion_electrodes(
    path: str | os.PathLike[str],
    *,
    voltage_range_volt: tuple[float, float] | None = (0.0, 6.0),
    working_ion: str | None = None,
) -> pd.DataFrame:
    """Materials Project insertion electrodes (DFT), with unphysical voltages filtered.

    Parameters
    ----------
    path
        The CSV export (``mp_batteries.csv``, MP's "Batteries Explorer" columns).
    voltage_range_volt
        ``(low, high)``: keep ``low < average_voltage_volt <= high`` (V vs the
        working-ion metal). The default ``(0, 6)`` drops the negative and
        > 6 V averages of alloying/conversion "hosts" (200 of 4,351 rows in
        the pre-2024 export). ``None`` keeps every row.
    working_ion
        Keep only this working ion (``"Li"``, ``"Na"``, ...), after the
        voltage filter.

    Returns
    -------
    pandas.DataFrame
        ``battery_id``, ``battery_formula``, ``working_ion``,
        ``formula_charge``, ``formula_discharge``,
        ``max_delta_volume_fraction``, ``average_voltage_volt``,
        ``gravimetric_capacity_mah_per_g``, ``volumetric_capacity_mah_per_cm3``,
        ``gravimetric_energy_wh_per_kg``, ``volumetric_energy_wh_per_l``,
        ``atomic_fraction_charge``, ``atomic_fraction_discharge``,
        ``stability_charge_ev_per_atom``, ``stability_discharge_ev_per_atom``
        (energy above hull), ``steps``, ``max_voltage_step_volt``.
        ``df.attrs``: ``n_rows_read``, ``n_dropped_voltage`` (rows outside
        the voltage range), ``n_dropped_working_ion``, ``filter`` (the rule, in words).

    Raises
    ------
    MissingFileError
        The file does not exist (says where to get it).
    SchemaError, DataFormatError
        A column is missing, a value is not a number, ids repeat, or bad arguments.
    """
    p = Path(path)
    if not p.is_file():
        raise missing(p, "Materials Project insertion-electrode CSV", MP_ELECTRODES_SOURCE)
    _check_voltage_range(voltage_range_volt)
    raw = read_csv_table(p, dtype=dict.fromkeys(_MP_TEXT, str))
    require_columns(raw, _MP_COLUMNS, p, "a Materials Project insertion-electrode export")
    df = pd.DataFrame({new: raw[old].astype("string").str.strip() if old in _MP_TEXT else numeric_column(raw, old, p)
                       for old, new in _MP_COLUMNS.items()})
    return finish_mp_electrodes(df, voltage_range_volt=voltage_range_volt, working_ion=working_ion, where=p,
                                source=MP_ELECTRODES_SOURCE)


def _check_voltage_range(voltage_range_volt: tuple[float, float] | None) -> None:
    if voltage_range_volt is not None:
        low, high = voltage_range_volt
        if not low < high:
            raise DataFormatError(f"voltage_range_volt must be (low, high) with low < high, got {voltage_range_volt}",
                                  value=voltage_range_volt)


def finish_mp_electrodes(df: pd.DataFrame, *, voltage_range_volt: tuple[float, float] | None,
                         working_ion: str | None, where: str | os.PathLike[str], source: str) -> pd.DataFrame:
    """The checks and filters shared by the CSV loader and the API fetch (columns already voltlab's).

    Raises
    ------
    DataFormatError
        A repeated battery id, a bad voltage range, or a working ion that is not there.
    """
    _check_voltage_range(voltage_range_volt)
    dup = df["battery_id"].duplicated()
    if dup.any():
        r = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataFormatError(f"battery id {df['battery_id'].iloc[r]!r} repeats; each electrode must appear once",
                              path=where, row=r, column="battery_id")
    n_read = len(df)
    rules: list[str] = []
    n_volt = 0
    if voltage_range_volt is not None:
        low, high = voltage_range_volt
        v = df["average_voltage_volt"].to_numpy()
        keep = (v > low) & (v <= high)
        n_volt = int((~keep).sum())
        df = df[keep]
        rules.append(f"{low:g} V < average voltage <= {high:g} V")
    n_ion = 0
    if working_ion is not None:
        ions = sorted(set(df["working_ion"].dropna()))
        if working_ion not in ions:
            raise DataFormatError(f"working_ion {working_ion!r} not in the data; it has {ions}", path=where,
                                  value=working_ion)
        sel = df["working_ion"] == working_ion
        n_ion = int((~sel).sum())
        df = df[sel]
        rules.append(f"working ion {working_ion}")
    df = df.reset_index(drop=True)
    df["steps"] = df["steps"].astype("int64")
    df.attrs.update(n_rows_read=n_read, n_dropped_voltage=n_volt, n_dropped_working_ion=n_ion, filter="; ".join(rules) or "none",
                    source=source)
    return df


# ---------------------------------------------------------------------------- doped NCM


def _ncm_formula(row: pd.Series) -> str:
    parts = [f"Li{row['li']:g}", f"Ni{row['ni']:g}", f"Co{row['co']:g}", f"Mn{row['mn']:g}"]
    if row["dopant_amount"] > 0:
        parts.append(f"{row['dopant']}{row['dopant_amount']:g}")
    return "".join(parts) + "O2"


def load_doped_ncm(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Doped NCM cathodes (Li, Ni, Co, Mn, dopant M): composition, structure, cycling window, capacities.

    Parameters
    ----------
    path
        ``NMC_doped_with_dopant_and_doi.csv`` (the table with ``dopant`` and
        ``ref_doi`` columns) or the folder holding it.

    Returns
    -------
    pandas.DataFrame
        168 rows: ``dopant``, amounts per formula unit ``li``, ``ni``, ``co``,
        ``mn``, ``dopant_amount``, ``lattice_a_angstrom``,
        ``lattice_c_angstrom``, ``cell_volume_angstrom3``,
        ``current_density_ma_per_g``, ``v_min_volt``, ``v_max_volt``, the
        dopant descriptors of the source (``dopant_molar_mass_g_per_mol``,
        ``molar_mass_g_per_mol``, ``dopant_atomic_number``,
        ``dopant_electronegativity_pauling``, ``dopant_isotope_count``,
        ``dopant_first_ionisation_energy_kj_per_mol``,
        ``dopant_electron_affinity_ev``, ``dopant_atomic_radius_pm``,
        ``dopant_ionic_radius_pm``), the targets
        ``initial_discharge_capacity_mah_per_g`` and
        ``discharge_capacity_cycle50_mah_per_g``, ``ref_doi``, ``group`` (= the
        source paper's DOI, 59 groups: use group-aware CV) and ``formula``
        (``Li{li}Ni{ni}Co{co}Mn{mn}{dopant}{amount}O2``, the dopant omitted
        when its amount is 0; oxygen fixed at 2).

    Raises
    ------
    MissingFileError
        The file does not exist (says where to get it).
    SchemaError, DataFormatError
        A column is missing (e.g. the original ``NMC_numerical_new.csv``,
        which lacks ``dopant`` and ``ref_doi``) or a value is not a number.
    """
    p = Path(path)
    if p.is_dir():
        p = p / _NCM_FILE
    if not p.is_file():
        raise missing(p, "doped-NCM table", DOPED_NCM_SOURCE)
    raw = read_csv_table(p, encoding="utf-8-sig", dtype={"dopant": str, "ref_doi": str})
    require_columns(raw, _NCM_COLUMNS, p, "the doped-NCM table with 'dopant' and 'ref_doi' columns")
    text = ("dopant", "ref_doi")
    df = pd.DataFrame({new: raw[old].astype("string").str.strip() if old in text else numeric_column(raw, old, p)
                       for old, new in _NCM_COLUMNS.items()})
    no_doi = df["ref_doi"].isna() | (df["ref_doi"] == "")
    if no_doi.any():
        r = int(np.flatnonzero(no_doi.to_numpy())[0])
        raise DataFormatError("row has no source DOI; every row needs its paper for group-aware CV",
                              path=p, row=r, column="ref_doi")
    df["group"] = df["ref_doi"].str.lower()
    df["formula"] = df.apply(_ncm_formula, axis=1).astype("string")
    df.attrs["source"] = DOPED_NCM_SOURCE
    return df


# ---------------------------------------------------------------------------- OBELiX structures

_OBELIX_CIF_TARBALL = "all_cifs.tar.gz"


class ObelixStructures(NamedTuple):
    """Result of :func:`load_obelix_structures`.

    Attributes
    ----------
    structures
        OBELiX ``ID`` -> pymatgen ``Structure`` (the cell of the CIF, partial
        occupancies as disordered sites), in the archive's order.
    skipped
        ``"<tarball>:<member>"`` -> why that CIF was not loaded (parse error,
        repeated id, ...); empty for the published archive.
    """

    structures: dict[str, Any]
    skipped: dict[str, str]


def _obelix_tarball(path: Path) -> Path:
    if path.is_file():
        return path
    for cand in (path / "cifs" / _OBELIX_CIF_TARBALL, path / _OBELIX_CIF_TARBALL):
        if cand.is_file():
            return cand
    raise missing(path / "cifs" / _OBELIX_CIF_TARBALL, "OBELiX CIF archive (all_cifs.tar.gz)",
                  OBELIX_SOURCE.replace("train.csv and test.csv", "all_cifs.tar.gz"))


def _obelix_cif_members(
    folder: str | os.PathLike[str], ids: Iterable[str] | None
) -> tuple[Path, dict[str, tuple[str, str]], dict[str, str]]:
    """The archive, ``ID -> (member name, CIF text)`` and the skipped members with reasons."""
    tarball = _obelix_tarball(Path(folder))
    wanted = None if ids is None else {str(i) for i in ids}
    members: dict[str, tuple[str, str]] = {}
    skipped: dict[str, str] = {}
    try:
        with tarfile.open(tarball, "r:*") as tar:
            for member in tar:
                if not member.isfile() or not member.name.lower().endswith(".cif"):
                    continue
                cif_id = Path(member.name).stem
                if wanted is not None and cif_id not in wanted:
                    continue
                where = f"{tarball}:{member.name}"
                if cif_id in members:
                    skipped[where] = f"id {cif_id!r} repeats in the archive; the first CIF was kept"
                    continue
                handle = tar.extractfile(member)
                if handle is None:  # pragma: no cover - isfile() members always have data
                    skipped[where] = "member has no data"
                    continue
                members[cif_id] = (member.name, handle.read().decode("utf-8", errors="replace"))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataFormatError(f"cannot read the OBELiX CIF archive ({type(exc).__name__}: {exc}); pass the "
                              "unmodified all_cifs.tar.gz", path=tarball) from exc
    return tarball, members, skipped


def read_obelix_cifs(folder: str | os.PathLike[str], *, ids: Iterable[str] | None = None) -> ObelixStructures:
    """OBELiX CIF *texts* by ``ID``, read from the archive without parsing them (about 1 ms each).

    For parsing somewhere else: ``featurize_partitions(StructureFeaturizer(), texts, scheduler=...)``
    parses and featurises on the Dask workers (CIF parsing, ~60 ms each, is most of the cost).

    Parameters
    ----------
    folder
        The OBELiX folder (holding ``cifs/all_cifs.tar.gz`` or ``all_cifs.tar.gz``), or the archive.
    ids
        Only these ``ID`` values (default: every CIF of the archive).

    Returns
    -------
    ObelixStructures
        ``(structures, skipped)`` with ``structures`` mapping ``ID`` to CIF text (UTF-8, bad
        bytes replaced); a repeated id is left out and ``skipped["<archive>:<member>"]`` says so.

    Raises
    ------
    MissingFileError
        The archive is not there (says where to get it).
    DataFormatError
        The archive is not a readable tar file.
    """
    _, members, skipped = _obelix_cif_members(folder, ids)
    return ObelixStructures({cif_id: text for cif_id, (_, text) in members.items()}, skipped)


def load_obelix_structures(
    folder: str | os.PathLike[str], *, ids: Iterable[str] | None = None
) -> ObelixStructures:
    """OBELiX crystal structures, read from the CIF archive in memory (nothing is extracted to disk).

    Parameters
    ----------
    folder
        The OBELiX folder (holding ``cifs/all_cifs.tar.gz`` or
        ``all_cifs.tar.gz``), or the archive itself.
    ids
        Load only these ``ID`` values (default: every CIF of the archive).

    Returns
    -------
    ObelixStructures
        ``(structures, skipped)``: ``structures`` maps the OBELiX ``ID``
        (the member's file stem, ``all_randomized_cifs/<ID>.cif``, the same
        ids as ``load_obelix(folder)["id"]`` where ``has_cif``) to a pymatgen
        ``Structure`` in the cell as written (``primitive=False``, partial
        occupancies kept as disordered sites); a CIF that cannot be read is
        left out and ``skipped["<archive>:<member>"]`` says why. The
        published archive has 321 CIFs, all readable (these are the authors'
        randomized CIFs: positions perturbed by noise, symmetry kept).
        pymatgen's parser warnings (coordinates rounded to special
        positions) are silenced. About 60 ms per CIF (pymatgen's parser).

    Raises
    ------
    MissingFileError
        The archive is not there (says where to get it).
    DataFormatError
        The archive is not a readable tar.gz (naming it).
    DependencyError
        pymatgen is not installed.
    """
    try:
        from pymatgen.io.cif import CifParser
    except ImportError as exc:
        raise DependencyError("reading CIFs needs pymatgen; install it with `pip install pymatgen`") from exc
    tarball, members, skipped = _obelix_cif_members(folder, ids)
    structures: dict[str, Any] = {}
    for cif_id, (member_name, text) in members.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parsed = CifParser.from_str(text).parse_structures(primitive=False)
            if not parsed:
                raise ValueError("no crystal structure in the CIF")
        except Exception as exc:  # noqa: BLE001 - pymatgen raises many types on bad CIFs; recorded
            where = f"{tarball}:{member_name}"
            skipped[where] = str(DataFormatError(
                f"cannot read as a CIF crystal structure ({type(exc).__name__}: {exc})", path=where))
            continue
        structures[cif_id] = parsed[0]
    return ObelixStructures(structures, skipped)
