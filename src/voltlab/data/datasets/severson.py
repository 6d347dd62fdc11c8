"""Severson et al. (2019) fast-charging cycle-life data set (124 LFP/graphite cells).

K. A. Severson, P. M. Attia et al., "Data-driven prediction of battery cycle
life before capacity degradation", Nature Energy 4, 383-391 (2019),
doi:10.1038/s41560-019-0356-8. A123 APR18650M1A cells (LFP/graphite, 1.1 Ah
nominal), 30 °C chamber, one- and two-step fast charges to 80 % SOC, then
1C CC-CV to 3.6 V; 4C CC-CV discharge to 2.0 V. End of life: first cycle with
discharge capacity below 0.88 Ah (80 % of nominal).

Three loaders:

* :func:`load_severson_qdlin`: the ``Qdlin`` arrays for cycles 2..100 of all
  124 cells with cycle lives, the published train / primary test / secondary
  test split (41 / 43 / 40 cells) and the barcodes and charging policies of
  the paper's Supplementary Table 9, as a :class:`SeversonDataset`.
  ``Qdlin`` is each cycle's discharge capacity (Ah) interpolated on 1000
  linearly spaced voltages from **3.5 V down to 2.0 V** (the ``Vdlin`` grid
  of the batch files: ``VQlinspace3.m`` in the authors' ``BMS-autoanalysis``
  code sets ``Vlin = linspace(3.5, 2.0, 1000)``; some third-party notes say
  3.6 V, which the batch files' ``Vdlin`` does not support).
  Layout (from P. Attia's ``revisit-severson-et-al`` repository):
  ``qdlin_cycles2to100/{train,test1,test2}/cell{k}.csv[.gz]`` (header-less
  1000 x 99 matrices), ``cycle_lives/{split}_cycle_lives.csv`` (line k is
  ``cell{k}``) and ``severson_et_al_SI_table9.csv``.
* :func:`load_severson_batch1_summary`: the per-cycle summary of the 46
  batch-1 (2017-05-12) cells exported from ``batch.summary``.
* :func:`load_severson_batch_mat`: an original batch file
  (``2017-05-12_batchdata_updated_struct_errorcorrect.mat`` etc., MATLAB
  v7.3 = HDF5) read with h5py.

Units in the original batch files (from the authors' struct-building code,
``cell_analysis.m`` in the ``BMS-autoanalysis`` repository):
``cycles(j).I`` is the Arbin current divided by 1.1, i.e. a **C-rate**
(multiplied back by the nominal 1.1 Ah here to give A); ``cycles(j).t`` is
**minutes since the start of cycle j** (restarts every cycle; converted to
seconds and stitched into one continuous clock here); ``Qc``/``Qd`` are Ah
(counting from zero in each cycle); ``V`` is V and ``T`` °C. In
``summary``, ``chargetime`` is the time in **minutes** from the start of the
cycle until the charge capacity reaches 0.88 Ah (80 % SOC), not the whole
charge (20 min is written when 0.88 Ah is never reached), ``IR`` is Ω and
``Tmax``/``Tavg``/``Tmin`` °C. Batch 1 skips cycle 1: its ``cycles(1)`` is
empty and its summary row is all zeros.

Download: https://data.matr.io/1/ (project "Data-driven prediction of battery
cycle life before capacity degradation").
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from voltlab.data.cycling import CyclingData
from voltlab.data.datasets._common import (
    import_h5py,
    missing,
    numeric_column,
    read_csv_table,
    require_columns,
    stitch_cycle_time,
    unexpected_as_format_error,
)
from voltlab.data.metadata import CellMetadata, file_sha256
from voltlab.data.schema import counter_to_cycle_cumulative
from voltlab.data.validation import finalize_timeseries
from voltlab.errors import DataFormatError, SchemaError

__all__ = [
    "MATR_URL",
    "SEVERSON_SPLITS",
    "SeversonBatch",
    "SeversonDataset",
    "load_severson_batch1_summary",
    "load_severson_batch_mat",
    "load_severson_qdlin",
]

MATR_URL = "https://data.matr.io/1/ (Severson et al. 2019 batch files and the 124-cell data set)"

#: Split names, in the paper's order: train, primary test, secondary test.
SEVERSON_SPLITS: tuple[str, ...] = ("train", "test1", "test2")
_SI_SPLIT = {"train": "train", "prim. test": "test1", "sec. test": "test2"}
_N_VOLTAGE = 1000
_N_CYCLES = 99
_FIRST_CYCLE = 2
_NOMINAL_AH = 1.1
#: Ends of the Qdlin voltage grid, V (``Vdlin`` of the batch files).
_GRID_HIGH_VOLT, _GRID_LOW_VOLT = 3.5, 2.0
_CHEMISTRY = "LFP/graphite (A123 APR18650M1A)"
_BATCH_PREFIX = {"2017-05-12": "b1", "2017-06-30": "b2", "2018-04-12": "b3"}
#: Struct indices Severson et al. removed from batches 1 and 2 before the split
#: (batch-2 cells 7, 8, 9, 15, 16 are batch-1 cells 0-4 continued).
_REMOVED_BEFORE_SPLIT = {"2017-05-12": frozenset({8, 10, 12, 13, 22}),
                         "2017-06-30": frozenset({7, 8, 9, 15, 16})}
#: Batch-1 cells Severson et al. left out (they did not reach 80 % capacity).
_BATCH1_EXCLUDED = _REMOVED_BEFORE_SPLIT["2017-05-12"]
#: Batch-1 cells whose cycling continued in batch 2 (their batch-1 record is truncated).
_BATCH1_CONTINUED = frozenset({0, 1, 2, 3, 4})


# ---------------------------------------------------------------------------- Qdlin data set


def _default_grid() -> npt.NDArray[np.float64]:
    return np.linspace(_GRID_HIGH_VOLT, _GRID_LOW_VOLT, _N_VOLTAGE)


@dataclass(frozen=True, slots=True, eq=False)
class SeversonDataset:
    """The 124-cell Severson et al. data set as ``Qdlin`` arrays and labels.

    Attributes
    ----------
    cell_ids
        ``"<split>-cell<k>"``, shape (n_cells,); ``k`` is the file number.
    split
        ``"train"``, ``"test1"`` (primary test) or ``"test2"`` (secondary test).
    qdlin_ah
        Discharge capacity interpolated on :attr:`voltage_grid_volt`, Ah,
        shape (n_cells, 1000, 99): ``qdlin_ah[c, :, j]`` is cycle ``j + 2``.
    voltage_grid_volt
        The Qdlin voltage grid, V, shape (1000,), 3.5 V down to 2.0 V
        (strictly decreasing; row 0 of every Qdlin matrix is 3.5 V).
    cycle_numbers
        Cycle of each Qdlin column, shape (99,): 2..100.
    cycle_life
        Cycles to 0.88 Ah (80 % of 1.1 Ah), shape (n_cells,), int.
    barcode, charging_policy, batch_date
        From Supplementary Table 9, shape (n_cells,); ``batch_date`` is ISO
        (``"2017-05-12"``), ``charging_policy`` e.g. ``"3.6C(80%)-3.6C"``.
    table_row
        0-based row of the cell in Supplementary Table 9, shape (n_cells,):
        the paper's order (batch 1, 2, 3; train and primary-test cells
        alternate within batches 1 and 2).
    source_cell_id
        Id of the cell in its original batch file, shape (n_cells,):
        ``"b1c<i>"`` / ``"b2c<i>"`` (0-based struct index, recovered from the
        cells Severson et al. removed: batch-1 indices 8, 10, 12, 13, 22 and
        batch-2 indices 7, 8, 9, 15, 16, which continue batch-1 cells), so the
        Qdlin cells can be joined with :func:`load_severson_batch1_summary` or
        :func:`load_severson_batch_mat`. ``""`` for batch 3, whose selection
        depended on the raw capacities.
    """

    cell_ids: tuple[str, ...]
    split: tuple[str, ...]
    qdlin_ah: npt.NDArray[np.float64]
    voltage_grid_volt: npt.NDArray[np.float64]
    cycle_numbers: npt.NDArray[np.int64]
    cycle_life: npt.NDArray[np.int64]
    barcode: tuple[str, ...]
    charging_policy: tuple[str, ...]
    batch_date: tuple[str, ...]
    table_row: npt.NDArray[np.int64]
    source_cell_id: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.cell_ids)

    def _column(self, cycle: int) -> int:
        if not (_FIRST_CYCLE <= cycle < _FIRST_CYCLE + self.qdlin_ah.shape[2]):
            raise ValueError(
                f"cycle {cycle} is not in the Qdlin data: accepted {_FIRST_CYCLE} to "
                f"{_FIRST_CYCLE + self.qdlin_ah.shape[2] - 1}"
            )
        return cycle - _FIRST_CYCLE

    def delta_q(self, cycle_a: int = 100, cycle_b: int = 10) -> npt.NDArray[np.float64]:
        """ΔQ(V) = Q_{cycle_a}(V) - Q_{cycle_b}(V), Ah, shape (n_cells, 1000).

        The paper's headline feature is ``log10(var(delta_q(100, 10)))``.

        Raises
        ------
        ValueError
            A cycle outside 2..100.
        """
        return self.qdlin_ah[:, :, self._column(cycle_a)] - self.qdlin_ah[:, :, self._column(cycle_b)]

    def indices(self, split: str) -> npt.NDArray[np.intp]:
        """Positions of the cells of ``split`` (``"train"``, ``"test1"`` or ``"test2"``)."""
        if split not in SEVERSON_SPLITS:
            raise ValueError(f"split must be one of {SEVERSON_SPLITS}, got {split!r}")
        return np.flatnonzero(np.asarray(self.split) == split)

    def subset(self, split: str) -> SeversonDataset:
        """The cells of one split, as a new :class:`SeversonDataset`."""
        idx = self.indices(split)

        def pick(values: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(values[i] for i in idx)

        return SeversonDataset(
            cell_ids=pick(self.cell_ids), split=pick(self.split), qdlin_ah=self.qdlin_ah[idx],
            voltage_grid_volt=self.voltage_grid_volt, cycle_numbers=self.cycle_numbers,
            cycle_life=self.cycle_life[idx], barcode=pick(self.barcode),
            charging_policy=pick(self.charging_policy), batch_date=pick(self.batch_date),
            table_row=self.table_row[idx], source_cell_id=pick(self.source_cell_id),
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per cell: ``cell_id``, ``split``, ``barcode``, ``charging_policy``,
        ``batch_date``, ``cycle_life``, ``table_row``, ``source_cell_id``."""
        return pd.DataFrame({
            "cell_id": self.cell_ids, "split": self.split, "barcode": self.barcode,
            "charging_policy": self.charging_policy, "batch_date": self.batch_date,
            "cycle_life": self.cycle_life, "table_row": self.table_row,
            "source_cell_id": self.source_cell_id,
        })


