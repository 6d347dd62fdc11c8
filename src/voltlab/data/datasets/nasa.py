"""NASA PCoE Li-ion battery ageing data set ("Battery Data Set", Saha and Goebel 2007).

Four 18650 Li-ion cells (B0005, B0006, B0007, B0018; 2 Ah rated) cycled at
24 °C: CC-CV charge (1.5 A to 4.2 V, CV to 20 mA), 2 A CC discharge to a
cell-specific cut-off, and EIS measurements, until 30 % capacity fade.

Three loaders:

* :func:`load_nasa_pcoe`: the common CSV conversion of the discharge curves
  (``discharge_curves/B000X.csv``: ``Voltage_measured``, ``Current_measured``,
  ``Temperature_measured``, ``Current_load``, ``Voltage_load``, ``Time``,
  ``cycle_idx``), one :class:`~voltlab.data.cycling.CyclingData` per cell.
* :func:`load_nasa_pcoe_summary`: the per-discharge summary CSVs
  (``per_cycle_summary/B000X_capacity.csv`` and the feature files).
* :func:`load_nasa_pcoe_mat`: the original MATLAB v5 files (``B0005.mat``
  holding the struct array ``B0005.cycle`` with fields ``type``,
  ``ambient_temperature``, ``time``, ``data``), with charge and discharge
  curves, NASA's ``Capacity`` per discharge and the EIS fit results.

Conventions applied (voltlab's canonical schema):

* ``current_ampere`` is NASA's ``Current_measured``, which is already signed
  positive for charge and negative for discharge (about -2 A).
* ``cycle_count``: in the CSV, the 1-based discharge index ``cycle_idx``
  (charges and EIS records are not in those files). In the .mat file a cycle
  is "charge(s), then one discharge", so discharge *k* has ``cycle_count`` *k*
  in both sources and charges belong to the cycle of the discharge that
  follows them.
* ``test_time_second``: NASA's ``Time`` restarts at 0 in every record. The
  CSV has no record start times, so records are stitched into one continuous
  clock (see :func:`~voltlab.data.datasets._common.stitch_cycle_time`: each
  record starts one median sampling interval after the previous one ends);
  the original per-record time is kept as ``cycle_time_second``. The .mat
  file has each record's start date, so there ``test_time_second`` is real
  elapsed time since the first record.
* ``discharging_capacity_ah`` (and ``charging_capacity_ah`` from the .mat
  file) are obtained by Coulomb counting (trapezoid rule on the measured
  current) from the start of each cycle, because the curve files have no
  capacity column. For the four shared cells this agrees with NASA's own
  ``Capacity`` field within 0.03 Ah for every discharge.

Download: NASA Prognostics Center of Excellence data repository,
https://www.nasa.gov/intelligent-systems-division/discovery-and-systems-health/pcoe/pcoe-data-set-repository/
("Battery Data Set").
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from voltlab.data.cycling import CyclingData
from voltlab.data.datasets._common import (
    coulomb_count_within_cycle,
    import_scipy_io,
    missing,
    numeric_column,
    read_csv_table,
    require_columns,
    stitch_cycle_time,
    unexpected_as_format_error,
)
from voltlab.data.datasets._matv5 import check_mat5
from voltlab.data.metadata import CellMetadata, file_sha256, sanitize_cell_id
from voltlab.data.validation import finalize_timeseries
from voltlab.errors import DataFormatError, SchemaError

__all__ = [
    "NASA_PCOE_CELLS",
    "NASA_PCOE_URL",
    "NasaPcoeMat",
    "load_nasa_pcoe",
    "load_nasa_pcoe_mat",
    "load_nasa_pcoe_summary",
]

NASA_PCOE_URL = (
    "the NASA Prognostics Center of Excellence data repository, "
    "https://www.nasa.gov/intelligent-systems-division/discovery-and-systems-health/pcoe/"
    "pcoe-data-set-repository/ (\"Battery Data Set\")"
)

#: The four 24 °C cells of the first NASA release.
NASA_PCOE_CELLS: tuple[str, ...] = ("B0005", "B0006", "B0007", "B0018")

#: Discharge cut-off voltage per cell, V (NASA README).
_CUTOFF_VOLT = {"B0005": 2.7, "B0006": 2.5, "B0007": 2.2, "B0018": 2.5}
_NOMINAL_AH = 2.0
_PROTOCOL = (
    "CC charge 1.5 A to 4.2 V, CV 4.2 V to 20 mA; CC discharge 2 A to the cut-off voltage; "
    "EIS 0.1 Hz-5 kHz; 24 degC ambient; stopped at 30 % fade (1.4 Ah)"
)
_CSV_COLUMNS = (
    "Voltage_measured", "Current_measured", "Temperature_measured",
    "Current_load", "Voltage_load", "Time", "cycle_idx",
)
_CSV_FORMAT = "nasa_pcoe_csv"
_MAT_FORMAT = "nasa_pcoe_mat"


def _cell_metadata_fields(cell_id: str) -> dict[str, Any]:
    extra: dict[str, Any] = {"dataset": "NASA PCoE Battery Data Set", "ambient_temperature_celsius": 24.0}
    if cell_id in _CUTOFF_VOLT:
        extra["discharge_cutoff_volt"] = _CUTOFF_VOLT[cell_id]
    return {
        "chemistry": "Li-ion (18650, 2 Ah rated)",
        "nominal_capacity_ah": _NOMINAL_AH,
        "form_factor": "cylindrical",
        "protocol": _PROTOCOL,
        "extra": extra,
    }


# ---------------------------------------------------------------------------- CSV curves


def _resolve_cell_files(root: Path, cells: Sequence[str], subdir: str, suffix: str) -> list[Path]:
    out = []
    for cell in cells:
        name = f"{cell}{suffix}"
        candidates = (root / subdir / name, root / name)
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise missing(candidates[0], f"NASA PCoE file {name!r} (cell {cell})", NASA_PCOE_URL)
        out.append(found)
    return out


def _read_discharge_csv(path: Path) -> CyclingData:
    with unexpected_as_format_error(path, "a NASA PCoE discharge-curve CSV"):
        return _parse_discharge_csv(path)


def _parse_discharge_csv(path: Path) -> CyclingData:
    raw = read_csv_table(path)
    require_columns(raw, _CSV_COLUMNS, path, "a NASA PCoE discharge-curve CSV")
    if raw.empty:
        raise DataFormatError("no data rows", path=path)
    cyc = numeric_column(raw, "cycle_idx", path, allow_nan=False)
    frac = np.flatnonzero(cyc != np.round(cyc))
    if frac.size:
        r = int(frac[0])
        raise DataFormatError(
            f"cycle_idx must be an integer, got {cyc[r]!r}", path=path, row=r, column="cycle_idx"
        )
    cycle = cyc.astype(np.int64)
    cycle_time = numeric_column(raw, "Time", path, allow_nan=False)
    current = numeric_column(raw, "Current_measured", path)
    test_time = stitch_cycle_time(cycle_time, cycle)
    df = pd.DataFrame(
        {
            "test_time_second": test_time,
            "voltage_volt": numeric_column(raw, "Voltage_measured", path),
            "current_ampere": current,
            "cycle_count": cycle,
            "discharging_capacity_ah": coulomb_count_within_cycle(
                current, test_time, cycle, direction=-1
            ),
            "temperature_celsius": numeric_column(raw, "Temperature_measured", path),
            "cycle_time_second": cycle_time,
            "load_current_ampere": numeric_column(raw, "Current_load", path),
            "load_voltage_volt": numeric_column(raw, "Voltage_load", path),
        }
    )
    ts = finalize_timeseries(df, path=path, nominal_capacity_ah=_NOMINAL_AH)
    cell_id = sanitize_cell_id(path.name.split(".")[0])
    fields = _cell_metadata_fields(cell_id)
    fields["extra"]["test_time_note"] = (
        "test_time_second is stitched: discharge records placed back to back (the CSV has no "
        "record start times); cycle_time_second is NASA's per-record Time"
    )
    meta = CellMetadata.for_file(path, _CSV_FORMAT, cell_id=cell_id, **fields)
    return CyclingData(timeseries=ts, metadata=meta)


def load_nasa_pcoe(
    root_or_file: str | os.PathLike[str], cells: Sequence[str] = NASA_PCOE_CELLS
) -> list[CyclingData]:
    """Load NASA PCoE discharge curves (CSV conversion) into the canonical schema.

    Parameters
    ----------
    root_or_file
        A folder holding ``discharge_curves/B000X.csv`` (or ``B000X.csv``
        directly), or one such CSV file (then ``cells`` is ignored).
    cells
        Cell names to load from a folder, e.g. ``("B0005",)``.

    Returns
    -------
    list of CyclingData
        One per cell, in the order of ``cells``. Columns: ``test_time_second``
        (s, stitched continuous clock, see the module notes), ``voltage_volt``
        (V), ``current_ampere`` (A, negative = discharge), ``cycle_count``
        (discharge index), ``step_count``, ``discharging_capacity_ah`` (Ah,
        Coulomb-counted within each discharge), ``temperature_celsius`` (°C)
        and the extras ``cycle_time_second`` (NASA ``Time``, s),
        ``load_current_ampere`` and ``load_voltage_volt`` (at the load).

    Raises
    ------
    MissingFileError
        The folder or a cell's file does not exist (the message says where
        to download the data set).
    DataFormatError
        A file is not a NASA discharge-curve CSV or holds impossible values.

    Examples
    --------
    >>> cells = load_nasa_pcoe("shared/data/nasa_pcoe_battery_aging", cells=["B0005"])  # doctest: +SKIP
    >>> cells[0].timeseries.groupby("cycle_count")["discharging_capacity_ah"].max().iloc[0]  # doctest: +SKIP
    1.85...
    """
    p = Path(root_or_file)
    if p.is_file():
        return [_read_discharge_csv(p)]
    if not p.is_dir():
        raise missing(p, "NASA PCoE discharge-curve folder or file", NASA_PCOE_URL)
    return [_read_discharge_csv(f) for f in _resolve_cell_files(p, cells, "discharge_curves", ".csv")]


# ---------------------------------------------------------------------------- summaries

# source column -> (output column, scale factor)
_SUMMARY_MAPS: dict[str, dict[str, tuple[str, float]]] = {
    "capacity": {
        "discharge": ("cycle_count", 1.0),
        "capacity": ("discharge_capacity_ah", 1.0),
        "soh": ("soh_percent", 1.0),
        "voltage": ("end_voltage_volt", 1.0),
        "temperature": ("temperature_max_celsius", 1.0),
        "time": ("discharge_time_second", 1.0),
    },
    "discharge_features": {
        "discharge": ("cycle_count", 1.0),
        "capacity": ("discharge_capacity_ah", 1.0),
        "soh": ("soh_percent", 1.0),
        "temperature": ("temperature_max_celsius", 1.0),
        "discharge_time": ("discharge_time_second", 1.0),
        "ic": ("ic_peak", 1.0),
    },
    "charge_features": {
        "charge": ("charge_index", 1.0),
        "temperature": ("temperature_max_celsius", 1.0),
        "charge_time": ("charge_time_second", 1.0),
    },
}


def _summary_kind_of(columns: pd.Index, path: Path) -> str:
    cols = set(map(str, columns))
    if "charge" in cols:
        return "charge_features"
    if "ic" in cols:
        return "discharge_features"
    if {"discharge", "capacity"} <= cols:
        return "capacity"
    raise SchemaError(
        f"not a NASA PCoE per-cycle summary: expected the columns of B000X_capacity.csv "
        f"(discharge, voltage, temperature, time, capacity, soh), B000X_discharge_features.csv or "
        f"B000X_charge_features.csv; got {sorted(cols)[:10]}",
        path=path,
    )


def _read_summary(path: Path, kind: str | None) -> pd.DataFrame:
    with unexpected_as_format_error(path, "a NASA PCoE per-cycle summary CSV"):
        return _parse_summary(path, kind)


def _parse_summary(path: Path, kind: str | None) -> pd.DataFrame:
    raw = read_csv_table(path)
    kind = kind or _summary_kind_of(raw.columns, path)
    mapping = _SUMMARY_MAPS[kind]
    require_columns(raw, mapping, path, f"a NASA PCoE {kind} summary")
    cell_id = sanitize_cell_id(path.name.split("_")[0].split(".")[0])
    out = pd.DataFrame({"cell_id": np.full(len(raw), cell_id, dtype=object)})
    for src, (dst, scale) in mapping.items():
        values = numeric_column(raw, src, path, allow_nan=dst not in ("cycle_count", "charge_index"))
        out[dst] = values * scale
    index_col = "charge_index" if kind == "charge_features" else "cycle_count"
    idx = out[index_col].to_numpy()
    frac = np.flatnonzero(idx != np.round(idx))
    if frac.size:
        raise DataFormatError(
            f"index must be an integer, got {idx[frac[0]]!r}", path=path, row=int(frac[0]),
            column="charge" if kind == "charge_features" else "discharge",
        )
    out[index_col] = out[index_col].astype(np.int64)
    if "soh_percent" in out.columns:
        out["capacity_retention"] = out["soh_percent"] / 100.0
    out.attrs["source"] = str(path)
    out.attrs["kind"] = kind
    return out


def load_nasa_pcoe_summary(
    root_or_file: str | os.PathLike[str],
    cells: Sequence[str] = NASA_PCOE_CELLS,
    *,
    kind: str = "capacity",
) -> pd.DataFrame:
    """Load the NASA PCoE per-cycle summary CSVs (one row per discharge or charge).

    Parameters
    ----------
    root_or_file
        A folder holding ``per_cycle_summary/B000X_<kind>.csv`` (or the files
        directly), or one such file (its kind is then detected from its
        columns and ``cells``/``kind`` are ignored).
    cells
        Cell names to load from a folder.
    kind
        ``"capacity"`` (``B000X_capacity.csv``), ``"discharge_features"`` or
        ``"charge_features"``.

    Returns
    -------
    pandas.DataFrame
        ``cell_id`` plus, for ``capacity``: ``cycle_count`` (discharge index,
        equal to ``cycle_idx`` of the curve files), ``discharge_capacity_ah``
        (Ah, NASA's ``Capacity``), ``soh_percent`` (%, capacity relative to
        the first discharge, as in the file), ``capacity_retention`` (same as
        a fraction), ``end_voltage_volt`` (V, last voltage of the record),
        ``temperature_max_celsius`` (°C), ``discharge_time_second`` (s).
        ``discharge_features`` has ``ic_peak`` (peak of an incremental-capacity
        curve, arbitrary units) instead of the voltage.
        ``charge_features`` has ``charge_index`` (charge count, **not** the
        discharge ``cycle_count``: B0005 has 170 charges for 168 discharges),
        ``temperature_max_celsius`` and ``charge_time_second``.

    Raises
    ------
    MissingFileError
        The folder or a file does not exist.
    DataFormatError
        A file lacks the expected columns or holds non-numeric values.
    """
    if kind not in _SUMMARY_MAPS:
        raise ValueError(f"kind must be one of {sorted(_SUMMARY_MAPS)}, got {kind!r}")
    p = Path(root_or_file)
    if p.is_file():
        return _read_summary(p, None)
    if not p.is_dir():
        raise missing(p, "NASA PCoE per-cycle summary folder or file", NASA_PCOE_URL)
    files = _resolve_cell_files(p, cells, "per_cycle_summary", f"_{kind}.csv")
    frames = [_read_summary(f, kind) for f in files]
    out = pd.concat(frames, ignore_index=True)
    out.attrs["kind"] = kind
    return out


# ---------------------------------------------------------------------------- original .mat


@dataclass(frozen=True, slots=True, eq=False)
class NasaPcoeMat:
    """Content of one original NASA PCoE ``B000X.mat`` file.

    Attributes
    ----------
    data
        Charge and discharge curves in the canonical schema (EIS records hold
        no V/I curve and are left out). Extra columns: ``record_index``
        (0-based position in ``B000X.cycle``), ``record_time_second`` (NASA
        ``Time``, s, restarting per record), ``instrument_current_ampere`` and
        ``instrument_voltage_volt`` (``Current_charge``/``Voltage_charge`` at
        the charger, or ``Current_load``/``Voltage_load`` at the load).
    capacity
        One row per discharge: ``cycle_count``, ``record_index``,
        ``test_time_second`` (start, s), ``ambient_temperature_celsius``,
        ``discharge_capacity_ah`` (NASA's ``Capacity`` field, Ah; NaN if
        absent) and ``coulomb_counted_capacity_ah`` (from the curve, Ah).
    impedance
        One row per EIS record: ``cycle_count`` (cycle in progress: number of
        discharges done + 1), ``record_index``, ``test_time_second`` (start, s),
        ``ambient_temperature_celsius``, ``electrolyte_resistance_ohm`` (``Re``)
        and ``charge_transfer_resistance_ohm`` (``Rct``).
    """

    data: CyclingData
    capacity: pd.DataFrame
    impedance: pd.DataFrame


def _mat_scalar(x: Any) -> float:
    arr = np.asarray(x).ravel()
    if arr.size == 0:
        return float("nan")
    return float(np.real(arr[0]))


def _mat_str(x: Any) -> str:
    arr = np.asarray(x).ravel()
    return str(arr[0]).strip() if arr.size else ""


def _mat_vector(data: np.void, names: tuple[str, ...], *candidates: str) -> npt.NDArray[np.float64] | None:
    for name in candidates:
        if name in names:
            return np.asarray(data[name], dtype=np.float64).ravel()
    return None


def _datevec_seconds(vec: Any, path: Path, k: int) -> float:
    """MATLAB date vector [Y M D h m s] -> seconds since 1970 (naive, no time zone)."""
    v = np.asarray(vec, dtype=np.float64).ravel()
    if v.size != 6 or not np.isfinite(v).all():
        raise DataFormatError(
            f"record {k}: 'time' must be a MATLAB date vector [Y M D h m s], got {v.tolist()}", path=path
        )
    try:
        start = _dt.datetime(int(v[0]), int(v[1]), int(v[2]), int(v[3]), int(v[4]), tzinfo=_dt.UTC)
    except ValueError as exc:
        raise DataFormatError(f"record {k}: invalid date vector {v.tolist()}", path=path) from exc
    return start.timestamp() + float(v[5])


def _load_mat_struct(path: Path) -> tuple[str, np.ndarray]:
    sio = import_scipy_io()
    try:
        # scipy's compiled reader can crash the interpreter on damaged files: check the structure first
        check_mat5(path)
        mat = sio.loadmat(path)
    except DataFormatError as exc:
        raise DataFormatError(
            f"{exc.message}; expected an original NASA PCoE B000X.mat (MATLAB v5)", path=path
        ) from exc
    except Exception as exc:
        raise DataFormatError(
            f"cannot read as a MATLAB .mat file ({type(exc).__name__}: {exc}); expected the original "
            "NASA PCoE B000X.mat", path=path,
        ) from exc
    keys = [k for k in mat if not k.startswith("__")]
    for key in keys:
        top = mat[key]
        if isinstance(top, np.ndarray) and top.dtype.names and "cycle" in top.dtype.names and top.size:
            cycles = np.asarray(top.ravel()[0]["cycle"]).ravel()
            return key, cycles
    raise SchemaError(
        f"no struct with a 'cycle' field (NASA layout B000X.cycle); variables in the file: {keys}",
        path=path,
    )


def _record_fields(rec: np.void, path: Path, k: int) -> tuple[str, float, float, np.void | None]:
    names = rec.dtype.names or ()
    for need in ("type", "time", "data"):
        if need not in names:
            raise SchemaError(f"record {k} lacks the field {need!r} (have {list(names)})", path=path)
    kind = _mat_str(rec["type"]).lower()
    ambient = _mat_scalar(rec["ambient_temperature"]) if "ambient_temperature" in names else float("nan")
    start = _datevec_seconds(rec["time"], path, k)
    data_arr = np.asarray(rec["data"]).ravel()
    data = data_arr[0] if data_arr.size and data_arr.dtype.names else None
    return kind, ambient, start, data


def _eis_fit(data: np.void | None) -> tuple[float, float]:
    """``Re`` and ``Rct`` (Ω) of an impedance record; NaN where absent."""
    names = (data.dtype.names or ()) if data is not None else ()
    re_ohm = _mat_scalar(data["Re"]) if data is not None and "Re" in names else float("nan")
    rct_ohm = _mat_scalar(data["Rct"]) if data is not None and "Rct" in names else float("nan")
    return re_ohm, rct_ohm


def _curve_frame(data: np.void, kind: str, path: Path, k: int) -> pd.DataFrame:
    names = data.dtype.names or ()
    cols = {
        "voltage_volt": _mat_vector(data, names, "Voltage_measured"),
        "current_ampere": _mat_vector(data, names, "Current_measured"),
        "temperature_celsius": _mat_vector(data, names, "Temperature_measured"),
        "record_time_second": _mat_vector(data, names, "Time"),
        "instrument_current_ampere": _mat_vector(data, names, "Current_charge", "Current_load"),
        "instrument_voltage_volt": _mat_vector(data, names, "Voltage_charge", "Voltage_load"),
    }
    for need in ("voltage_volt", "current_ampere", "record_time_second"):
        if cols[need] is None:
            src = {"voltage_volt": "Voltage_measured", "current_ampere": "Current_measured",
                   "record_time_second": "Time"}[need]
            raise SchemaError(f"{kind} record {k} lacks data.{src} (have {list(names)})", path=path, column=src)
    n = cols["record_time_second"].shape[0]  # type: ignore[union-attr]
    out = {}
    for name, values in cols.items():
        if values is None:
            values = np.full(n, np.nan)
        if values.shape[0] != n:
            raise DataFormatError(
                f"{kind} record {k}: data arrays differ in length ({name}: {values.shape[0]}, Time: {n})",
                path=path,
            )
        out[name] = values
    return pd.DataFrame(out)


def _place_records(frames: list[pd.DataFrame], starts: list[float]) -> int:
    """Set test_time_second from record start dates; shift overlapping records. Returns shifts."""
    t0 = starts[0] if starts else 0.0
    last_end = -np.inf
    shifted = 0
    for frame, start in zip(frames, starts, strict=True):
        rel = frame["record_time_second"].to_numpy(dtype=np.float64)
        rel = rel - (rel[0] if rel.size else 0.0)
        t = (start - t0) + rel
        if t.size and t[0] <= last_end:
            steps = np.diff(rel)
            gap = float(np.median(steps[steps > 0])) if (steps > 0).any() else 1.0
            t = t + (last_end + gap - t[0])
            shifted += 1
        frame["test_time_second"] = t
        if t.size:
            last_end = float(t[-1])
    return shifted


def load_nasa_pcoe_mat(path: str | os.PathLike[str], *, validate: bool = True) -> NasaPcoeMat:
    """Load an original NASA PCoE ``B000X.mat`` file (MATLAB v5 struct) with scipy.

    The file holds ``B000X.cycle``, a struct array of records with ``type``
    (``"charge"``, ``"discharge"`` or ``"impedance"``), ``ambient_temperature``
    (°C), ``time`` (start as a MATLAB date vector) and ``data``: for charge and
    discharge ``Voltage_measured`` (V), ``Current_measured`` (A, negative =
    discharge), ``Temperature_measured`` (°C), ``Current_charge``/
    ``Voltage_charge`` or ``Current_load``/``Voltage_load``, ``Time`` (s since
    the record start) and, for discharges, ``Capacity`` (Ah); for impedance
    ``Re`` and ``Rct`` (Ω) among the spectra.

    Parameters
    ----------
    path
        The ``.mat`` file.
    validate
        Validate the curves (:func:`~voltlab.data.validation.validate_timeseries`).

    Returns
    -------
    NasaPcoeMat
        Curves (charge and discharge, ``test_time_second`` from the record
        start dates, capacities Coulomb-counted within each cycle; a cycle is
        the charge(s) before a discharge plus that discharge), NASA's
        per-discharge capacity, and the EIS fit results.

    Raises
    ------
    MissingFileError
        ``path`` does not exist (the message says where to download it).
    DataFormatError
        The file is not a NASA PCoE v5 .mat file or its records are malformed.
    """
    p = Path(path)
    if not p.is_file():
        raise missing(p, "NASA PCoE .mat file", NASA_PCOE_URL)
    with unexpected_as_format_error(p, "a NASA PCoE B000X.mat file"):
        return _parse_mat(p, validate)


def _parse_mat(p: Path, validate: bool) -> NasaPcoeMat:
    var_name, records = _load_mat_struct(p)
    frames: list[pd.DataFrame] = []
    starts: list[float] = []
    cap_rows: list[dict[str, Any]] = []
    eis_rows: list[dict[str, Any]] = []
    eis_starts: list[float] = []
    cycle = 1
    for k, rec in enumerate(records):
        if not isinstance(rec, np.void) or rec.dtype.names is None:
            raise SchemaError(f"record {k} of {var_name}.cycle is not a struct", path=p)
        kind, ambient, start, data = _record_fields(rec, p, k)
        if kind == "impedance":
            re_ohm, rct_ohm = _eis_fit(data)
            eis_rows.append({
                "cycle_count": cycle, "record_index": k, "ambient_temperature_celsius": ambient,
                "electrolyte_resistance_ohm": re_ohm, "charge_transfer_resistance_ohm": rct_ohm,
            })
            eis_starts.append(start)
            continue
        if kind not in ("charge", "discharge"):
            raise DataFormatError(
                f"record {k}: unknown type {kind!r} (accepted: charge, discharge, impedance)", path=p
            )
        if data is None:
            raise SchemaError(f"{kind} record {k} has no data struct", path=p)
        frame = _curve_frame(data, kind, p, k)
        frame["cycle_count"] = cycle
        frame["step_index"] = 1 if kind == "charge" else 2
        frame["record_index"] = k
        frame["ambient_temperature_celsius"] = ambient
        frames.append(frame)
        starts.append(start)
        if kind == "discharge":
            names = data.dtype.names or ()
            cap_rows.append({
                "cycle_count": cycle, "record_index": k, "ambient_temperature_celsius": ambient,
                "discharge_capacity_ah": _mat_scalar(data["Capacity"]) if "Capacity" in names else np.nan,
                "_frame": len(frames) - 1,
            })
            cycle += 1
    if not frames:
        raise DataFormatError(f"{var_name}.cycle holds no charge or discharge record", path=p)
    shifted = _place_records(frames, starts)
    ts_raw = pd.concat(frames, ignore_index=True)
    t = ts_raw["test_time_second"].to_numpy()
    cyc = ts_raw["cycle_count"].to_numpy()
    i = ts_raw["current_ampere"].to_numpy()
    rec = ts_raw["record_index"].to_numpy()
    ts_raw["charging_capacity_ah"] = coulomb_count_within_cycle(i, t, cyc, direction=1, record=rec)
    ts_raw["discharging_capacity_ah"] = coulomb_count_within_cycle(i, t, cyc, direction=-1, record=rec)
    ts = finalize_timeseries(ts_raw, path=p, nominal_capacity_ah=_NOMINAL_AH, validate=validate)

    capacity = _capacity_table(cap_rows, frames, ts)
    t0 = starts[0]
    impedance = pd.DataFrame(
        eis_rows,
        columns=["cycle_count", "record_index", "ambient_temperature_celsius",
                 "electrolyte_resistance_ohm", "charge_transfer_resistance_ohm"],
    )
    impedance.insert(2, "test_time_second", np.asarray(eis_starts, dtype=np.float64) - t0)

    cell_id = sanitize_cell_id(var_name)
    fields = _cell_metadata_fields(cell_id)
    fields["extra"].update({
        "mat_variable": var_name,
        "start_time": _dt.datetime.fromtimestamp(t0, tz=_dt.UTC).replace(tzinfo=None).isoformat(),
        "records_shifted_for_overlap": shifted,
        "n_impedance_records": len(eis_rows),
    })
    meta = CellMetadata(
        cell_id=cell_id, source=str(p), source_format=_MAT_FORMAT, content_sha256=file_sha256(p), **fields
    )
    return NasaPcoeMat(data=CyclingData(timeseries=ts, metadata=meta), capacity=capacity, impedance=impedance)


def _capacity_table(cap_rows: list[dict[str, Any]], frames: list[pd.DataFrame], ts: pd.DataFrame) -> pd.DataFrame:
    # Charge passed during the discharge record itself (the counter runs over the whole cycle).
    by_record = ts.groupby("record_index", sort=False)["discharging_capacity_ah"]
    counted = by_record.max() - by_record.min()
    rows = []
    for row in cap_rows:
        frame = frames[row.pop("_frame")]
        row["test_time_second"] = float(frame["test_time_second"].iloc[0]) if len(frame) else np.nan
        row["coulomb_counted_capacity_ah"] = float(counted.get(row["record_index"], np.nan))
        rows.append(row)
    cols = ["cycle_count", "record_index", "test_time_second", "ambient_temperature_celsius",
            "discharge_capacity_ah", "coulomb_counted_capacity_ah"]
    return pd.DataFrame(rows, columns=cols)