def _iso_date(text: str, path: Path, row: int) -> str:
    m = re.fullmatch(r"\s*(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\s*", str(text))
    if not m:
        raise DataFormatError(
            f"batch date {text!r} is not M/D/YY", path=path, row=row, column="Batch date", value=text
        )
    month, day, year = (int(g) for g in m.groups())
    year = year + 2000 if year < 100 else year
    return f"{year:04d}-{month:02d}-{day:02d}"


def _read_si_table(path: Path) -> pd.DataFrame:
    raw = read_csv_table(path, encoding="utf-8-sig", dtype=str)
    raw.columns = [str(c).strip() for c in raw.columns]
    require_columns(
        raw, ("Cell barcode", "Dataset", "Batch date", "Cycle life", "Charging policy"), path,
        "Severson et al. Supplementary Table 9",
    )
    split = raw["Dataset"].str.strip().str.lower().map(_SI_SPLIT)
    if split.isna().any():
        r = int(np.flatnonzero(split.isna().to_numpy())[0])
        raise DataFormatError(
            f"unknown Dataset {raw['Dataset'].iloc[r]!r}; accepted Train, Prim. Test, Sec. test",
            path=path, row=r, column="Dataset",
        )
    life = numeric_column(raw, "Cycle life", path, allow_nan=False)
    return pd.DataFrame({
        "split": split.to_numpy(),
        "barcode": raw["Cell barcode"].str.strip().to_numpy(),
        "batch_date": [_iso_date(d, path, r) for r, d in enumerate(raw["Batch date"])],
        "cycle_life": life.astype(np.int64),
        "charging_policy": raw["Charging policy"].str.strip().to_numpy(),
        "table_row": np.arange(len(raw), dtype=np.int64),
    })


def _source_cell_ids(batch_date: pd.Series) -> list[str]:
    """Original batch-file ids of the Table 9 rows (in table order), "" where unknown."""
    out = [""] * len(batch_date)
    for date, removed in _REMOVED_BEFORE_SPLIT.items():
        rows = np.flatnonzero(batch_date.to_numpy() == date)
        kept = (i for i in range(len(rows) + len(removed)) if i not in removed)
        for r, i in zip(rows, kept, strict=False):
            out[r] = f"{_BATCH_PREFIX[date]}c{i}"
    return out


def _read_cycle_lives(path: Path) -> npt.NDArray[np.int64]:
    raw = read_csv_table(path, header=None)
    if raw.shape[1] != 1:
        raise DataFormatError(f"expected one cycle life per line, got {raw.shape[1]} columns", path=path)
    life = numeric_column(raw, raw.columns[0], path, allow_nan=False)
    if (life <= 0).any() or (life != np.round(life)).any():
        r = int(np.flatnonzero((life <= 0) | (life != np.round(life)))[0])
        raise DataFormatError(f"cycle life must be a positive integer, got {life[r]!r}", path=path, row=r)
    return life.astype(np.int64)


def _read_qdlin(path: Path) -> npt.NDArray[np.float64]:
    raw = read_csv_table(path, header=None)
    try:
        q = raw.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"Qdlin matrix holds non-numeric values ({exc})", path=path) from exc
    if q.shape != (_N_VOLTAGE, _N_CYCLES):
        raise DataFormatError(
            f"Qdlin matrix has shape {q.shape}; expected ({_N_VOLTAGE}, {_N_CYCLES}) "
            "(1000 voltage points x cycles 2..100)", path=path,
        )
    if not np.isfinite(q).all():
        raise DataFormatError("Qdlin matrix holds missing or infinite values", path=path)
    return q


def _qdlin_file(folder: Path, k: int) -> Path:
    for name in (f"cell{k}.csv.gz", f"cell{k}.csv"):
        if (folder / name).is_file():
            return folder / name
    raise missing(folder / f"cell{k}.csv.gz", f"Qdlin file of cell {k}", MATR_URL)


def load_severson_qdlin(root: str | os.PathLike[str]) -> SeversonDataset:
    """Load the 124-cell Severson et al. data set (Qdlin, cycle lives, split, policies).

    Parameters
    ----------
    root
        Folder holding ``qdlin_cycles2to100/`` (or ``data/``, the name in the
        ``revisit-severson-et-al`` repository), ``cycle_lives/`` (beside it or
        inside it) and ``severson_et_al_SI_table9.csv`` (or
        ``lifetime_charging_time/severson_et_al_SI_table9.csv``).

    Returns
    -------
    SeversonDataset
        Cells ordered train, test1, test2 and by file number within a split.

    Raises
    ------
    MissingFileError
        A folder or file is missing (the message says where to get the data).
    DataFormatError
        A file is malformed, or the cycle lives of Table 9 and the
        ``cycle_lives`` files disagree (files from different releases).

    Examples
    --------
    >>> ds = load_severson_qdlin("shared/data/severson_attia_2019_cycle_life")  # doctest: +SKIP
    >>> ds.qdlin_ah.shape, ds.delta_q(100, 10).shape  # doctest: +SKIP
    ((124, 1000, 99), (124, 1000))
    """
    base = Path(root)
    if not base.is_dir():
        raise missing(base, "Severson et al. data folder", MATR_URL)
    qroot = next((base / d for d in ("qdlin_cycles2to100", "data") if (base / d).is_dir()), None)
    if qroot is None:
        raise missing(base / "qdlin_cycles2to100", "Qdlin folder (qdlin_cycles2to100/)", MATR_URL)
    si_candidates = (base / "severson_et_al_SI_table9.csv",
                     base / "lifetime_charging_time" / "severson_et_al_SI_table9.csv")
    si_path = next((p for p in si_candidates if p.is_file()), si_candidates[0])
    if not si_path.is_file():
        raise missing(si_path, "Supplementary Table 9 (severson_et_al_SI_table9.csv)", MATR_URL)
    si = _read_si_table(si_path)
    si["source_cell_id"] = _source_cell_ids(si["batch_date"])

    ids: list[str] = []
    splits: list[str] = []
    arrays: list[npt.NDArray[np.float64]] = []
    lives: list[npt.NDArray[np.int64]] = []
    table_rows: list[pd.DataFrame] = []
    for split in SEVERSON_SPLITS:
        life_path = next(
            (p for p in (base / "cycle_lives" / f"{split}_cycle_lives.csv",
                         qroot / "cycle_lives" / f"{split}_cycle_lives.csv") if p.is_file()),
            base / "cycle_lives" / f"{split}_cycle_lives.csv",
        )
        if not life_path.is_file():
            raise missing(life_path, f"cycle lives of the {split} cells", MATR_URL)
        life = _read_cycle_lives(life_path)
        rows = si[si["split"] == split]
        if len(rows) != len(life) or (rows["cycle_life"].to_numpy() != life).any():
            raise DataFormatError(
                f"the {split} cycle lives ({len(life)} cells) do not match the {len(rows)} '{split}' rows "
                f"of {si_path.name} in order; use the files of one release", path=life_path,
            )
        for k in range(1, len(life) + 1):
            arrays.append(_read_qdlin(_qdlin_file(qroot / split, k)))
            ids.append(f"{split}-cell{k}")
            splits.append(split)
        lives.append(life)
        table_rows.append(rows)
    table = pd.concat(table_rows, ignore_index=True)
    qdlin = np.stack(arrays)
    qdlin.setflags(write=False)
    grid = _default_grid()
    grid.setflags(write=False)
    cycles = np.arange(_FIRST_CYCLE, _FIRST_CYCLE + _N_CYCLES, dtype=np.int64)
    cycles.setflags(write=False)
    life_all = np.concatenate(lives)
    life_all.setflags(write=False)
    return SeversonDataset(
        cell_ids=tuple(ids), split=tuple(splits), qdlin_ah=qdlin, voltage_grid_volt=grid,
        cycle_numbers=cycles, cycle_life=life_all, barcode=tuple(table["barcode"]),
        charging_policy=tuple(table["charging_policy"]), batch_date=tuple(table["batch_date"]),
        table_row=_frozen(table["table_row"].to_numpy(dtype=np.int64)),
        source_cell_id=tuple(table["source_cell_id"]),
    )


def _frozen(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    a.setflags(write=False)
    return a


# ---------------------------------------------------------------------------- per-cycle summaries

#: ``batch.summary`` field -> (output column, factor to the output unit)
_SUMMARY_FIELDS: dict[str, tuple[str, float]] = {
    "QDischarge": ("discharge_capacity_ah", 1.0),
    "QCharge": ("charge_capacity_ah", 1.0),
    "IR": ("internal_resistance_ohm", 1.0),
    "Tmax": ("temperature_max_celsius", 1.0),
    "Tavg": ("temperature_mean_celsius", 1.0),
    "Tmin": ("temperature_min_celsius", 1.0),
    "chargetime": ("charge_time_to_80pct_second", 60.0),
}
_SUMMARY_COLUMNS = (
    "cell_id", "cell_index", "cycle_count", "discharge_capacity_ah", "charge_capacity_ah",
    "internal_resistance_ohm", "temperature_max_celsius", "temperature_mean_celsius",
    "temperature_min_celsius", "charge_time_to_80pct_second", "is_placeholder",
)


def _flag_placeholders(out: pd.DataFrame) -> None:
    measured = [c for c, _ in _SUMMARY_FIELDS.values() if c in out.columns]
    out["is_placeholder"] = (out[measured].fillna(0.0) == 0.0).all(axis=1)


def load_severson_batch1_summary(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Load the per-cycle summary of the 46 batch-1 (2017-05-12) cells.

    The file (``batch1_2017-05-12_summary.csv``) has the columns ``cell_id``
    (``cell_0``..``cell_45`` = batch index), ``cycle``, ``QDischarge``,
    ``QCharge`` (Ah), ``IR`` (Ω), ``Tmax``, ``Tavg`` (°C) and ``chargetime``
    (min, time to 80 % SOC).

    Parameters
    ----------
    path
        The CSV file, or a folder holding
        ``batch1_per_cycle_summary/batch1_2017-05-12_summary.csv``.

    Returns
    -------
    pandas.DataFrame
        ``cell_id`` (``"b1c<i>"``, the usual Severson naming), ``cell_index``
        (i), ``cycle_count``, ``discharge_capacity_ah``, ``charge_capacity_ah``
        (Ah), ``internal_resistance_ohm`` (Ω), ``temperature_max_celsius``,
        ``temperature_mean_celsius`` (°C), ``charge_time_to_80pct_second`` (s,
        converted from minutes), and flags: ``is_placeholder`` (True on rows
        whose values are all zero: cycle 1 of every cell, which was not
        measured; kept so nothing is silently dropped), ``excluded_by_severson``
        (cells 8, 10, 12, 13, 22, left out of the paper's 124 cells) and
        ``continued_in_batch2`` (cells 0-4, whose cycling went on in batch 2,
        so their batch-1 record stops before end of life). Outliers (e.g.
        ``b1c0`` cycle 12 QDischarge = 1.539 Ah) are kept as they are.

    Raises
    ------
    MissingFileError
        The file does not exist.
    DataFormatError
        Missing columns or non-numeric values (naming the file and column).
    """
    p = Path(path)
    if p.is_dir():
        p = p / "batch1_per_cycle_summary" / "batch1_2017-05-12_summary.csv"
    if not p.is_file():
        raise missing(p, "Severson batch-1 per-cycle summary", MATR_URL)
    with unexpected_as_format_error(p, "the Severson batch-1 summary CSV"):
        return _parse_batch1_summary(p)


def _parse_batch1_summary(p: Path) -> pd.DataFrame:
    raw = read_csv_table(p)
    require_columns(raw, ("cell_id", "cycle", *(f for f in _SUMMARY_FIELDS if f != "Tmin")), p,
                    "the Severson batch-1 summary")
    if raw.empty:
        raise DataFormatError("no data rows", path=p)
    ident = raw["cell_id"].astype(str).str.strip()
    index = ident.str.extract(r"^(?:cell_|b1c)(\d+)$")[0]
    if index.isna().any():
        r = int(np.flatnonzero(index.isna().to_numpy())[0])
        raise DataFormatError(
            f"cell id {raw['cell_id'].iloc[r]!r} is not 'cell_<i>'", path=p, row=r, column="cell_id"
        )
    cell_index = index.astype(np.int64).to_numpy()
    out = pd.DataFrame({"cell_id": [f"b1c{i}" for i in cell_index], "cell_index": cell_index})
    out["cycle_count"] = _integer_column(raw, "cycle", p)
    for src, (dst, factor) in _SUMMARY_FIELDS.items():
        if src in raw.columns:
            out[dst] = numeric_column(raw, src, p) * factor
    _flag_placeholders(out)
    out["excluded_by_severson"] = out["cell_index"].isin(_BATCH1_EXCLUDED)
    out["continued_in_batch2"] = out["cell_index"].isin(_BATCH1_CONTINUED)
    out.attrs["source"] = str(p)
    return out


def _integer_column(raw: pd.DataFrame, name: str, path: Path) -> npt.NDArray[np.int64]:
    values = numeric_column(raw, name, path, allow_nan=False)
    bad = np.flatnonzero(values != np.round(values))
    if bad.size:
        r = int(bad[0])
        raise DataFormatError(f"must be an integer, got {values[r]!r}", path=path, row=r, column=name)
    return values.astype(np.int64)


# ---------------------------------------------------------------------------- original batch .mat


@dataclass(frozen=True, slots=True, eq=False)
class SeversonBatch:
    """Content of one original Severson batch file (``batch`` struct, MATLAB v7.3).

    Attributes
    ----------
    cells
        One :class:`~voltlab.data.cycling.CyclingData` per loaded cell, in
        the canonical schema: ``test_time_second`` (s, the per-cycle ``t`` in
        minutes converted and stitched into one clock), ``voltage_volt``,
        ``current_ampere`` (``I`` in C-rate x 1.1 Ah, positive = charge),
        ``cycle_count``, ``charging_capacity_ah``/``discharging_capacity_ah``
        (``Qc``/``Qd``), ``temperature_celsius`` (``T``), plus the extra
        ``cycle_time_second`` (``t`` x 60).
    summary
        Per-cycle ``batch.summary`` of all loaded cells, with the columns of
        :func:`load_severson_batch1_summary` (its batch-1 flags excepted).
    cell_table
        One row per loaded cell: ``cell_id``, ``cell_index``, ``barcode``,
        ``channel_id``, ``policy``, ``charging_policy`` (``policy_readable``)
        and ``cycle_life`` (NaN if the file has none).
    qdlin_ah
        ``cell_id`` -> Qdlin per cycle, Ah, shape (max cycle, 1000): row
        ``j - 1`` is cycle ``j`` (NaN where a cycle has no Qdlin).
    voltage_grid_volt
        The ``Vdlin`` grid of the Qdlin rows, V, shape (1000,) (3.5 to 2.0 V
        when the file has no ``Vdlin``).
    """

    cells: tuple[CyclingData, ...]
    summary: pd.DataFrame
    cell_table: pd.DataFrame
    qdlin_ah: Mapping[str, npt.NDArray[np.float64]]
    voltage_grid_volt: npt.NDArray[np.float64]


class _MatReader:
    """Dereferences MATLAB v7.3 (HDF5) struct fields stored as object references."""

    def __init__(self, h5: Any, path: Path) -> None:
        self.h5 = h5
        self.path = path

    def node(self, ref: Any) -> Any:
        try:
            return self.h5[ref]
        except (KeyError, ValueError, TypeError) as exc:
            raise DataFormatError(f"broken HDF5 object reference ({exc})", path=self.path) from exc

    def vector(self, ref: Any) -> npt.NDArray[np.float64]:
        ds = self.node(ref)
        if not hasattr(ds, "shape") or int(ds.attrs.get("MATLAB_empty", 0)):
            return np.zeros(0)
        try:
            return np.asarray(ds[()], dtype=np.float64).ravel()
        except (TypeError, ValueError) as exc:
            raise DataFormatError(f"dataset {ds.name} is not numeric ({exc})", path=self.path) from exc

    def text(self, ref: Any) -> str:
        ds = self.node(ref)
        if not hasattr(ds, "shape") or int(ds.attrs.get("MATLAB_empty", 0)):
            return ""
        codes = np.asarray(ds[()]).ravel(order="F")
        cls = ds.attrs.get("MATLAB_class", b"char")
        if (cls.decode() if isinstance(cls, bytes) else str(cls)) != "char":
            # e.g. a numeric channel id: keep its numbers as text
            return " ".join(f"{float(c):g}" for c in codes)
        try:
            return "".join(chr(int(c)) for c in codes).strip("\x00 ")
        except (TypeError, ValueError, OverflowError) as exc:
            raise DataFormatError(f"dataset {ds.name} is not a MATLAB char array", path=self.path) from exc

    def scalar(self, ref: Any) -> float:
        v = self.vector(ref)
        return float(v[0]) if v.size else float("nan")


def _field(group: Any, name: str, path: Path, where: str) -> Any:
    if name not in group:
        raise SchemaError(
            f"{where} lacks the field {name!r} (have {sorted(group.keys())}); expected the Severson "
            "batch struct layout", path=path, column=name,
        )
    return group[name]


def _ref_at(ds: Any, i: int) -> Any:
    return ds[i, 0] if len(ds.shape) == 2 else ds[i]


def _read_summary_group(rd: _MatReader, grp: Any, cell_id: str, cell_index: int) -> pd.DataFrame:
    cycle = np.asarray(_field(grp, "cycle", rd.path, f"summary of {cell_id}")[()], dtype=np.float64).ravel()
    out = pd.DataFrame({"cell_id": cell_id, "cell_index": cell_index, "cycle_count": cycle.astype(np.int64)})
    for src, (dst, factor) in _SUMMARY_FIELDS.items():
        if src in grp:
            values = np.asarray(grp[src][()], dtype=np.float64).ravel()
            if values.size != cycle.size:
                raise DataFormatError(
                    f"summary of {cell_id}: {src} has {values.size} values for {cycle.size} cycles",
                    path=rd.path, column=src,
                )
            out[dst] = values * factor
    _flag_placeholders(out)
    return out


_CYCLE_FIELDS = ("I", "Qc", "Qd", "T", "V", "t")


def _read_cell_cycles(
    rd: _MatReader, grp: Any, cell_id: str, max_cycle: int | None, nominal_capacity_ah: float
) -> tuple[pd.DataFrame, npt.NDArray[np.float64]]:
    refs = {f: _field(grp, f, rd.path, f"cycles of {cell_id}") for f in _CYCLE_FIELDS}
    n_cycles = refs["t"].shape[0]
    if max_cycle is not None:
        n_cycles = min(n_cycles, max_cycle)
    qdlin_ds = grp.get("Qdlin")
    qdlin = np.full((n_cycles, _N_VOLTAGE), np.nan)
    frames = []
    for j in range(n_cycles):
        cols = {f: rd.vector(_ref_at(refs[f], j)) for f in _CYCLE_FIELDS}
        n = cols["t"].size
        if n == 0:
            continue  # batch 1 has no cycle 1
        bad = [f for f, v in cols.items() if v.size != n]
        if bad:
            raise DataFormatError(
                f"{cell_id} cycle {j + 1}: field(s) {bad} differ in length from t ({n})", path=rd.path
            )
        frames.append(pd.DataFrame({
            "cycle_time_second": cols["t"] * 60.0,
            "voltage_volt": cols["V"],
            "current_ampere": cols["I"] * nominal_capacity_ah,
            "cycle_count": j + 1,
            "qc": cols["Qc"], "qd": cols["Qd"],
            "temperature_celsius": cols["T"],
        }))
        if qdlin_ds is not None:
            q = rd.vector(_ref_at(qdlin_ds, j))
            if q.size == _N_VOLTAGE:
                qdlin[j] = q
    if not frames:
        raise DataFormatError(f"{cell_id} has no cycle data", path=rd.path)
    df = pd.concat(frames, ignore_index=True)
    cyc = df["cycle_count"].to_numpy()
    df.insert(0, "test_time_second", stitch_cycle_time(df["cycle_time_second"].to_numpy(), cyc))
    df["charging_capacity_ah"] = counter_to_cycle_cumulative(df.pop("qc").to_numpy(), cyc)
    df["discharging_capacity_ah"] = counter_to_cycle_cumulative(df.pop("qd").to_numpy(), cyc)
    return df, qdlin


def _open_hdf5(path: Path) -> Any:
    h5py = import_h5py()
    if not h5py.is_hdf5(path):
        with open(path, "rb") as fh:
            head = fh.read(128)
        hint = (" It is a MATLAB v5 file; the Severson batch files are v7.3 (HDF5)."
                if head.startswith(b"MATLAB 5.0") else "")
        raise DataFormatError(
            f"not an HDF5 / MATLAB v7.3 file.{hint} Pass an original "
            "<date>_batchdata_updated_struct_errorcorrect.mat", path=path,
        )
    with unexpected_as_format_error(path, "an HDF5 / MATLAB v7.3 file"):
        return h5py.File(path, "r")


def _batch_prefix(path: Path, batch_date: str | None) -> tuple[str, str]:
    date = batch_date
    if date is None:
        m = re.match(r"(\d{4}-\d{2}-\d{2})", path.name)
        date = m.group(1) if m else ""
    return _BATCH_PREFIX.get(date, "cell"), date


def load_severson_batch_mat(
    path: str | os.PathLike[str],
    *,
    cells: Sequence[int] | None = None,
    max_cycle: int | None = None,
    batch_date: str | None = None,
    nominal_capacity_ah: float = _NOMINAL_AH,
    validate: bool = True,
) -> SeversonBatch:
    """Load an original Severson et al. batch file (MATLAB v7.3 / HDF5) with h5py.

    The file holds ``batch``, a 1 x N struct array stored as an HDF5 group
    whose fields are (N, 1) datasets of object references: ``barcode``,
    ``channel_id``, ``policy``, ``policy_readable`` (char arrays),
    ``cycle_life`` (1 x 1), ``summary`` (a struct of 1 x n_cycles vectors
    ``cycle``, ``QDischarge``, ``QCharge``, ``IR``, ``Tmax``, ``Tavg``,
    ``Tmin``, ``chargetime``), ``cycles`` (a 1 x n_cycles struct array whose
    fields ``I``, ``Qc``, ``Qd``, ``Qdlin``, ``T``, ``Tdlin``, ``V``,
    ``discharge_dQdV``, ``t`` are again references, one per cycle) and
    ``Vdlin``. Units are converted as described in the module notes
    (``I`` C-rate -> A, ``t`` min -> s, ``chargetime`` min -> s).

    Parameters
    ----------
    path
        The ``.mat`` file.
    cells
        0-based batch indices to load (default: all). Full files are several
        GB: load a few cells, or cap ``max_cycle``, when exploring.
    max_cycle
        Read cycles 1..max_cycle only (default: all).
    batch_date
        ISO date of the batch (``"2017-05-12"``); read from the file name by
        default. Sets the cell ids ``b1c<i>``, ``b2c<i>``, ``b3c<i>``.
    nominal_capacity_ah
        Capacity that turns the stored C-rate into A (1.1 Ah for these cells).
    validate
        Validate each cell's time series.

    Returns
    -------
    SeversonBatch

    Raises
    ------
    MissingFileError
        ``path`` does not exist (the message gives https://data.matr.io/1/).
    DataFormatError
        Not an HDF5 file, or not the ``batch`` struct layout.
    """
    p = Path(path)
    if not p.is_file():
        raise missing(p, "Severson batch .mat file", MATR_URL)
    prefix, date = _batch_prefix(p, batch_date)
    what = "a Severson batch file (MATLAB v7.3 'batch' struct)"
    with _open_hdf5(p) as h5:
        rd = _MatReader(h5, p)
        with unexpected_as_format_error(p, what):
            batch = _batch_group(h5, p)
            n_cells = int(_field(batch, "summary", p, "batch").shape[0])
        wanted = list(range(n_cells)) if cells is None else [int(i) for i in cells]
        out_of_range = [i for i in wanted if not 0 <= i < n_cells]
        if out_of_range:
            raise ValueError(
                f"cell index {out_of_range[0]} out of range: the file has {n_cells} cells (0..{n_cells - 1})"
            )
        with unexpected_as_format_error(p, what):
            grid = rd.vector(_ref_at(batch["Vdlin"], 0)) if "Vdlin" in batch else np.zeros(0)
            if grid.size != _N_VOLTAGE:
                grid = _default_grid()
            sha = file_sha256(p)
            out_cells, summaries, rows, qdlins = [], [], [], {}
            for i in wanted:
                cell_id = f"{prefix}c{i}"
                info = _cell_info(rd, batch, i, cell_id)
                rows.append(info)
                summaries.append(_read_summary_group(rd, rd.node(_ref_at(batch["summary"], i)), cell_id, i))
                cyc_grp = rd.node(_ref_at(_field(batch, "cycles", p, "batch"), i))
                df, qdlin = _read_cell_cycles(rd, cyc_grp, cell_id, max_cycle, nominal_capacity_ah)
                ts = finalize_timeseries(df, path=p, nominal_capacity_ah=nominal_capacity_ah, validate=validate)
                meta = CellMetadata(
                    cell_id=cell_id, chemistry=_CHEMISTRY, nominal_capacity_ah=nominal_capacity_ah,
                    form_factor="cylindrical", protocol=info["charging_policy"], source=str(p),
                    source_format="severson_batch_mat", content_sha256=sha, batch=date,
                    extra={
                        "barcode": info["barcode"], "channel_id": info["channel_id"],
                        "cycle_life": None if np.isnan(info["cycle_life"]) else info["cycle_life"],
                        "cell_index": i, "dataset": "Severson et al. 2019",
                        "test_time_note": "test_time_second is stitched: cycles placed back to back "
                        "(t restarts every cycle); cycle_time_second is the original t in s",
                    },
                )
                out_cells.append(CyclingData(timeseries=ts, metadata=meta))
                qdlins[cell_id] = qdlin
    summary = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame(columns=_SUMMARY_COLUMNS)
    return SeversonBatch(
        cells=tuple(out_cells), summary=summary, cell_table=pd.DataFrame(rows),
        qdlin_ah=qdlins, voltage_grid_volt=grid,
    )


def _batch_group(h5: Any, path: Path) -> Any:
    if "batch" not in h5:
        raise SchemaError(
            f"no 'batch' struct in the file (top-level entries: {sorted(h5.keys())[:10]}); expected a "
            "Severson <date>_batchdata_updated_struct_errorcorrect.mat", path=path,
        )
    batch = h5["batch"]
    if not hasattr(batch, "keys"):
        raise SchemaError("'batch' is not a struct (HDF5 group)", path=path)
    return batch


def _cell_info(rd: _MatReader, batch: Any, i: int, cell_id: str) -> dict[str, Any]:
    def text(name: str) -> str:
        return rd.text(_ref_at(batch[name], i)) if name in batch else ""

    life = rd.scalar(_ref_at(batch["cycle_life"], i)) if "cycle_life" in batch else float("nan")
    return {
        "cell_id": cell_id, "cell_index": i, "barcode": text("barcode"), "channel_id": text("channel_id"),
        "policy": text("policy"), "charging_policy": text("policy_readable"), "cycle_life": life,
    }
